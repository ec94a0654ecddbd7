"""Demo customers: who each one is (a `Profile`) and the customer records each source system holds
about them, in the import format of rapport.customers.ingest.

Each customer is drawn from their own random stream, seeded by (seed, index), so that any one of a
million customers can be rebuilt on its own, in any order, always the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rapport.core.demo import org
from rapport.core.demo.clock import Window
from rapport.core.demo.names import PersonName, chinese_name, english_name
from rapport.core.demo.vehicles import Car, new_car

# The systems the dealer group's records come from, in the order their customer files load: the
# dealer management system (DMS) holds the customer master; the others learn the customer later.
SOURCES: dict[str, str] = {
    "dms": "Dealer management system",
    "crm": "CRM and marketing",
    "insurance": "Motor insurance",
    "finance": "Instalment finance",
    "claims": "Accident and claims handling",
    "loyalty": "Loyalty card",
    "web": "Web site and app",
    "callcentre": "Contact centre",
}

# Customer id prefixes per source; the number is the customer index, offset so ids look unrelated.
_ID_FORMATS = {
    "dms": ("C", 1_000_001),
    "crm": ("CRM-", 5_200_000),
    "insurance": ("PH", 30_000_000),
    "finance": ("FC-", 700_000),
    "claims": ("AC-", 90_000),
    "loyalty": ("LC886", 10_000_000),
    "web": ("U", 2_000_000),
    "callcentre": ("CL-", 400_000),
}

# Why leavers leave: the churn causes of seed 002 (R5), weighted by how often a dealer sees them.
LEAVE_REASONS: tuple[tuple[str, int], ...] = (
    ("price", 28),
    ("service_encounter", 16),
    ("inconvenience", 14),
    ("competition", 14),
    ("response_failure", 10),
    ("involuntary", 12),
    ("core_failure", 6),
)

DRIFT_SHARE = 0.165  # of customers who could drift (known long enough): ~15% of all
LANGUAGES = (("zh-hant", 80), ("en", 12), ("zh-hans", 8))
EMAIL_DOMAINS = ("gmail.example", "yahoo.example", "hinet.example", "outlook.example")
LOYALTY_TIERS = ("silver", "gold", "platinum")

_PHONE_SPACE = 90_000_000  # +886 90..98 + 7 digits: every Taiwanese mobile prefix
_PHONE_STEP = 48_271  # prime, so index → number is one-to-one within the space


def customer_rng(seed: int, index: int, stream: str) -> random.Random:
    """The random stream for one customer and one purpose ("profile", "touchpoints", ...).

    Separate streams mean a later generator (surveys, feedback) never shifts earlier data.
    """
    return random.Random(f"{seed}/{stream}/{index}")


def external_id(source: str, index: int) -> str:
    prefix, offset = _ID_FORMATS[source]
    return f"{prefix}{offset + index:07d}"


@dataclass(frozen=True, slots=True)
class Arrival:
    """When a customer became one: cheap to compute alone, so referrals can point ahead."""

    since: int  # day of the first purchase; negative = before the window
    new: bool  # bought their first car inside the window


def arrival(seed: int, index: int, window: Window) -> Arrival:
    rng = customer_rng(seed, index, "arrival")
    if rng.random() < 0.35:
        return Arrival(rng.randrange(window.days), True)
    return Arrival(-rng.randint(30, 8 * 365), False)


@dataclass(slots=True)
class Profile:
    """Everything the touchpoint generators need to tell one customer's story."""

    index: int
    name: PersonName
    language: str
    email: str
    phone: str
    birth_year: int
    branch: org.BranchSpec
    advisor: str
    consultant: str
    since: int
    new: bool
    cars: list[Car]
    visits_per_year: float
    insured: bool
    financed: bool
    loyalty_tier: str | None
    web_user: bool
    marketing: dict[str, bool]  # channel → explicit marketing consent (absent: none given)
    surveys_opt_out: bool
    drift: int | None = None  # day the service visits start to thin out
    leave: int | None = None  # day after which the customer is gone
    leave_reason: str | None = None
    cancels_in: str | None = None  # the source recording a cancellation; None = silence
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def leaves(self) -> bool:
        return self.leave is not None

    def car_on(self, day: int, rng: random.Random) -> Car:
        """One of the cars the customer owned on that day."""
        owned = [c for c in self.cars if c.acquired_day <= day]
        return rng.choice(owned) if owned else self.cars[0]

    def active_on(self, day: int) -> bool:
        return day >= self.since and (self.leave is None or day < self.leave)


def profile(seed: int, index: int, window: Window) -> Profile:
    rng = customer_rng(seed, index, "profile")
    start = arrival(seed, index, window)
    language = rng.choices([lang for lang, _ in LANGUAGES], [w for _, w in LANGUAGES])[0]
    if language == "en" and rng.random() < 0.7:
        name = english_name(rng)
    else:
        name = chinese_name(rng, simplified=language == "zh-hans")
    email = ""
    if rng.random() < 0.86:
        local = f"{name.given_ascii}.{name.family_ascii}.{_token(index)}".lower()
        email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    phone = f"+8869{(index * _PHONE_STEP + seed * 7_919) % _PHONE_SPACE:08d}"
    branch = rng.choices(org.BRANCHES, weights=org.BRANCH_WEIGHTS)[0]

    cars = [new_car(rng, _model_year(window, start.since, rng), start.since)]
    if rng.random() < 0.3:
        earliest = max(start.since + 2 * 365, -3 * 365)
        if earliest < window.days - 1:
            day = rng.randint(earliest, window.days - 1)
            cars.append(new_car(rng, _model_year(window, day, rng), day))
    latest = max(cars, key=lambda c: c.acquired_day)

    tier = None
    if rng.random() < 0.6:
        if latest.model.price[0] >= 4_000_000 or len(cars) > 1:
            tier = "platinum"
        elif latest.price >= 2_800_000 or start.since < -5 * 365:
            tier = "gold"
        else:
            tier = "silver"

    marketing: dict[str, bool] = {}
    roll = rng.random()
    if roll < 0.55:
        marketing = {"sms": True} | ({"email": True} if email else {})
    elif roll < 0.72:
        marketing = {"sms": False} | ({"email": False} if email else {})

    p = Profile(
        index=index,
        name=name,
        language=language,
        email=email,
        phone=phone,
        birth_year=window.as_of.year - int(rng.triangular(24, 78, 47)),
        branch=branch,
        advisor=branch.advisor_code(rng.randrange(branch.advisors)),
        consultant=branch.consultant_code(rng.randrange(branch.consultants)),
        since=start.since,
        new=start.new,
        cars=cars,
        visits_per_year=rng.uniform(3.0, 6.0),
        insured=rng.random() < 0.6,
        financed=latest.acquired_day > -4 * 365 and rng.random() < 0.25,
        loyalty_tier=tier,
        web_user=rng.random() < 0.45,
        marketing=marketing,
        surveys_opt_out=rng.random() < 0.07,
    )
    _maybe_drift(p, rng, window)
    p.ids = {source: external_id(source, index) for source in SOURCES}
    return p


def _maybe_drift(p: Profile, rng: random.Random, window: Window) -> None:
    """About 15% drift away: visits thin out from a drift day and stop on a leave day."""
    first = max(p.since, 0) + 120
    last = window.days - 160
    if first >= last or rng.random() >= DRIFT_SHARE:
        return
    p.drift = rng.randint(first, last)
    p.leave = min(p.drift + rng.randint(90, 300), window.days - 30)
    reasons = [r for r, _ in LEAVE_REASONS]
    p.leave_reason = rng.choices(reasons, [w for _, w in LEAVE_REASONS])[0]
    if rng.random() < 0.5:
        options = (
            ["dms"] + (["insurance"] if p.insured else []) + (["loyalty"] if p.loyalty_tier else [])
        )
        p.cancels_in = rng.choice(options)


def _model_year(window: Window, day: int, rng: random.Random) -> int:
    """A new car's model year: the year it was bought, or the next one late in the year."""
    year = window.year_of(day) if day >= 0 else window.start.year + (day // 365)
    return year + (1 if rng.random() < 0.25 else 0)


def _token(index: int) -> str:
    """A short base-36 tag, one-to-one with the index, that keeps email addresses unique."""
    n = (index * 2_654_435_761) % 4_294_967_311  # a prime modulus: a permutation of the indexes
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def customer_record(p: Profile) -> dict[str, Any]:
    """The customer master the DMS holds: name, contact, language, home branch, attributes and
    consent. The other systems know the customer by their own id and an email or phone on
    their records (see `contact_fields`); identity resolution joins them to this one."""
    latest = max(p.cars, key=lambda c: c.acquired_day)
    record: dict[str, Any] = {
        "external_id": p.ids["dms"],
        "name": p.name.display,
        "phone": p.phone,
        "language": p.language,
        "unit": p.branch.code,
        "attributes": {
            "model": latest.model.name,
            "model_year": latest.model_year,
            "vehicle_value": f"{latest.price}.00",
            "loyalty_tier": p.loyalty_tier or "none",
            "birth_year": p.birth_year,
            "vehicles": len(p.cars),
        },
    }
    if p.email:
        record["email"] = p.email
    for channel, granted in p.marketing.items():
        record[f"consent.{channel}.marketing"] = "yes" if granted else "no"
    if p.surveys_opt_out:
        for channel in ("email", "sms", "phone"):
            record[f"consent.{channel}.survey"] = "no"
    return record


def contact_fields(p: Profile, source: str) -> dict[str, str]:
    """How a non-DMS system names the customer beside its own id: the email when it has one
    (the CRM keeps it as typed), else the phone in the local format Taiwanese forms use."""
    if p.email:
        return {"customer_email": p.email.title() if source == "crm" else p.email}
    national = "0" + p.phone[4:]  # +8869xxxxxxxx → 09xxxxxxxx
    if source == "crm":
        national = f"{national[:4]}-{national[4:7]}-{national[7:]}"
    return {"customer_phone": national}
