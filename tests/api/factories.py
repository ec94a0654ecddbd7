"""Small builders for API tests: customers and touchpoints written straight to the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rapport.customers.models import Consent, Customer, CustomerIdentity, SourceSystem
from rapport.touchpoints.models import Touchpoint


def source(code: str = "dms") -> SourceSystem:
    return SourceSystem.objects.get_or_create(code=code, defaults={"name": code})[0]


def customer(name: str, unit, external_id: str | None = None, **fields) -> Customer:  # type: ignore[no-untyped-def]
    c = Customer.objects.create(display_name=name, home_unit=unit, **fields)
    if external_id:
        CustomerIdentity.objects.create(source=source(), external_id=external_id, customer=c)
    return c


def consent(c: Customer, channel: str, purpose: str, granted: bool) -> Consent:
    return Consent.objects.create(customer=c, channel=channel, purpose=purpose, granted=granted)


def touchpoints(c: Customer, n: int, unit=None, kind: str = "service_visit", start=None):  # type: ignore[no-untyped-def]
    """n touchpoints a day apart, the newest first in time order of creation."""
    start = start or dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC)
    src = source()
    rows = [
        Touchpoint(
            customer=c,
            occurred_at=start + dt.timedelta(days=i),
            kind=kind,
            channel="branch",
            source=src,
            external_id=f"{c.pk}-{kind}-{i}",
            unit=unit,
            amount=Decimal("100.50"),
            currency="TWD",
            context={"i": i},
        )
        for i in range(n)
    ]
    return Touchpoint.objects.bulk_create(rows)
