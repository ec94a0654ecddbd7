"""The demo company's surveys: one per template, invitations in every status, and responses whose
scores follow the customers' stories — deterministic by seed."""

from __future__ import annotations

import io
import statistics

import pytest
from django.core.management import call_command
from django.db.models import Count

from rapport.core.demo import generator
from rapport.core.demo.people import profile
from rapport.customers.models import CustomerIdentity
from rapport.surveys import results
from rapport.surveys.models import Invitation, Response, Survey

pytestmark = pytest.mark.django_db
AS_OF = "2025-06-30"


def run_demo(*args: str) -> None:
    call_command(
        "demo", "--no-serve", "--seed", "4", "--as-of", AS_OF, "--customers", "400", *args,
        stdout=io.StringIO(),
    )  # fmt: skip


def snapshot() -> list[str]:
    rows = Response.objects.values_list(
        "survey__name", "state", "started_at", "completed_at", "csi_index", "nps_score", "language"
    )
    return sorted(repr(row) for row in rows)


def test_demo_surveys_tell_the_story(client):
    run_demo()
    kinds = set(Survey.objects.values_list("kind", flat=True))
    assert kinds == {"engagement", "nps", "csat", "ces", "csi", "employee_pulse"}
    assert not Survey.objects.filter(versions__published_at__isnull=True).exists()
    statuses = set(Invitation.objects.values_list("status", flat=True))
    assert {"completed", "sent", "opened", "started", "expired", "suppressed"} <= statuses
    per_survey = dict(
        Response.objects.filter(state="completed")
        .values_list("survey__name")
        .annotate(n=Count("id"))
    )
    assert len(per_survey) == 7 and min(per_survey.values()) >= 3
    visit = Response.objects.filter(survey__name__startswith="Service visit").first()
    assert visit.touchpoint.kind == "service_visit" and visit.staff_id is not None

    # Drifting customers answer worse than the others.
    window = generator.window(__import__("datetime").date.fromisoformat(AS_OF))
    index = {
        cid: int(ext[1:]) - 1_000_001
        for cid, ext in CustomerIdentity.objects.filter(source__code="dms").values_list(
            "customer_id", "external_id"
        )
    }
    drifting, steady = [], []
    for customer_id, csi in Response.objects.filter(csi_index__isnull=False).values_list(
        "customer_id", "csi_index"
    ):
        p = profile(4, index[customer_id], window)
        (drifting if p.drift is not None else steady).append(csi)
    assert drifting and statistics.mean(drifting) < statistics.mean(steady) - 40

    # Every survey's results page has something to show.
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username="admin"))
    for survey in Survey.objects.all():
        assert client.get(f"/surveys/{survey.pk}/results/").status_code == 200
    csi = Survey.objects.get(name__startswith="Service visit")
    units = results.survey_results(csi, results.Filters(), "", "en").units
    assert len(units) >= 3

    # The same seed gives the same answers.
    before = snapshot()
    run_demo("--reset")
    assert snapshot() == before
