"""The built-in survey templates, with their texts in English, Traditional and Simplified Chinese.

Plain data; `rapport.surveys.actions.create_survey_from_template` turns one into a survey. Each
question's `role` tells rapport.surveys.scoring what it measures.

The engagement items are our own wording of the four attachment dimensions (confidence,
integrity, pride, passion); they deliberately do not reuse Gallup's licensed CE11 items.
"""

from __future__ import annotations

from typing import Any

from rapport.surveys import questions as q


def t(en: str, hant: str, hans: str) -> dict[str, str]:
    return {"en": en, "zh-hant": hant, "zh-hans": hans}


AGREEMENT_POINTS = [
    {"value": "1", "labels": t("Strongly disagree", "非常不同意", "非常不同意")},
    {"value": "2", "labels": t("Disagree", "不同意", "不同意")},
    {"value": "3", "labels": t("Neither agree nor disagree", "普通", "一般")},
    {"value": "4", "labels": t("Agree", "同意", "同意")},
    {"value": "5", "labels": t("Strongly agree", "非常同意", "非常同意")},
]
NPS_LOW = t("Not at all likely", "完全不可能", "完全不可能")
NPS_HIGH = t("Extremely likely", "非常可能", "非常可能")
SAT_LOW = t("Very dissatisfied", "非常不滿意", "非常不满意")
SAT_HIGH = t("Very satisfied", "非常滿意", "非常满意")
DISAGREE = t("Strongly disagree", "非常不同意", "非常不同意")
AGREE = t("Strongly agree", "非常同意", "非常同意")
POOR = t("Poor", "非常差", "非常差")
OUTSTANDING = t("Outstanding", "非常好", "非常好")


def nps_question(key: str, texts: dict[str, str], page: int = 1) -> dict[str, Any]:
    return {
        "key": key,
        "type": q.NPS,
        "texts": texts,
        "role": "nps",
        "page": page,
        "low_labels": NPS_LOW,
        "high_labels": NPS_HIGH,
    }


def agreement(key: str, texts: dict[str, str], role: str, page: int) -> dict[str, Any]:
    return {
        "key": key,
        "type": q.AGREEMENT,
        "texts": texts,
        "role": role,
        "page": page,
        "options": AGREEMENT_POINTS,
    }


def rating(
    key: str,
    texts: dict[str, str],
    role: str,
    page: int,
    high: int = 5,
    low_labels: dict[str, str] = SAT_LOW,
    high_labels: dict[str, str] = SAT_HIGH,
) -> dict[str, Any]:
    return {
        "key": key,
        "type": q.RATING,
        "texts": texts,
        "role": role,
        "page": page,
        "scale_min": 1,
        "scale_max": high,
        "low_labels": low_labels,
        "high_labels": high_labels,
    }


def open_text(key: str, texts: dict[str, str], page: int, **extra: Any) -> dict[str, Any]:
    return {"key": key, "type": q.TEXT, "texts": texts, "required": False, "page": page, **extra}


ENGAGEMENT: dict[str, Any] = {
    "title": t("How do you feel about us?", "您對我們的感受", "您对我们的感受"),
    "intro": t(
        "Eleven short statements, about two minutes. There are no right or wrong answers.",
        "共十一個簡短問題，約需兩分鐘。答案沒有對錯之分。",
        "共十一个简短问题，约需两分钟。答案没有对错之分。",
    ),
    "thank_you": t(
        "Thank you. Your answers help us earn your trust.",
        "謝謝您！您的回答能幫助我們贏得您的信任。",
        "谢谢您！您的回答能帮助我们赢得您的信任。",
    ),
    "questions": [
        rating(
            "satisfaction",
            t(
                "Overall, how satisfied are you with this company?",
                "整體而言，您對這家公司滿意嗎？",
                "总体而言，您对这家公司满意吗？",
            ),
            "eng.satisfaction",
            1,
        ),
        agreement(
            "continue",
            t(
                "I expect to keep choosing this company in the future.",
                "我預期未來會繼續選擇這家公司。",
                "我预期将来会继续选择这家公司。",
            ),
            "eng.continue",
            1,
        ),
        agreement(
            "recommend",
            t(
                "I would gladly recommend this company to friends and family.",
                "我樂意向親友推薦這家公司。",
                "我乐意向亲友推荐这家公司。",
            ),
            "eng.recommend",
            1,
        ),
        agreement(
            "confidence_1",
            t(
                "When this company tells me something, I believe it.",
                "這家公司告訴我的事，我都相信。",
                "这家公司告诉我的事，我都相信。",
            ),
            "eng.confidence",
            2,
        ),
        agreement(
            "confidence_2",
            t(
                "I rely on this company to get things right for me.",
                "我放心把事情交給這家公司處理。",
                "我放心把事情交给这家公司处理。",
            ),
            "eng.confidence",
            2,
        ),
        agreement(
            "integrity_1",
            t(
                "This company deals with me honestly, even when that costs it something.",
                "即使對自己不利，這家公司也會誠實對待我。",
                "即使对自己不利，这家公司也会诚实对待我。",
            ),
            "eng.integrity",
            2,
        ),
        agreement(
            "integrity_2",
            t(
                "When something goes wrong, this company puts it right without my having to fight.",
                "出了問題時，這家公司會主動妥善處理，不必我據理力爭。",
                "出了问题时，这家公司会主动妥善处理，不用我据理力争。",
            ),
            "eng.integrity",
            2,
        ),
        agreement(
            "pride_1",
            t(
                "I am glad to let people know I am a customer of this company.",
                "我樂於讓別人知道我是這家公司的顧客。",
                "我乐于让别人知道我是这家公司的顾客。",
            ),
            "eng.pride",
            3,
        ),
        agreement(
            "pride_2",
            t(
                "The people here make me feel valued as a person, not just as a sale.",
                "這裡的員工讓我覺得自己受到重視，而不只是一筆生意。",
                "这里的员工让我觉得自己受到重视，而不只是一笔生意。",
            ),
            "eng.pride",
            3,
        ),
        agreement(
            "passion_1",
            t(
                "This company suits me better than any other I could choose.",
                "在所有選擇之中，這家公司最適合我。",
                "在所有选择之中，这家公司最适合我。",
            ),
            "eng.passion",
            3,
        ),
        agreement(
            "passion_2",
            t(
                "I would truly miss this company if it were gone.",
                "如果這家公司不在了，我會真心懷念它。",
                "如果这家公司不在了，我会真心怀念它。",
            ),
            "eng.passion",
            3,
        ),
        open_text(
            "comment",
            t(
                "Is there anything else you would like to tell us?",
                "還有什麼想告訴我們的嗎？",
                "还有什么想告诉我们的吗？",
            ),
            3,
        ),
    ],
}

NPS: dict[str, Any] = {
    "title": t("Would you recommend us?", "您會推薦我們嗎？", "您会推荐我们吗？"),
    "intro": t("Two quick questions.", "只有兩個簡短的問題。", "只有两个简短的问题。"),
    "thank_you": t("Thank you for your feedback.", "感謝您的寶貴意見！", "感谢您的宝贵意见！"),
    "questions": [
        nps_question(
            "recommend",
            t(
                "How likely are you to recommend us to a friend or colleague?",
                "您有多大可能向親友或同事推薦我們？",
                "您有多大可能向亲友或同事推荐我们？",
            ),
        ),
        open_text(
            "why",
            t(
                "What is the main reason for your score?",
                "您給這個分數的主要原因是什麼？",
                "您给出这个分数的主要原因是什么？",
            ),
            2,
        ),
        open_text(
            "improve",
            t(
                "What one thing could we do better?",
                "我們最需要改進的一件事是什麼？",
                "我们最需要改进的一件事是什么？",
            ),
            2,
            condition={"question": "recommend", "op": "lte", "value": 8},
        ),
    ],
}

CSAT: dict[str, Any] = {
    "title": t("How did we do?", "我們做得如何？", "我们做得如何？"),
    "intro": t(
        "One question, ten seconds.", "只有一個問題，十秒完成。", "只有一个问题，十秒完成。"
    ),
    "thank_you": t("Thank you!", "謝謝您！", "谢谢您！"),
    "questions": [
        rating(
            "satisfaction",
            t(
                "How satisfied were you with your recent experience with us?",
                "您對最近一次與我們接觸的體驗滿意嗎？",
                "您对最近一次与我们接触的体验满意吗？",
            ),
            "csat",
            1,
        ),
        open_text(
            "went_wrong",
            t(
                "We are sorry. What went wrong?",
                "很抱歉，請問哪裡讓您不滿意？",
                "很抱歉，请问哪里让您不满意？",
            ),
            2,
            condition={"question": "satisfaction", "op": "lte", "value": 3},
        ),
        open_text(
            "comment",
            t(
                "Anything else you would like to tell us?",
                "還有什麼想告訴我們的嗎？",
                "还有什么想告诉我们的吗？",
            ),
            2,
        ),
    ],
}

CES: dict[str, Any] = {
    "title": t("How easy was it?", "過程輕鬆嗎？", "过程轻松吗？"),
    "intro": t(
        "One question about your recent request.",
        "關於您最近的需求，只有一個問題。",
        "关于您最近的需求，只有一个问题。",
    ),
    "thank_you": t("Thank you!", "謝謝您！", "谢谢您！"),
    "questions": [
        rating(
            "effort",
            t(
                "How much do you agree: “The company made it easy for me to handle my issue.”",
                "您是否同意：「這家公司讓我很輕鬆地解決了我的問題。」",
                "您是否同意：“这家公司让我很轻松地解决了我的问题。”",
            ),
            "ces",
            1,
            high=7,
            low_labels=DISAGREE,
            high_labels=AGREE,
        ),
        open_text(
            "harder",
            t(
                "What made it harder than it should have been?",
                "有哪些地方讓過程變得比應有的更麻煩？",
                "有哪些地方让过程变得比应有的更麻烦？",
            ),
            2,
            condition={"question": "effort", "op": "lte", "value": 4},
        ),
    ],
}


def csi_item(factor: str, n: int, texts: dict[str, str], page: int) -> dict[str, Any]:
    return rating(
        f"{factor}_{n}", texts, f"csi.{factor}", page, 10, low_labels=POOR, high_labels=OUTSTANDING
    )


CSI: dict[str, Any] = {
    "title": t("Your recent service visit", "您最近一次的回廠保養維修", "您最近一次的回店保养维修"),
    "intro": t(
        "Please rate each part of your visit from 1 (poor) to 10 (outstanding). "
        "About three minutes.",
        "請就這次回廠的各個環節評分，1 分代表非常差，10 分代表非常好。約需三分鐘。",
        "请就这次回店的各个环节评分，1 分代表非常差，10 分代表非常好。约需三分钟。",
    ),
    "thank_you": t(
        "Thank you. Your service team will read every answer.",
        "謝謝您！服務團隊會仔細閱讀每一份回覆。",
        "谢谢您！服务团队会认真阅读每一份回复。",
    ),
    "questions": [
        csi_item(
            "service_initiation",
            1,
            t(
                "Ease of booking your service appointment",
                "預約保養維修的便利程度",
                "预约保养维修的便利程度",
            ),
            1,
        ),
        csi_item(
            "service_initiation",
            2,
            t(
                "Getting an appointment at a time that suited you",
                "能預約到您方便的時段",
                "能预约到您方便的时段",
            ),
            1,
        ),
        csi_item(
            "service_initiation",
            3,
            t(
                "How promptly you were greeted when you arrived",
                "抵達時接待人員招呼您的及時程度",
                "到店时接待人员招呼您的及时程度",
            ),
            1,
        ),
        csi_item(
            "service_advisor",
            1,
            t("Courtesy of your service advisor", "服務顧問的禮貌與態度", "服务顾问的礼貌与态度"),
            2,
        ),
        csi_item(
            "service_advisor",
            2,
            t(
                "How well your advisor understood what you needed",
                "服務顧問了解您需求的程度",
                "服务顾问了解您需求的程度",
            ),
            2,
        ),
        csi_item(
            "service_advisor",
            3,
            t(
                "How clearly the work and its cost were explained before it began",
                "施工前對維修項目與費用說明的清楚程度",
                "施工前对维修项目与费用说明的清楚程度",
            ),
            2,
        ),
        csi_item(
            "service_advisor",
            4,
            t(
                "Keeping you informed while your vehicle was being serviced",
                "維修期間主動告知進度的程度",
                "维修期间主动告知进度的程度",
            ),
            2,
        ),
        csi_item(
            "service_facility",
            1,
            t(
                "Ease of parking and finding your way",
                "停車與廠區動線的便利程度",
                "停车与店内动线的便利程度",
            ),
            3,
        ),
        csi_item(
            "service_facility",
            2,
            t("Cleanliness of the dealership", "服務廠的整潔程度", "服务店的整洁程度"),
            3,
        ),
        csi_item(
            "service_facility",
            3,
            t("Comfort of the waiting area", "顧客休息區的舒適程度", "顾客休息区的舒适程度"),
            3,
        ),
        csi_item(
            "vehicle_pickup",
            1,
            t(
                "Your vehicle was ready when promised",
                "車輛在承諾的時間完成交車",
                "车辆在承诺的时间完成交车",
            ),
            4,
        ),
        csi_item(
            "vehicle_pickup",
            2,
            t("Fairness of the charges", "收費的合理程度", "收费的合理程度"),
            4,
        ),
        csi_item(
            "vehicle_pickup",
            3,
            t(
                "Explanation of the work done when you collected your vehicle",
                "交車時對完成項目的說明",
                "交车时对完成项目的说明",
            ),
            4,
        ),
        csi_item(
            "vehicle_pickup",
            4,
            t(
                "Cleanliness of your vehicle when it was returned",
                "交車時車輛的整潔狀況",
                "交车时车辆的整洁状况",
            ),
            4,
        ),
        csi_item(
            "service_quality",
            1,
            t("The work was done right the first time", "一次就把問題處理好", "一次就把问题处理好"),
            5,
        ),
        csi_item(
            "service_quality",
            2,
            t("Thoroughness of the work", "保養維修工作的細緻程度", "保养维修工作的细致程度"),
            5,
        ),
        csi_item(
            "service_quality",
            3,
            t("Overall quality of the service", "整體保養維修品質", "整体保养维修质量"),
            5,
        ),
        {
            "key": "return",
            "type": q.YES_NO,
            "texts": t(
                "Will you come back to us for your next service?",
                "下次保養維修，您還會選擇我們嗎？",
                "下次保养维修，您还会选择我们吗？",
            ),
            "role": "csi.return",
            "page": 6,
        },
        open_text(
            "comment",
            t(
                "Is there anything we should do differently next time?",
                "下次有什麼地方是我們應該改進的嗎？",
                "下次有什么地方是我们应该改进的吗？",
            ),
            6,
        ),
    ],
}

EMPLOYEE_PULSE: dict[str, Any] = {
    "title": t("Team pulse", "團隊脈動調查", "团队脉动调查"),
    "intro": t(
        "Anonymous: we do not record who you are. Two minutes.",
        "本調查為匿名，我們不會記錄您的身分。約需兩分鐘。",
        "本调查为匿名，我们不会记录您的身份。约需两分钟。",
    ),
    "thank_you": t("Thank you for your honesty.", "感謝您坦誠的回答。", "感谢您坦诚的回答。"),
    "questions": [
        nps_question(
            "enps",
            t(
                "How likely are you to recommend this company to a friend as a place to work?",
                "您有多大可能向朋友推薦本公司作為工作的地方？",
                "您有多大可能向朋友推荐本公司作为工作的地方？",
            ),
        ),
        agreement(
            "expectations",
            t(
                "I know what is expected of me at work.",
                "我清楚知道工作上對我的期望。",
                "我清楚知道工作上对我的期望。",
            ),
            "pulse.clarity",
            2,
        ),
        agreement(
            "resources",
            t(
                "I have what I need to serve customers well.",
                "我擁有把顧客服務好所需的資源與工具。",
                "我拥有把顾客服务好所需的资源与工具。",
            ),
            "pulse.resources",
            2,
        ),
        agreement(
            "listened",
            t(
                "My manager listens to my ideas.",
                "我的主管會傾聽我的想法。",
                "我的主管会倾听我的想法。",
            ),
            "pulse.voice",
            2,
        ),
        agreement(
            "pride",
            t(
                "I am proud of the service my team gives customers.",
                "我以團隊為顧客提供的服務為榮。",
                "我以团队为顾客提供的服务为荣。",
            ),
            "pulse.pride",
            2,
        ),
        open_text(
            "change",
            t(
                "What one change would make your work better?",
                "有哪一項改變最能讓您的工作變得更好？",
                "有哪一项改变最能让您的工作变得更好？",
            ),
            2,
        ),
    ],
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "engagement": ENGAGEMENT,
    "nps": NPS,
    "csat": CSAT,
    "ces": CES,
    "csi": CSI,
    "employee_pulse": EMPLOYEE_PULSE,
}
ANONYMOUS_KINDS = frozenset({"employee_pulse"})
