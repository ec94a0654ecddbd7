"""API fixtures for surveys: a customer known to the "crm" source and one of its touchpoints."""

from __future__ import annotations

import pytest

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.touchpoints.models import Touchpoint


@pytest.fixture
def crm_customer(org, users):
    source = SourceSystem.objects.create(code="crm", name="CRM")
    customer = Customer.objects.create(display_name="Wang Fang", home_unit=org["taipei"])
    CustomerIdentity.objects.create(source=source, external_id="CRM-1", customer=customer)
    Touchpoint.objects.create(
        customer=customer,
        occurred_at="2025-03-01T10:00:00+08:00",
        channel="branch",
        kind="service_visit",
        source=source,
        external_id="RO-9",
        unit=org["taipei"],
        staff=users["taipei_agent"].staff,
    )
    return customer
