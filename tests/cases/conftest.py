"""Case fixtures: the org of tests/conftest.py, a customer per branch, tasks run at once,
email kept in memory (mail.outbox), and a case opened through the real entry point."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from rapport.cases import actions
from rapport.cases.actions import opening
from rapport.cases.models import Case
from rapport.cases.rules import Signal
from rapport.customers.models import Customer

# A Monday 10:00 in Taipei: inside opening hours, far from holidays.
MONDAY = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def case_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def customer(org):
    return Customer.objects.create(
        display_name="Lin Mei",
        email="lin@example.com",
        preferred_language="zh-hant",
        home_unit=org["taipei"],
    )


@pytest.fixture
def khh_customer(org):
    return Customer.objects.create(
        display_name="Bob Chen", email="bob@example.com", home_unit=org["kaohsiung"]
    )


@pytest.fixture
def open_case(users) -> Callable[..., Case]:
    """open_case(customer, **signal fields) → a case opened at MONDAY by a signal."""

    def make(customer: Customer, now: dt.datetime = MONDAY, **fields):
        fields.setdefault("source", "manual")
        fields.setdefault("subject", "Car not ready on time")
        case, _created = opening.open_or_attach(
            Signal(customer_id=customer.pk, **fields), actions.SYSTEM, now=now
        )
        return case

    return make


def agent(users, name: str = "taipei_agent"):
    return actions.Actor(staff=users[name].staff)
