"""Survey fixtures: published surveys from the built-in templates, customers, invitations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rapport.customers.models import Customer, SourceSystem
from rapport.surveys import actions
from rapport.surveys.models import Invitation, Response, Survey
from rapport.touchpoints.models import Touchpoint


@pytest.fixture
def customer(org):
    return Customer.objects.create(
        display_name="Lin Mei", preferred_language="zh-hant", home_unit=org["taipei"]
    )


@pytest.fixture
def other_customer(org):
    return Customer.objects.create(display_name="Bob Chen", home_unit=org["kaohsiung"])


@pytest.fixture
def make_survey(db) -> Callable[..., Survey]:
    def make(kind: str = "nps", name: str | None = None) -> Survey:
        return actions.create_survey_from_template(kind, name or f"{kind} survey", publish=True)

    return make


@pytest.fixture
def invite(org) -> Callable[..., tuple[Invitation, str]]:
    """invite(survey, customer, **kw) -> (invitation, token) on the live version."""

    def make(survey: Survey, customer: Customer | None = None, **kwargs: Any):
        version = actions.live_version(survey)
        kwargs.setdefault("channel", "email")
        return actions.create_invitation(version, customer=customer, **kwargs)

    return make


@pytest.fixture
def service_visit(customer, org, users):
    staff = users["taipei_agent"].staff
    source = SourceSystem.objects.create(code="dms", name="DMS")
    return Touchpoint.objects.create(
        customer=customer,
        occurred_at="2025-03-01T10:00:00+08:00",
        channel="branch",
        kind="service_visit",
        source=source,
        external_id="RO-1",
        unit=org["taipei"],
        staff=staff,
    )


def answer_all(survey: Survey, value_for: Callable[[Any], Any]) -> dict[str, list[str]]:
    """A form answering every question of the live version with value_for(spec)."""
    form: dict[str, list[str]] = {}
    for spec in actions.version_specs(actions.live_version(survey)):
        value = value_for(spec)
        if value is not None:
            form[f"q_{spec.key}"] = value if isinstance(value, list) else [str(value)]
    return form


def complete_all(invitation: Invitation, form: dict[str, list[str]], language: str = "en"):
    """Submit every page of the invitation's version with the same form; returns the outcome."""
    outcome = None
    for _ in range(50):
        specs = actions.version_specs(invitation.version)
        response = Response.objects.filter(invitation=invitation).first()
        answers = actions.saved_answers(response, specs)
        page = actions.current_page(response, specs, answers)
        outcome = actions.submit_page(invitation, page, form, language=language)
        assert outcome.status != "invalid", outcome.errors
        if outcome.status == "completed":
            return outcome
    raise AssertionError("survey never completed")
