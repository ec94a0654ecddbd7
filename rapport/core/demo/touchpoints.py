"""One demo customer's touchpoints over the window, in the import format of
rapport.touchpoints.ingest: purchases and service visits (DMS), insurance policies and renewals,
instalment payments, accident claims, loyalty-card activity, web visits, contact-centre inquiries
and complaints, campaigns and referrals (CRM) — and, for those who drift away, thinning visits and
a cancellation or silence.

Each function yields (source, record) pairs; times fall in the opening hours of whoever recorded
them, in the branch's time zone. Amounts are TWD.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from typing import Any

from rapport.core.demo import clock, org
from rapport.core.demo.clock import Window
from rapport.core.demo.people import (
    SOURCES,
    Profile,
    arrival,
    contact_fields,
    customer_rng,
    external_id,
)
from rapport.core.demo.vehicles import Car

Record = dict[str, Any]
Pair = tuple[str, Record]

CURRENCY = "TWD"
REPAIRS = (
    ("R-BRK", "brakes", 6_000, 22_000),
    ("R-BAT", "battery", 4_500, 9_000),
    ("R-TYR", "tyres", 12_000, 40_000),
    ("R-AC", "air conditioning", 5_000, 28_000),
    ("R-SUS", "suspension", 9_000, 45_000),
    ("R-ELE", "electrical", 3_000, 18_000),
)
CLAIM_TYPES = (("collision", 45), ("scrape", 35), ("glass", 10), ("flood", 6), ("theft", 4))
INQUIRY_TOPICS = (
    "service_booking",
    "price_quote",
    "roadside_assistance",
    "insurance",
    "finance",
    "parts",
    "opening_hours",
)
WEB_PAGES = (
    "models",
    "offers",
    "service-booking",
    "used-cars",
    "accessories",
    "finance-calculator",
)
LOYALTY_PARTNERS = ("car_wash", "cafe", "parking", "service", "hotel", "accessories")

# What complaining customers say, per churn cause (R5) and language.
COMPLAINTS: dict[str, dict[str, str]] = {
    "price": {
        "zh-hant": "保養報價比其他廠高很多。",
        "zh-hans": "保养报价比其他厂高很多。",
        "en": "The service quote is much higher than elsewhere.",
    },
    "inconvenience": {
        "zh-hant": "預約後還是等了兩個多小時。",
        "zh-hans": "预约后还是等了两个多小时。",
        "en": "I had a booking and still waited over two hours.",
    },
    "core_failure": {
        "zh-hant": "同一個問題修了兩次還是沒好。",
        "zh-hans": "同一个问题修了两次还是没好。",
        "en": "The same fault was repaired twice and is still there.",
    },
    "service_encounter": {
        "zh-hant": "服務顧問態度很差,沒有說明更換了什麼零件。",
        "zh-hans": "服务顾问态度很差,没有说明更换了什么零件。",
        "en": "The advisor was rude and did not explain which parts were replaced.",
    },
    "response_failure": {
        "zh-hant": "上週反映的問題到現在都沒有人回覆。",
        "zh-hans": "上周反映的问题到现在都没有人回复。",
        "en": "Nobody has answered the problem I reported last week.",
    },
    "competition": {
        "zh-hant": "別家經銷商提供免費接送,你們沒有。",
        "zh-hans": "别家经销商提供免费接送,你们没有。",
        "en": "Another dealer offers a free shuttle; you do not.",
    },
    "ethics": {
        "zh-hant": "帳單上出現我沒有同意的項目。",
        "zh-hans": "账单上出现我没有同意的项目。",
        "en": "The bill lists work I never agreed to.",
    },
    "involuntary": {
        "zh-hant": "我要搬到國外,想取消後續的保養方案。",
        "zh-hans": "我要搬到国外,想取消后续的保养方案。",
        "en": "I am moving abroad and want to cancel my service plan.",
    },
}
# Leavers often complain as they start to drift: about the cause they will leave for.
_SERVICE_CAUSES = {"inconvenience", "core_failure", "service_encounter", "response_failure"}


@lru_cache(maxsize=4)
def campaigns(window: Window) -> tuple[tuple[int, str, str], ...]:
    """The CRM's campaigns in the window: (day sent, code, name) — a spring and an autumn
    service check each year."""
    plan = (
        (3, 10, "spring-check", "春季健檢 Spring service check"),
        (9, 8, "autumn-check", "秋季健檢 Autumn service check"),
    )
    out = []
    for year in range(window.start.year, window.as_of.year + 1):
        for month, day_of_month, slug, name in plan:
            day = (date(year, month, day_of_month) - window.start).days
            sent = window.next_open(day, clock.MORNING_BATCH) if 0 <= day < window.days else None
            if sent is not None:
                out.append((sent, f"{year}-{slug}", name))
    return tuple(out)


class _Story:
    """Writes one customer's records: numbering external ids, stamping times."""

    def __init__(self, p: Profile, window: Window, rng: random.Random) -> None:
        self.p = p
        self.window = window
        self.rng = rng
        self._counters: dict[str, int] = {}
        self._contacts = {
            source: contact_fields(p, source) for source in SOURCES if source != "dms"
        }

    def record(
        self,
        source: str,
        prefix: str,
        kind: str,
        channel: str,
        occurred_at: str,
        *,
        unit: str | None = None,
        staff: str | None = None,
        amount: int | None = None,
        margin: int | None = None,
        context: dict[str, Any] | None = None,
    ) -> Pair:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        rec: Record = {
            "external_id": f"{prefix}{self.p.index:07d}-{n:03d}",
            "customer_external_id": self.p.ids[source],
            "occurred_at": occurred_at,
            "kind": kind,
            "channel": channel,
        }
        if source != "dms":
            rec.update(self._contacts[source])
        if unit:
            rec["unit"] = unit
        if staff:
            rec["staff"] = staff
        if amount is not None:
            rec["amount"] = str(amount)
            rec["currency"] = CURRENCY
        if margin is not None:
            rec["margin"] = str(margin)
        if context:
            rec["context"] = context
        return source, rec

    def open_day(self, day: int, hours: clock.Hours) -> int | None:
        return self.window.next_open(day, hours)

    def stamp(self, day: int, hours: clock.Hours) -> str:
        return self.window.stamp(self.rng, day, hours)

    def last_day(self) -> int:
        """The day after which the customer makes no more contact of their own."""
        return self.p.leave if self.p.leave is not None else self.window.days


def touchpoints(p: Profile, window: Window, seed: int, customers: int) -> Iterator[Pair]:
    """Every touchpoint of one customer, drawn from their own random stream."""
    story = _Story(p, window, customer_rng(seed, p.index, "touchpoints"))
    yield from _purchases(story)
    yield from _service_visits(story)
    yield from _insurance(story)
    yield from _finance(story)
    yield from _loyalty(story)
    yield from _web(story)
    yield from _contact_centre(story)
    yield from _campaigns(story, campaigns(window))
    yield from _referrals(story, seed, customers)
    yield from _leaving(story)


def _purchases(s: _Story) -> Iterator[Pair]:
    p = s.p
    for car in p.cars:
        if car.acquired_day < 0:
            continue
        day = s.open_day(car.acquired_day, clock.SHOWROOM)
        if day is None:
            continue
        lead = s.open_day(day - s.rng.randint(7, 35), clock.SHOWROOM)
        if lead is not None and lead < day:
            channel = "web" if p.web_user and s.rng.random() < 0.5 else "branch"
            yield s.record(
                "crm",
                "LD",
                "inquiry",
                channel,
                s.stamp(lead, clock.ONLINE if channel == "web" else clock.SHOWROOM),
                unit=p.branch.sales_team,
                staff=p.consultant if channel == "branch" else None,
                context={"topic": "test_drive", "model": car.model.name},
            )
        yield s.record(
            "dms",
            "SO",
            "purchase",
            "branch",
            s.stamp(day, clock.SHOWROOM),
            unit=p.branch.sales_team,
            staff=p.consultant,
            amount=car.price,
            margin=round(car.price * s.rng.uniform(0.04, 0.09)),
            context={
                "model": car.model.name,
                "model_year": car.model_year,
                "vin": car.vin,
                "financed": p.financed and car is _latest(p),
            },
        )


def _latest(p: Profile) -> Car:
    return max(p.cars, key=lambda c: c.acquired_day)


def _service_visits(s: _Story) -> Iterator[Pair]:
    """3–6 visits a year while the customer stays; for a drifter the gaps grow from the drift
    day, often after a comeback repair, and stop at the leave day."""
    p, rng = s.p, s.rng
    gap = 365 / p.visits_per_year
    day = max(p.since, 0) + int(rng.uniform(0.3, 1.0) * gap)
    stop = s.last_day()
    stretch = 1.0
    comeback_due = p.leave_reason in {"core_failure", "service_encounter"}
    while day < stop:
        open_day = s.open_day(day, clock.SERVICE)
        if open_day is None or open_day >= stop:
            break
        drifting = p.drift is not None and open_day >= p.drift
        car = p.car_on(open_day, rng)
        yield _visit(s, open_day, car, drifting and comeback_due)
        if drifting and comeback_due:
            comeback_due = False
            again = s.open_day(open_day + rng.randint(3, 10), clock.SERVICE)
            if again is not None and again < stop:
                yield _visit(s, again, car, comeback=True)
        if drifting:
            stretch *= 1.7
        day = open_day + max(14, int(gap * stretch * rng.uniform(0.6, 1.4)))


def _visit(s: _Story, day: int, car: Car, comeback: bool = False) -> Pair:
    p, rng = s.p, s.rng
    age_years = max(day - car.acquired_day, 30) / 365
    mileage = int(car.km_per_year * age_years * rng.uniform(0.9, 1.1))
    factor = car.model.service_factor
    roll = rng.random()
    if comeback:
        visit_type, job = "repair", rng.choice(REPAIRS)[0]
    elif roll < 0.03:
        visit_type, job = "recall", f"RC-{car.model.code}{car.model_year % 100:02d}"
    elif roll < 0.13 and age_years < 4:
        visit_type, job = "warranty", "W-" + rng.choice(REPAIRS)[0][2:]
    elif roll < 0.38:
        visit_type, job = "repair", rng.choice(REPAIRS)[0]
    else:
        visit_type, job = "maintenance", f"M{max(1, round(mileage / 10_000)) * 10}K"
    if visit_type in {"recall", "warranty"}:
        amount = 0
        margin = rng.randint(800, 3_500)  # the maker reimburses the labour
    else:
        if visit_type == "maintenance":
            base = rng.uniform(4_000, 9_000) * (
                2.4 if job.endswith("0K") and mileage > 35_000 else 1
            )
        else:
            low, high = next((r[2], r[3]) for r in REPAIRS if r[0] == job)
            base = rng.uniform(low, high)
        amount = round(base * factor, -1)
        margin = round(amount * rng.uniform(0.28, 0.45))
    branch = p.branch if rng.random() < 0.92 else rng.choice(org.BRANCHES)
    advisor = p.advisor if branch is p.branch and rng.random() < 0.85 else None
    if advisor is None:
        advisor = branch.advisor_code(rng.randrange(branch.advisors))
    context: dict[str, Any] = {
        "visit_type": visit_type,
        "job_code": job,
        "mileage": mileage,
        "model": car.model.name,
        "model_year": car.model_year,
    }
    if comeback:
        context["comeback"] = True
    return s.record(
        "dms",
        "RO",
        "service_visit",
        "branch",
        s.stamp(day, clock.SERVICE),
        unit=branch.service_team,
        staff=advisor,
        amount=int(amount),
        margin=int(margin),
        context=context,
    )


def _insurance(s: _Story) -> Iterator[Pair]:
    """A policy bought with the car, renewed every year; insured customers also claim accidents."""
    p, rng, window = s.p, s.rng, s.window
    if not p.insured:
        return
    car = _latest(p)
    cover = rng.choices(("type_a", "type_b", "type_c"), (60, 25, 15))[0]
    stop = s.last_day()
    year = 0
    while True:
        day = car.acquired_day + 365 * year
        year += 1
        if day >= stop or day >= window.days:
            break
        if day < 0:
            continue
        age = max(year - 1, 0)
        premium = round(car.price * (0.022 if cover == "type_a" else 0.012) * 0.9**age, -2)
        first = year == 1
        open_day = s.open_day(day - (0 if first else rng.randint(0, 20)), clock.CONTACT_CENTRE)
        if open_day is None or open_day >= stop:
            break
        channel = "branch" if first else rng.choice(("phone", "phone", "email", "mail"))
        yield s.record(
            "insurance",
            "POL",
            "purchase" if first else "renewal",
            channel,
            s.stamp(open_day, clock.CONTACT_CENTRE),
            unit=p.branch.code,
            amount=int(premium),
            margin=round(premium * rng.uniform(0.12, 0.18)),
            context={"product": "motor_insurance", "cover": cover, "vin": car.vin},
        )
    yield from _claims(s, car, stop)


def _claims(s: _Story, car: Car, stop: int) -> Iterator[Pair]:
    """About one accident in twelve customer-years, each followed by a body-shop repair."""
    p, rng = s.p, s.rng
    day = max(p.since, car.acquired_day, 0)
    while True:
        day += int(rng.expovariate(1 / (12 * 365)))
        if day >= stop:
            return
        claim_type = rng.choices([t for t, _ in CLAIM_TYPES], [w for _, w in CLAIM_TYPES])[0]
        payout = round(rng.uniform(15_000, 280_000 if claim_type != "glass" else 40_000), -2)
        reported = s.open_day(day, clock.CONTACT_CENTRE)
        if reported is None or reported >= stop:
            return
        source, claim = s.record(
            "claims",
            "CLM",
            "claim",
            "phone",
            s.stamp(reported, clock.CONTACT_CENTRE),
            unit=p.branch.service_team,
            amount=int(payout),
            context={"claim_type": claim_type, "at_fault": rng.random() < 0.45, "vin": car.vin},
        )
        yield source, claim
        repair = s.open_day(reported + rng.randint(2, 14), clock.SERVICE)
        if repair is not None and repair < stop:
            yield s.record(
                "dms",
                "RO",
                "service_visit",
                "branch",
                s.stamp(repair, clock.SERVICE),
                unit=p.branch.service_team,
                staff=p.advisor,
                amount=int(payout),
                margin=round(payout * rng.uniform(0.2, 0.35)),
                context={
                    "visit_type": "repair",
                    "job_code": "BP",
                    "mileage": int(car.km_per_year * max(repair - car.acquired_day, 30) / 365),
                    "model": car.model.name,
                    "model_year": car.model_year,
                    "claim": claim["external_id"],
                },
            )


def _finance(s: _Story) -> Iterator[Pair]:
    """Monthly instalments, debited on the 5th at night, for the financed car's term."""
    p, rng, window = s.p, s.rng, s.window
    if not p.financed:
        return
    car = _latest(p)
    term = rng.choice((36, 48, 60))
    principal = car.price * rng.uniform(0.4, 0.7)
    rate = rng.uniform(0.025, 0.045)
    interest = round(principal * rate / 12)  # flat-rate instalment loan
    instalment = round(principal / term) + interest
    bought = window.start.toordinal() + car.acquired_day
    first = date.fromordinal(bought)
    contract = external_id("finance", p.index).replace("FC-", "LN-")
    for k in range(1, term + 1):
        month = first.month - 1 + k
        due = date(first.year + month // 12, month % 12 + 1, 5)
        day = (due - window.start).days
        if day < 0:
            continue
        if day >= window.days:
            return
        late = rng.random() < 0.02
        if late:
            day = min(day + rng.randint(3, 20), window.days - 1)
        yield s.record(
            "finance",
            "PAY",
            "payment",
            "other",
            s.stamp(day, clock.NIGHT_BATCH),
            amount=instalment,
            margin=interest,
            context={"contract": contract, "instalment": k, "term": term, "late": late},
        )


def _loyalty(s: _Story) -> Iterator[Pair]:
    p, rng = s.p, s.rng
    if not p.loyalty_tier:
        return
    day = max(p.since, 0)
    stop = s.last_day()
    while True:
        day += int(rng.expovariate(2 / 365)) + 1
        if day >= stop:
            return
        redeem = rng.random() < 0.3
        points = rng.choice((50, 100, 200, 500, 1000))
        yield s.record(
            "loyalty",
            "LT",
            "loyalty_activity",
            "app",
            s.stamp(day, clock.SHOWROOM),
            context={
                "action": "redeem" if redeem else "earn",
                "points": -points if redeem else points,
                "partner": rng.choice(LOYALTY_PARTNERS),
                "tier": p.loyalty_tier,
            },
        )


def _web(s: _Story) -> Iterator[Pair]:
    p, rng = s.p, s.rng
    if not p.web_user:
        return
    day = max(p.since, 0)
    stop = s.last_day()
    while True:
        day += int(rng.expovariate(2.5 / 365)) + 1
        if day >= stop:
            return
        channel = "app" if rng.random() < 0.4 else "web"
        yield s.record(
            "web",
            "WS",
            "web_visit",
            channel,
            s.stamp(day, clock.ONLINE),
            context={"page": rng.choice(WEB_PAGES), "pages_viewed": rng.randint(1, 12)},
        )


def _contact_centre(s: _Story) -> Iterator[Pair]:
    """An inquiry every other year or so; complaints now and then, and from most drifters."""
    p, rng, window = s.p, s.rng, s.window
    begin = max(p.since, 0)
    stop = s.last_day()
    day = begin
    while True:
        day += int(rng.expovariate(0.5 / 365)) + 1
        if day >= stop:
            break
        open_day = s.open_day(day, clock.CONTACT_CENTRE)
        if open_day is None or open_day >= stop:
            break
        yield s.record(
            "callcentre",
            "CALL",
            "inquiry",
            rng.choices(("phone", "chat", "email"), (60, 25, 15))[0],
            s.stamp(open_day, clock.CONTACT_CENTRE),
            unit=org.CONTACT_CENTRE_CODE,
            staff=org.contact_centre_agent(rng.randrange(org.CONTACT_CENTRE_AGENTS)),
            context={"topic": rng.choice(INQUIRY_TOPICS)},
        )
    complaint_days = []
    day = begin
    while True:
        day += int(rng.expovariate(0.05 / 365)) + 1
        if day >= stop:
            break
        complaint_days.append((day, rng.choice(sorted(set(COMPLAINTS) - {"involuntary"}))))
    reason = p.leave_reason or ""
    if p.drift is not None and reason in _SERVICE_CAUSES | {"price"} and rng.random() < 0.7:
        complaint_days.append((p.drift + rng.randint(0, 20), reason))
    for day, category in complaint_days:
        open_day = s.open_day(day, clock.CONTACT_CENTRE)
        if open_day is None or open_day >= window.days:
            continue
        at_branch = rng.random() < 0.3
        yield s.record(
            "dms" if at_branch else "callcentre",
            "CMP",
            "complaint",
            "branch" if at_branch else rng.choice(("phone", "phone", "email")),
            s.stamp(open_day, clock.SERVICE if at_branch else clock.CONTACT_CENTRE),
            unit=p.branch.code if at_branch else org.CONTACT_CENTRE_CODE,
            staff=p.branch.relations_code
            if at_branch
            else org.contact_centre_agent(rng.randrange(org.CONTACT_CENTRE_AGENTS)),
            context={
                "category": category,
                "severity": rng.choices(("low", "medium", "high"), (50, 35, 15))[0],
                "summary": COMPLAINTS[category][p.language],
            },
        )


def _campaigns(s: _Story, plan: tuple[tuple[int, str, str], ...]) -> Iterator[Pair]:
    """Campaigns reach only customers who opted in to marketing on that channel; drifters and
    leavers rarely answer."""
    p, rng = s.p, s.rng
    channel = next((c for c in ("email", "sms") if p.marketing.get(c)), None)
    if channel is None:
        return
    cancelled = p.leave if p.cancels_in else None
    for day, code, name in plan:
        if day < p.since or (cancelled is not None and day >= cancelled):
            continue
        yield s.record(
            "crm",
            "CPS",
            "campaign_sent",
            channel,
            s.window.stamp_at(day, 10 * 60 + rng.randrange(45), rng.randrange(60)),
            context={"campaign": code, "name": name},
        )
        keen = 0.03 if (p.drift is not None and day >= p.drift) else 0.14
        if rng.random() < keen:
            answered = min(day + rng.randint(0, 14), s.window.days - 1)
            response = rng.choices(("clicked", "booked", "attended"), (50, 35, 15))[0]
            yield s.record(
                "crm",
                "CPR",
                "campaign_response",
                "branch" if response == "attended" else channel,
                s.stamp(answered, clock.SHOWROOM),
                unit=p.branch.code if response != "clicked" else None,
                context={"campaign": code, "response": response},
            )


def _referrals(s: _Story, seed: int, customers: int) -> Iterator[Pair]:
    """Some customers bring a friend: a later new customer, recorded before the friend buys."""
    p, rng, window = s.p, s.rng, s.window
    ahead = customers - p.index - 1
    if ahead <= 0 or rng.random() >= 0.12:
        return
    friend = p.index + 1 + rng.randrange(min(ahead, 5_000))
    came = arrival(seed, friend, window)
    day = came.since - rng.randint(5, 30)
    if not came.new or day < max(p.since, 0) or day >= s.last_day():
        return
    open_day = s.open_day(day, clock.SHOWROOM)
    if open_day is None or open_day >= came.since:
        return
    yield s.record(
        "crm",
        "REF",
        "referral",
        "branch",
        s.stamp(open_day, clock.SHOWROOM),
        unit=p.branch.sales_team,
        staff=p.consultant,
        context={"referred_customer": external_id("dms", friend)},
    )


def _leaving(s: _Story) -> Iterator[Pair]:
    """Half the leavers say so (a cancelled policy or membership, a car sold); the rest go quiet."""
    p = s.p
    if p.leave is None or p.cancels_in is None:
        return
    hours = clock.SERVICE if p.cancels_in == "dms" else clock.CONTACT_CENTRE
    day = s.open_day(p.leave, hours)
    if day is None:
        return
    what = {"dms": "vehicle_sold", "insurance": "policy_cancelled", "loyalty": "membership_ended"}
    yield s.record(
        p.cancels_in,
        "CXL",
        "cancellation",
        "phone" if p.cancels_in != "dms" else "branch",
        s.stamp(day, hours),
        unit=p.branch.code,
        staff=p.branch.relations_code if p.cancels_in == "dms" else None,
        context={"what": what[p.cancels_in], "reason": p.leave_reason},
    )
