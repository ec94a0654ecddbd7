"""`rapport surveys dry-run`: who would be invited, who not and why; writes nothing."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rapport.customers.models import Consent, SourceSystem
from rapport.surveys import distribution
from rapport.surveys.models import EventRule, Invitation, Wave
from rapport.touchpoints.models import Touchpoint


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("surveys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def visits(org, reachable, nps, policy):
    """Four customers with a service visit yesterday: one fine, one opted out, one without an
    address, one invited last week (quarantine)."""
    source = SourceSystem.objects.create(code="dms", name="DMS")
    people = [
        reachable("Fine"),
        reachable("Opted Out"),
        reachable("No Address", email=""),
        reachable("Recent"),
    ]
    Consent.objects.create(customer=people[1], channel="email", purpose="survey", granted=False)
    distribution.invite_after_event(people[3], nps, now=timezone.now() - dt.timedelta(days=7))
    for n, person in enumerate(people):
        Touchpoint.objects.create(
            customer=person, occurred_at=timezone.now() - dt.timedelta(days=1), channel="branch",
            kind="service_visit", source=source, external_id=f"RO-{n}", unit=org["taipei"],
        )  # fmt: skip
    return people


def test_rule_dry_run_counts_per_rule_and_writes_nothing(visits, nps):
    rule = EventRule.objects.create(
        name="csi", survey=nps, touchpoint_kind="service_visit", delay_hours=48
    )
    before = Invitation.objects.count()
    text = run("dry-run", "csi")
    assert "DRY RUN" in text
    assert "Would invite: 1" in text
    assert f"customer {visits[0].pk} " in text
    assert "consent" in text and "no_address" in text and "quarantine" in text
    assert f"e.g. customers {visits[1].pk}" in text
    assert Invitation.objects.count() == before
    data = json.loads(run("dry-run", str(rule.pk), "--json"))
    assert data["suppressed"] == {"consent": 1, "no_address": 1, "quarantine": 1}


def test_wave_dry_run_and_ambiguous_names(visits, nps):
    Wave.objects.create(name="csi", survey=nps)
    EventRule.objects.create(name="csi", survey=nps, touchpoint_kind="service_visit")
    with pytest.raises(CommandError, match="both a rule and a wave"):
        run("dry-run", "csi")
    text = run("dry-run", "wave:csi")
    assert "Wave 'csi'" in text and "Would invite: 1" in text
    assert not Invitation.objects.filter(wave__isnull=False).exists()
    with pytest.raises(CommandError, match="no event rule or wave"):
        run("dry-run", "nope")


def test_send_due_command(smtp, visits, nps):
    distribution.invite_after_event(visits[0], nps)
    # ... and the one scheduled a week ago for "Recent" is due too.
    assert "sent 2, retrying 0" in run("send-due")
    assert "sent 0" in run("send-due")
