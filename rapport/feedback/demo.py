"""Demo feedback: trilingual unsolicited feedback for the demo company, and one campaign with a
hold-out control group and its sent / response touchpoints.

Call after the demo's customers and touchpoints are loaded (inside `load_demo`'s transaction is
fine):

    from rapport.feedback.demo import load_feedback
    summary = load_feedback(seed=seed, as_of=as_of)

Deterministic for a seed and a database. Items go through rapport.feedback.actions (real
analysis, real labels); no case is opened from them (the demo's cases are loaded on their own).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from rapport.customers.models import Customer
from rapport.feedback import actions, campaigns
from rapport.feedback.models import Campaign, CampaignMember, FeedbackItem, Theme
from rapport.feedback.records import FeedbackInput
from rapport.org.models import OrgUnit

SOURCE = "demo"
DAYS = 120
MAX_ITEMS = 900

# (cause or "", sentiment) → texts in English, Traditional and Simplified Chinese.
TEXTS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    ("price", "negative"): (
        (
            "The service bill was far higher than the quote. Too expensive for an oil change.",
            "Parts prices went up again; the dealer down the road charges much less.",
        ),
        ("保養費用比報價高太多了,換個機油也太貴。", "零件又漲價了,收費實在不合理。"),
        ("保养费用比报价高太多了,换个机油也太贵。", "零件又涨价了,收费实在不合理。"),
    ),
    ("inconvenience", "negative"): (
        (
            "I waited 40 minutes at reception even with an appointment. Parking was full again.",
            "Booking online kept failing and nobody called back to confirm the time.",
        ),
        ("明明有預約還在櫃台等了四十分鐘,停車位又滿了。", "線上預約一直失敗,也沒人回電確認時間。"),
        ("明明有预约还在柜台等了四十分钟,停车位又满了。", "线上预约一直失败,也没人回电确认时间。"),
    ),
    ("core_failure", "negative"): (
        (
            "Third visit for the same brake noise and it is still not fixed.",
            "The air conditioning broke again a week after the repair.",
        ),
        ("同一個煞車異音已經第三次回廠,還是沒修好。", "冷氣修好不到一週又壞了。"),
        ("同一个刹车异响已经第三次回厂,还是没修好。", "空调修好不到一周又坏了。"),
    ),
    ("service_encounter", "negative"): (
        (
            "The advisor was rude and did not listen to what I described.",
            "Staff ignored me at the counter and chatted with each other.",
        ),
        ("服務顧問態度很差,完全不聽我說明問題。", "櫃台人員不理人,只顧著聊天。"),
        ("服务顾问态度很差,完全不听我说明问题。", "柜台人员不理人,只顾着聊天。"),
    ),
    ("response_failure", "negative"): (
        (
            "I complained twice by email and never got an answer.",
            "When I reported the problem they said it was my fault for driving badly.",
        ),
        ("寄了兩次客訴信都沒有回覆。", "反映問題時竟然說是我開車習慣不好造成的。"),
        ("寄了两次投诉信都没有回复。", "反映问题时竟然说是我开车习惯不好造成的。"),
    ),
    ("competition", "negative"): (
        (
            "Another brand offers three years of free maintenance; I am thinking of switching.",
            "A competitor gave a much better trade-in price.",
        ),
        ("別家品牌送三年免費保養,我在考慮換車。", "競爭對手的舊車折價高很多。"),
        ("别家品牌送三年免费保养,我在考虑换车。", "竞争对手的旧车折价高很多。"),
    ),
    ("ethics", "negative"): (
        (
            "They charged me for parts that were never replaced. This is dishonest.",
            "The salesman hid the real interest rate of the loan.",
        ),
        ("收了沒有更換的零件費用,根本是欺騙。", "業務隱瞞了貸款的真實利率。"),
        ("收了没有更换的零件费用,根本是欺骗。", "业务隐瞒了贷款的真实利率。"),
    ),
    ("involuntary", "negative"): (
        (
            "I am moving abroad next month, so I have to sell the car.",
            "After losing my job I cannot keep up the instalments.",
        ),
        ("下個月要搬到國外,只好把車賣了。", "失業後繳不出分期款了。"),
        ("下个月要搬到国外,只好把车卖了。", "失业后缴不出分期款了。"),
    ),
    ("", "positive"): (
        (
            "Excellent service, the advisor explained everything clearly. Thank you!",
            "Quick and friendly, the car was ready earlier than promised.",
            "Very happy with the winter check offer, great value.",
        ),
        (
            "服務非常好,顧問解說清楚,謝謝!",
            "又快又親切,車子比預定時間還早好。",
            "冬季健檢優惠很划算,很滿意。",
        ),
        (
            "服务非常好,顾问解说清楚,谢谢!",
            "又快又亲切,车子比预定时间还早好。",
            "冬季检查优惠很划算,很满意。",
        ),
    ),
    ("", "neutral"): (
        ("Could you tell me when the next service is due?", "Please send the invoice by email."),
        ("請問下次保養是什麼時候?", "請把發票寄到我的信箱。"),
        ("请问下次保养是什么时候?", "请把发票寄到我的邮箱。"),
    ),
}
WEIGHTS = {
    ("price", "negative"): 10,
    ("inconvenience", "negative"): 12,
    ("core_failure", "negative"): 8,
    ("service_encounter", "negative"): 8,
    ("response_failure", "negative"): 6,
    ("competition", "negative"): 4,
    ("ethics", "negative"): 2,
    ("involuntary", "negative"): 2,
    ("", "positive"): 30,
    ("", "neutral"): 18,
}
CHANNELS = (
    ("form", 3),
    ("widget", 2),
    ("email", 3),
    ("call", 3),
    ("chat", 2),
    ("review", 2),
    ("app_store", 1),
)
CAMPAIGN_KEY = "winter-check"


@dataclass
class FeedbackSummary:
    items: int = 0
    campaign_members: int = 0
    control: int = 0
    responses: int = 0


def _themes() -> None:
    if Theme.objects.exists():
        return
    Theme.objects.bulk_create(
        [
            Theme(
                key="waiting-time",
                name="Waiting time",
                keywords=["wait", "waited", "等", "排隊", "排队"],
                examples=["I waited 40 minutes at reception", "等了四十分鐘"],
            ),
            Theme(
                key="parking",
                name="Parking",
                keywords=["parking", "停車", "停车"],
                examples=["Parking was full again"],
            ),
        ]
    )


def load_feedback(seed: int, as_of: dt.date) -> FeedbackSummary:
    rng = random.Random(f"feedback-{seed}")
    summary = FeedbackSummary()
    _themes()
    customers = list(
        Customer.objects.filter(merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", "home_unit_id", "preferred_language")[:20000]
    )
    units = list(OrgUnit.objects.filter(kind="branch").values_list("pk", flat=True))
    end = dt.datetime.combine(as_of, dt.time(18), tzinfo=dt.UTC)
    campaign = _campaign(as_of, seed)
    count = min(MAX_ITEMS, max(60, len(customers) // 4))
    keys = list(WEIGHTS)
    weights = [WEIGHTS[k] for k in keys]
    channel_names = [c for c, _w in CHANNELS]
    channel_weights = [w for _c, w in CHANNELS]
    items = []
    for n in range(count):
        cause, sentiment = rng.choices(keys, weights)[0]
        known = customers and rng.random() < 0.75
        customer_id, unit_id, lang = rng.choice(customers) if known else (None, None, "")
        language_index = {"en": 0, "zh-hant": 1, "zh-hans": 2}.get(
            (lang or "").lower(), rng.choice((0, 1, 1, 2))
        )
        text = rng.choice(TEXTS[(cause, sentiment)][language_index])
        channel = rng.choices(channel_names, channel_weights)[0]
        at = end - dt.timedelta(days=rng.random() * DAYS, minutes=rng.randrange(600))
        in_campaign = campaign and campaign.starts_on <= at.date() <= campaign.ends_on
        items.append(
            FeedbackInput(
                text=text,
                channel=channel,
                received_at=at,
                external_id=f"demo-{seed}-{n}",
                customer_id=customer_id,
                unit_id=unit_id or (rng.choice(units) if units else None),
                author_name="" if customer_id else rng.choice(("", "Guest", "訪客", "访客")),
                rating=rng.choice((1, 2))
                if sentiment == "negative" and channel in ("review", "app_store")
                else (rng.choice((4, 5)) if channel in ("review", "app_store") else None),
                campaign_key=CAMPAIGN_KEY if in_campaign and rng.random() < 0.3 else "",
            )
        )
    for start in range(0, len(items), 500):
        done = actions.record_feedback(items[start : start + 500], source=SOURCE, open_cases=False)
        summary.items += sum(d.status == "created" for d in done)
    if campaign is not None:
        summary.campaign_members, summary.control, summary.responses = _campaign_touchpoints(
            campaign, rng
        )
    return summary


def _campaign(as_of: dt.date, seed: int) -> Campaign | None:
    campaign = Campaign.objects.filter(key=CAMPAIGN_KEY).first()
    if campaign is not None:
        return campaign
    if not Customer.objects.exists():
        return None
    return Campaign.objects.create(
        key=CAMPAIGN_KEY,
        name="Winter check 冬季健檢",
        offer="Free 20-point winter check and 15% off batteries / 免費 20 項冬季健檢,電瓶 85 折",
        starts_on=as_of - dt.timedelta(days=60),
        ends_on=as_of - dt.timedelta(days=30),
        response_days=14,
        control_share=0.2,
        seed=seed,
    )


def _campaign_touchpoints(campaign: Campaign, rng: random.Random) -> tuple[int, int, int]:
    """Members drawn at random with the campaign's seed; sends to the treatment group, and
    responses: 14 % of those reached, 5 % of the control group (who hear of it anyway)."""
    from rapport.customers.ingest import source_for
    from rapport.touchpoints.models import Touchpoint

    if not CampaignMember.objects.filter(campaign=campaign).exists():
        campaigns.draw_members(campaign)
    source, _created = source_for("marketing")
    start, _end = campaigns.window(campaign)
    days = (campaign.ends_on - campaign.starts_on).days + 1
    rows = []
    members = list(
        CampaignMember.objects.filter(campaign=campaign)
        .order_by("customer_id")
        .values_list("customer_id", "group")
    )
    responses = 0
    for customer_id, group in members:
        sent_at = start + dt.timedelta(days=rng.randrange(3), hours=9)
        if group == "treatment":
            rows.append(
                Touchpoint(
                    customer_id=customer_id,
                    occurred_at=sent_at,
                    kind="campaign_sent",
                    channel="email",
                    source=source,
                    external_id=f"{campaign.key}-sent-{customer_id}",
                    context={"campaign": campaign.key},
                )
            )
        if rng.random() < (0.14 if group == "treatment" else 0.05):
            responses += 1
            rows.append(
                Touchpoint(
                    customer_id=customer_id,
                    occurred_at=start + dt.timedelta(days=rng.randrange(days), hours=11),
                    kind="campaign_response",
                    channel="branch",
                    source=source,
                    external_id=f"{campaign.key}-response-{customer_id}",
                    context={"campaign": campaign.key, "offer": "winter_check"},
                )
            )
    Touchpoint.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    control = sum(1 for _c, g in members if g == "control")
    return len(members), control, responses


def demo_counts() -> dict[str, int]:
    return {
        "items": FeedbackItem.objects.count(),
        "campaigns": Campaign.objects.count(),
    }
