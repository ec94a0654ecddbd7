"""Touchpoint records: validation, time zones, idempotency, modes, outcomes and events."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from rapport.core import events
from rapport.customers.models import Customer
from rapport.org.models import Staff
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint, TouchpointKind

UTC = dt.UTC


def rec(n=1, **extra):
    base = {"external_id": f"t{n}", "customer_external_id": "c1",
            "occurred_at": "2024-05-01T10:00:00", "kind": "service_visit"}  # fmt: skip
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def staffed(org):
    Staff.objects.create(code="amy", display_name="Amy", unit=org["taipei"])
    org["london"] = org["ent"].children.create(
        code="london", name="London", kind="branch", time_zone="Europe/London"
    )
    return org


def test_a_full_record_from_csv_strings(staffed):
    report = ingest_touchpoints(
        [rec(unit="taipei", staff="amy", channel="Branch", amount="1234.50", margin="-10",
             currency="twd", **{"context.visit_type": "regular", "context.empty": ""})],
        source="dms",
    )  # fmt: skip
    assert report.created == 1 and report.committed
    t = Touchpoint.objects.get()
    assert t.occurred_at == dt.datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # naive = the unit's zone
    assert (t.channel, t.kind, t.unit.code, t.staff.code) == (
        "branch",
        "service_visit",
        "taipei",
        "amy",
    )
    assert (t.amount, t.margin, t.currency) == (Decimal("1234.50"), Decimal("-10.00"), "TWD")
    assert t.context == {"visit_type": "regular"}
    assert t.source.code == "dms" and t.external_id == "t1"


def test_time_zones(staffed):
    ingest_touchpoints(
        [rec(1, unit="london"), rec(2), rec(3, occurred_at="2024-05-01T10:00:00-05:00"),
         rec(4, occurred_at="2024-05-01T10:00:00Z", unit="london")],
        source="dms",
    )  # fmt: skip
    got = dict(Touchpoint.objects.values_list("external_id", "occurred_at"))
    assert got["t1"] == dt.datetime(2024, 5, 1, 9, 0, tzinfo=UTC)  # London summer time
    assert got["t2"] == dt.datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # no unit: the enterprise's
    assert got["t3"] == dt.datetime(2024, 5, 1, 15, 0, tzinfo=UTC)  # an offset wins
    assert got["t4"] == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@override_settings(RAPPORT_DEFAULT_TIME_ZONE="America/New_York")
def test_without_any_unit_the_setting_decides(db):
    ingest_touchpoints([rec()], source="dms")
    assert Touchpoint.objects.get().occurred_at == dt.datetime(2024, 5, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "teleportation"}, "kind"),
        ({"kind": None}, "kind"),
        ({"kind": 5}, "kind"),
        ({"channel": "pigeon"}, "channel"),
        ({"unit": "atlantis"}, "unit"),
        ({"staff": "nobody"}, "staff"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1714557600}, "occurred_at"),
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": "1899-12-31T00:00:00+00:00"}, "occurred_at"),
        ({"amount": "1,234.50", "currency": "TWD"}, "amount"),
        ({"amount": "abc", "currency": "TWD"}, "amount"),
        ({"amount": True, "currency": "TWD"}, "amount"),
        ({"amount": "10.005", "currency": "TWD"}, "amount"),
        ({"amount": "10"}, "currency"),
        ({"margin": 3, "currency": "dollars"}, "currency"),
        ({"customer_external_id": None}, "customer_external_id"),
        ({"customer_external_id": {"id": 1}}, "customer_external_id"),
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"context": "text"}, "context"),
        ({"colour": "red"}, "colour"),
        ({"external_id": "x" * 201}, "external_id"),
    ],
)
def test_bad_records_are_rejected_with_the_field_named(staffed, changes, field):
    report = ingest_touchpoints([rec(1), rec(2, **changes)], source="dms")
    assert (report.rejected, report.committed) == (1, False)
    assert [(p.line, p.field) for p in report.problems] == [(2, field)]
    assert report.created == 0 and not Touchpoint.objects.exists()


def test_future_dates(db):
    soon = (timezone.now() + dt.timedelta(hours=12)).isoformat()
    later = (timezone.now() + dt.timedelta(days=3)).isoformat()
    report = ingest_touchpoints([rec(1, occurred_at=soon), rec(2, occurred_at=later)], source="dms",
                                mode="skip_invalid")  # fmt: skip
    assert (report.created, report.rejected) == (1, 1)
    assert "future" in report.problems[0].message


def test_typed_json_values_mean_the_same_as_strings(db):
    ingest_touchpoints(
        [rec(None, external_id=None, amount=12.5, currency="TWD", customer_external_id=7)],
        source="web",
    )
    again = ingest_touchpoints(
        [rec(None, external_id=None, amount="12.50", currency="twd", customer_external_id="7")],
        source="web",
    )
    assert again.duplicates == 1  # the content hash of the same record is the same
    assert Touchpoint.objects.get().external_id.startswith("h:")


def test_idempotent_and_duplicates_within_one_input(db):
    report = ingest_touchpoints([rec(1), rec(2), rec(1)], source="dms")
    assert (report.created, report.duplicates) == (2, 1)
    again = ingest_touchpoints([rec(1), rec(2)], source="dms")
    assert (again.created, again.duplicates) == (0, 2)
    assert ingest_touchpoints([rec(1)], source="other").created == 1  # ids are per source
    assert Touchpoint.objects.count() == 3 and Customer.objects.count() == 2


def test_per_record_outcomes(staffed):
    ingest_touchpoints([rec(1)], source="dms")
    report = ingest_touchpoints(
        [rec(1), rec(2, kind="nope"), rec(3), rec(3)], source="dms", mode="per_record"
    )
    stored = dict(Touchpoint.objects.values_list("external_id", "id"))
    assert [(o.index, o.status, o.id) for o in report.outcomes] == [
        (0, "duplicate", stored["t1"]), (1, "rejected", None), (2, "created", stored["t3"]),
        (3, "duplicate", stored["t3"]),
    ]  # fmt: skip
    assert report.outcomes[1].problems[0].field == "kind"


def test_registered_kinds_and_progress(db):
    TouchpointKind.objects.create(code="test_drive", label="Test drive")
    seen = []
    report = ingest_touchpoints([rec(1, kind="test_drive")], source="dms", progress=seen.append)
    assert report.created == 1 and seen == [1]


def test_touchpoint_created_events_only_when_someone_listens(
    db, django_capture_on_commit_callbacks, settings
):
    settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = 100_000  # these records are from 2024
    heard = []

    def handler(event_type, payloads):
        heard.extend(payloads)

    with django_capture_on_commit_callbacks(execute=True):
        ingest_touchpoints([rec(1)], source="dms")
    events._handlers["touchpoint.created"].append(handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest_touchpoints([rec(1), rec(2, amount="5", currency="TWD")], source="dms")
        with django_capture_on_commit_callbacks(execute=True):
            ingest_touchpoints([rec(3)], source="dms", emit_events=False)
    finally:
        events._handlers["touchpoint.created"].remove(handler)
    t2 = Touchpoint.objects.get(external_id="t2")
    assert heard == [
        {"id": t2.pk, "customer_id": t2.customer_id, "occurred_at": "2024-05-01T02:00:00+00:00",
         "kind": "service_visit", "channel": "other", "source": "dms", "external_id": "t2",
         "unit_id": None, "staff_id": None, "amount": "5.00", "margin": None, "currency": "TWD",
         "context": {}},
    ]  # fmt: skip


def test_in_process_handlers_hear_only_live_touchpoints(db, settings):
    settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = 7
    heard = []
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    events._handlers["touchpoint.created"].append(lambda et, p: heard.extend(p))
    try:
        report = ingest_touchpoints(
            [rec(1), {**rec(2), "occurred_at": recent}, rec(3)], source="dms"
        )
    finally:
        events._handlers["touchpoint.created"].pop()
    assert report.created == 3 and Touchpoint.objects.count() == 3
    assert [p["external_id"] for p in heard] == ["t2"]


def test_webhook_subscription_gets_the_event(db):
    from rapport.integrations.models import WebhookDelivery, WebhookSubscription

    WebhookSubscription.objects.create(
        url="https://example.com/hook", event_types=["touchpoint.created"]
    )
    ingest_touchpoints([rec(1)], source="dms")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "touchpoint.created"
    assert delivery.payload["data"]["external_id"] == "t1"


def test_problems_are_capped_but_counted(db):
    report = ingest_touchpoints(
        [rec(i, kind="bad", channel="bad") for i in range(80)], source="dms"
    )
    assert report.rejected == 80 and report.problem_count == 160 and len(report.problems) == 100
