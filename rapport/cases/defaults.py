"""What a new installation starts with: SLA targets per priority, the default case rules,
authority limits per role, and the customer message templates in en / zh-hant / zh-hans.

Installed after every migrate (and after a test database flush); each row is only added when
missing, so an edited template or a switched-off rule is never touched again. Default rules are
installed only into an empty rule table: deleting one is respected.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rapport.cases import rules

# priority → (acknowledge, first response, resolve) in business minutes
SLA_DEFAULTS: dict[str, tuple[int, int, int]] = {
    "p1": (30, 120, 9 * 60),
    "p2": (60, 4 * 60, 2 * 9 * 60),
    "p3": (4 * 60, 9 * 60, 5 * 9 * 60),
    "p4": (9 * 60, 2 * 9 * 60, 10 * 9 * 60),
}
# role → {currency: the value they may grant alone}
AUTHORITY_DEFAULTS: dict[str, dict[str, str]] = {
    "agent": {"TWD": "3000", "USD": "100", "CNY": "700", "HKD": "800", "KRW": "130000"},
    "unit_manager": {"TWD": "30000", "USD": "1000", "CNY": "7000", "HKD": "8000", "KRW": "1300000"},
    "cx_manager": {
        "TWD": "300000",
        "USD": "10000",
        "CNY": "70000",
        "HKD": "80000",
        "KRW": "13000000",
    },
    "admin": {"TWD": "300000", "USD": "10000", "CNY": "70000", "HKD": "80000", "KRW": "13000000"},
}

TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {
    ("acknowledgement", "en"): (
        "We have received your message ({{ case_ref }})",
        "Dear {{ customer }},\n\nThank you for telling us. {{ owner }} now looks after this for "
        "you personally and will come back to you by {{ by }}.\n\nYour reference: {{ case_ref }}",
    ),
    ("acknowledgement", "zh-hant"): (
        "我們已收到您的意見（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n謝謝您告訴我們。{{ owner }} 將親自為您處理，"
        "並於 {{ by }} 前回覆您。\n\n案件編號：{{ case_ref }}",
    ),
    ("acknowledgement", "zh-hans"): (
        "我们已收到您的意见（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n谢谢您告诉我们。{{ owner }} 将亲自为您处理，"
        "并于 {{ by }} 前回复您。\n\n案件编号：{{ case_ref }}",
    ),
    ("checking", "en"): (
        "We are checking: {{ what }} ({{ case_ref }})",
        "Dear {{ customer }},\n\nLet me check {{ what }}. I will come back to you by {{ by }}.\n\n"
        "{{ owner }}",
    ),
    ("checking", "zh-hant"): (
        "我們正在查證：{{ what }}（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n讓我為您查證{{ what }}，"
        "我會在 {{ by }} 前回覆您。\n\n{{ owner }}",
    ),
    ("checking", "zh-hans"): (
        "我们正在核实：{{ what }}（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n让我为您核实{{ what }}，"
        "我会在 {{ by }} 前回复您。\n\n{{ owner }}",
    ),
    ("update", "en"): (
        "About your case {{ case_ref }}",
        "Dear {{ customer }},\n\n{{ body }}\n\n{{ owner }}",
    ),
    ("update", "zh-hant"): (
        "關於您的案件 {{ case_ref }}",
        "{{ customer }} 您好：\n\n{{ body }}\n\n{{ owner }}",
    ),
    ("update", "zh-hans"): (
        "关于您的案件 {{ case_ref }}",
        "{{ customer }} 您好：\n\n{{ body }}\n\n{{ owner }}",
    ),
    ("remedy_offer", "en"): (
        "Our apology and an offer ({{ case_ref }})",
        "Dear {{ customer }},\n\nWe are sorry. We would like to offer you {{ remedy }}. "
        "It is yours only if you want it: accept here {{ accept_url }} or simply tell us.\n\n"
        "{{ owner }}",
    ),
    ("remedy_offer", "zh-hant"): (
        "致歉與補償方案（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n非常抱歉。我們希望提供您{{ remedy }}。"
        "是否接受由您決定：請點選 {{ accept_url }}，或直接告訴我們。\n\n{{ owner }}",
    ),
    ("remedy_offer", "zh-hans"): (
        "致歉与补偿方案（{{ case_ref }}）",
        "{{ customer }} 您好：\n\n非常抱歉。我们希望为您提供{{ remedy }}。"
        "是否接受由您决定：请点击 {{ accept_url }}，或直接告诉我们。\n\n{{ owner }}",
    ),
    ("resolution", "en"): (
        "Your case {{ case_ref }} is resolved",
        "Dear {{ customer }},\n\n{{ body }}\n\nIf anything is still not right, just reply: the "
        "case is only done when you are satisfied.\n\n{{ owner }}",
    ),
    ("resolution", "zh-hant"): (
        "您的案件 {{ case_ref }} 已處理完成",
        "{{ customer }} 您好：\n\n{{ body }}\n\n若仍有任何不滿意之處，請直接回覆："
        "要等您滿意了，這件事才算處理完畢。\n\n{{ owner }}",
    ),
    ("resolution", "zh-hans"): (
        "您的案件 {{ case_ref }} 已处理完成",
        "{{ customer }} 您好：\n\n{{ body }}\n\n若仍有任何不满意之处，请直接回复："
        "要等您满意了，这件事才算处理完毕。\n\n{{ owner }}",
    ),
}


def install(**_: Any) -> None:
    """Add whatever default is missing (post_migrate handler; safe to call any time)."""
    from rapport.cases.models import AuthorityLimit, CaseRule, MessageTemplate, SlaPolicy

    for prio, (ack, first, resolve) in SLA_DEFAULTS.items():
        SlaPolicy.objects.get_or_create(
            priority=prio,
            defaults={
                "acknowledge_minutes": ack,
                "first_response_minutes": first,
                "resolve_minutes": resolve,
            },
        )
    for (kind, language), (subject, body) in TEMPLATES.items():
        MessageTemplate.objects.get_or_create(
            kind=kind, language=language, defaults={"subject": subject, "body": body}
        )
    for role, limits in AUTHORITY_DEFAULTS.items():
        for currency, value in limits.items():
            AuthorityLimit.objects.get_or_create(
                role=role, staff=None, currency=currency, defaults={"max_value": Decimal(value)}
            )
    if not CaseRule.objects.exists():
        CaseRule.objects.bulk_create(
            CaseRule(order=10 * (i + 1), **spec) for i, spec in enumerate(rules.DEFAULT_RULES)
        )
