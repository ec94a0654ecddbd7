"""Customers, identities and touchpoints for the UI tests, in the `org` fixture's units."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.touchpoints.models import Touchpoint

TAIPEI = ZoneInfo("Asia/Taipei")
BASE = datetime(2025, 3, 1, 10, 0, tzinfo=TAIPEI)


def add_touchpoints(customer, source, count, *, unit=None, start=BASE, prefix="tp", **fields):
    """`count` touchpoints a day apart going back from `start`, in one insert."""
    rows = [
        Touchpoint(
            customer=customer,
            occurred_at=start - timedelta(days=i),
            kind=fields.get("kind", "service_visit"),
            channel=fields.get("channel", "branch"),
            source=source,
            external_id=f"{prefix}-{customer.pk}-{i}",
            unit=unit,
            amount=fields.get("amount"),
            margin=fields.get("margin"),
            currency=fields.get("currency", ""),
            context=fields.get("context", {}),
        )
        for i in range(count)
    ]
    Touchpoint.objects.bulk_create(rows, batch_size=1000)
    return rows


@pytest.fixture
def sources(db):
    return {
        "dms": SourceSystem.objects.create(code="dms", name="Dealer management"),
        "crm": SourceSystem.objects.create(code="crm", name="CRM"),
    }


@pytest.fixture
def people(org, sources):
    """Lin in Taipei (north) with a varied timeline; Chen in Kaohsiung (south)."""
    lin = Customer.objects.create(
        display_name="Lin Mei-ling",
        email="lin@example.com",
        phone="+886912345678",
        home_unit=org["taipei"],
        preferred_language="zh-hant",
        attributes={"model_year": 2019, "vip": True},
    )
    chen = Customer.objects.create(
        display_name="Chen Wei",
        email="chen@example.com",
        phone="+886987654321",
        home_unit=org["kaohsiung"],
    )
    CustomerIdentity.objects.create(source=sources["crm"], external_id="C-1001", customer=lin)
    CustomerIdentity.objects.create(source=sources["dms"], external_id="D-77", customer=lin)
    CustomerIdentity.objects.create(source=sources["crm"], external_id="C-2002", customer=chen)
    Touchpoint.objects.create(
        customer=lin,
        occurred_at=BASE + timedelta(days=1),
        kind="purchase",
        channel="branch",
        source=sources["dms"],
        external_id="sale-1",
        unit=org["taipei"],
        amount=Decimal("1250000.00"),
        margin=Decimal("85000.50"),
        currency="TWD",
        context={"model": "RX 350", "visit_type": "delivery"},
    )
    Touchpoint.objects.create(
        customer=lin,
        occurred_at=BASE + timedelta(days=2),
        kind="inquiry",
        channel="phone",
        source=sources["crm"],
        external_id="call-1",
        unit=org["kaohsiung"],
    )
    add_touchpoints(lin, sources["dms"], 3, unit=org["taipei"], prefix="svc")
    add_touchpoints(chen, sources["dms"], 2, unit=org["kaohsiung"], prefix="svc")
    return {"lin": lin, "chen": chen}


@pytest.fixture
def as_user(users):
    """as_user("taipei_agent") → a test client signed in as that user."""

    def client_for(name: str, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(users[name])
        return client

    return client_for
