"""A small hand-made customer base for the recompute tests, with the facts worked out by hand.

As of 2025-07-01 12:00 in Taipei:

- A (Taipei): service visits 2025-01-01, 03-01, 05-01 — gaps 59 and 61 days, own cadence 60;
  61 days since the last visit ≤ 1.5 × 60 → retained. Fully engaged, NPS 10 → advocate.
  Referred D on 2025-05-20.
- B (Kaohsiung): visits 2024-03-01, 06-01, 09-01 — gaps 92, 92 → 92; 303 days since
  > 3 × 92 = 276 → lost. Engaged, NPS 3.
- C (Taipei): visits 2025-04-01, 05-01, 05-31, each return 5 and 4 days after an instalment
  payment (04-26, 05-27) — 2 returns, both prompted; the payment windows cover 30 of the 92 days
  since the first visit (0.33 + 0.25 = 0.58 ≤ 1.0) → lock-in flag. Gaps 30, 30 → 30; 31 days
  since ≤ 45 → retained. Indifferent, NPS 8 → locked in.
- D (Taipei): one visit 2025-06-01; fallback cadence = median(60, 92, 30) = 60; 30 days since
  → retained; no engagement answer → unmeasured. Referred by A.
- E (Kaohsiung): no touchpoints → no visits.

Responses completed in June 2025 (local): A NPS 10 + CSAT 5 + tier fully engaged; B NPS 3 +
tier engaged; C NPS 8 + CSAT 3 + tier indifferent.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.surveys.models import Response, Survey, SurveyVersion
from rapport.touchpoints.models import Touchpoint

TPE = zoneinfo.ZoneInfo("Asia/Taipei")
AS_OF = dt.datetime(2025, 7, 1, 12, 0, tzinfo=TPE)


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=TPE)


class Base:
    def __init__(self, org) -> None:
        self.org = org
        self.dms, _ = SourceSystem.objects.get_or_create(code="dms", defaults={"name": "DMS"})
        self.crm, _ = SourceSystem.objects.get_or_create(code="crm", defaults={"name": "CRM"})
        self.customers = {}
        for name, unit in (("A", "taipei"), ("B", "kaohsiung"), ("C", "taipei"),
                           ("D", "taipei"), ("E", "kaohsiung")):  # fmt: skip
            c = Customer.objects.create(display_name=name, home_unit=org[unit])
            CustomerIdentity.objects.create(source=self.dms, external_id=f"dms-{name}", customer=c)
            self.customers[name] = c
        self.survey = Survey.objects.create(name="Relationship", kind="engagement")
        self.version = SurveyVersion.objects.create(
            survey=self.survey, number=1, published_at=at("2024-01-01")
        )
        self._n = 0
        self.visits("A", "taipei", "2025-01-01", "2025-03-01", "2025-05-01")
        self.visits("B", "kaohsiung", "2024-03-01", "2024-06-01", "2024-09-01")
        self.visits("C", "taipei", "2025-04-01", "2025-05-01", "2025-05-31")
        self.touch("C", "payment", "2025-04-26", "taipei", amount=1000)
        self.touch("C", "payment", "2025-05-27", "taipei", amount=1000)
        self.visits("D", "taipei", "2025-06-01")
        self.touch("A", "referral", "2025-05-20", "taipei", context={"referred_customer": "dms-D"})
        self.respond("A", "taipei", "2025-06-10", nps=10, csat=5, tier="fully_engaged")
        self.respond("B", "kaohsiung", "2025-06-11", nps=3, tier="engaged")
        self.respond("C", "taipei", "2025-06-12", nps=8, csat=3, tier="indifferent")

    def id(self, name: str) -> int:
        return self.customers[name].pk

    def touch(self, name, kind, day, unit, amount=None, margin=None, context=None, hour=10):
        self._n += 1
        return Touchpoint.objects.create(
            customer=self.customers[name],
            occurred_at=at(day, hour),
            kind=kind,
            channel="branch",
            source=self.dms,
            external_id=f"tp-{self._n}",
            unit=self.org[unit],
            amount=None if amount is None else Decimal(amount),
            margin=None if margin is None else Decimal(margin),
            context=context or {},
        )

    def visits(self, name: str, unit: str, *days: str) -> None:
        for day in days:
            self.touch(
                name, "service_visit", day, unit, amount=5000, margin=2000,
                context={"visit_type": "maintenance"},
            )  # fmt: skip

    def respond(self, name, unit, day, nps=None, csat=None, tier="", hour=15):
        nps_class = "" if nps is None else ("promoter" if nps >= 9 else
                                             "passive" if nps >= 7 else "detractor")  # fmt: skip
        return Response.objects.create(
            survey=self.survey,
            version=self.version,
            customer=self.customers[name],
            channel="email",
            unit=self.org[unit],
            state="completed",
            started_at=at(day, hour),
            completed_at=at(day, hour),
            nps_score=nps,
            nps_class=nps_class,
            csat=csat,
            csat_top2=None if csat is None else csat >= 4,
            tier=tier,
            loyalty=4.0 if tier else None,
            attachment=4.0 if tier else None,
        )
