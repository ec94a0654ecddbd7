"""The Customer 360 page: profile, identities, consent, merges and the filtered timeline."""

from __future__ import annotations

import time
from datetime import date, timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from rapport.customers.models import AttributeDefinition, Consent, Customer
from tests.ui.conftest import BASE, add_touchpoints


def url(customer) -> str:
    return reverse("customers:detail", args=[customer.pk])


def external_ids(response) -> list[str]:
    return [e.object.external_id for e in response.context["timeline"].entries]


def test_profile_identities_and_typed_attributes(people, as_user):
    AttributeDefinition.objects.create(name="vip", label="VIP", type="boolean")
    response = as_user("taipei_agent").get(url(people["lin"]))
    assert response.status_code == 200
    body = response.content.decode()
    for text in ["Lin Mei-ling", "lin@example.com", "+886912345678", "Taipei", "C-1001", "D-77"]:
        assert text in body
    attrs = {a["name"]: a for a in response.context["attributes"]}
    assert attrs["vip"]["label"] == "VIP" and attrs["vip"]["type_code"] == "boolean"
    assert attrs["model_year"]["type_code"] == "string"  # not registered: shown as text


def test_timeline_renders_touchpoint_details(people, as_user):
    body = as_user("cx").get(url(people["lin"])).content.decode()
    assert "Purchase" in body and "Service visit" in body and "Inquiry" in body
    assert "1,250,000.00 TWD" in body and "85,000.50 TWD" in body
    assert "model: RX 350" in body and "dms:sale-1" in body


def test_another_units_customer_is_404(people, as_user):
    assert as_user("taipei_agent").get(url(people["chen"])).status_code == 404
    assert as_user("khh_agent").get(url(people["lin"])).status_code == 404
    assert as_user("north_mgr").get(url(people["chen"])).status_code == 404
    assert as_user("khh_agent").get(url(people["chen"])).status_code == 200


def test_timeline_is_newest_first_and_filters(people, org, as_user):
    client = as_user("cx")
    lin = people["lin"]
    assert external_ids(client.get(url(lin))) == [
        "call-1",
        "sale-1",
        *[f"svc-{lin.pk}-{i}" for i in range(3)],
    ]
    assert external_ids(client.get(url(lin), {"kind": "purchase"})) == ["sale-1"]
    assert external_ids(client.get(url(lin), {"channel": "phone"})) == ["call-1"]
    # A unit includes its subtree: North holds Taipei, South holds Kaohsiung.
    assert "call-1" not in external_ids(client.get(url(lin), {"unit": org["north"].pk}))
    assert external_ids(client.get(url(lin), {"unit": org["south"].pk})) == ["call-1"]
    day = (BASE + timedelta(days=1)).date().isoformat()
    assert external_ids(client.get(url(lin), {"since": day, "until": day})) == ["sale-1"]
    assert external_ids(client.get(url(lin), {"since": day})) == ["call-1", "sale-1"]


def test_a_bad_filter_is_reported_not_crashing(people, as_user):
    response = as_user("cx").get(url(people["lin"]), {"since": "2025-03-05", "until": "2025-03-01"})
    assert response.status_code == 200
    assert "must not be after" in response.content.decode()
    response = as_user("cx").get(url(people["lin"]), {"since": "yesterday", "before": "junk"})
    assert response.status_code == 200
    assert len(response.context["timeline"].entries) == 5


def test_timeline_pages_cover_everything_once(people, sources, as_user):
    lin = people["lin"]
    add_touchpoints(lin, sources["crm"], 120, prefix="web", kind="web_visit", channel="web")
    # Several at the very same instant: the keyset must still neither skip nor repeat.
    add_touchpoints(lin, sources["crm"], 1, prefix="same-a", start=BASE - timedelta(days=3))
    add_touchpoints(lin, sources["crm"], 1, prefix="same-b", start=BASE - timedelta(days=3))
    client = as_user("cx")
    seen: list[str] = []
    params: dict[str, str] = {}
    for _page in range(10):
        response = client.get(url(lin), params, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="timeline")
        assert "<html" not in response.content.decode()
        page = response.context["timeline"]
        assert len(page.entries) <= 50
        seen += external_ids(response)
        if page.next_cursor is None:
            break
        params = {"before": str(page.next_cursor)}
    assert len(seen) == len(set(seen)) == lin.touchpoints.count() == 127
    times = [tp.occurred_at for tp in lin.touchpoints.order_by("-occurred_at", "-pk")]
    assert seen == [tp.external_id for tp in lin.touchpoints.order_by("-occurred_at", "-pk")], (
        times[:3]
    )


def test_merged_customer_points_to_the_survivor(people, as_user):
    Customer.objects.filter(pk=people["chen"].pk).update(merged_into=people["lin"])
    body = as_user("cx").get(url(people["chen"])).content.decode()
    assert "was merged into" in body
    assert url(people["lin"]) in body


def test_consent_is_recorded_from_the_ui(people, as_user):
    lin = people["lin"]
    post = reverse("customers:consent", args=[lin.pk])
    response = as_user("taipei_agent").post(post, {"email__marketing": "yes", "sms__survey": "no"})
    assert response.status_code == 302
    got = {(c.channel, c.purpose): (c.granted, c.source) for c in lin.consents.all()}
    assert got == {("email", "marketing"): (True, "ui"), ("sms", "survey"): (False, "ui")}
    assert lin.may_contact("email", "marketing") and not lin.may_contact("sms", "survey")


def test_analyst_cannot_change_consent_and_sees_no_form(people, as_user):
    lin = people["lin"]
    client = as_user("analyst")
    response = client.post(reverse("customers:consent", args=[lin.pk]), {"email__marketing": "yes"})
    assert response.status_code == 403
    assert not Consent.objects.exists()
    assert "Save consent" not in client.get(url(lin)).content.decode()


def test_consent_post_needs_a_csrf_token(people, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["cx"])
    response = client.post(
        reverse("customers:consent", args=[people["lin"].pk]), {"email__marketing": "yes"}
    )
    assert response.status_code == 403
    assert not Consent.objects.exists()


def test_other_units_consent_is_404(people, as_user):
    response = as_user("taipei_agent").post(
        reverse("customers:consent", args=[people["chen"].pk]), {"email__marketing": "yes"}
    )
    assert response.status_code == 404


# session, user, 2× permissions, staff, staff's unit, customer (with its first touchpoint, for
# "customer since", in the same query), kinds (filter), touchpoints, kinds (labels), survey
# responses, cases, feedback items, merges, identities, attribute definitions, consents, units.
# (16 → 18: the timeline gained its cases and feedback entries.)
DETAIL_QUERIES = 18


def test_query_count_does_not_grow_with_the_timeline(
    people, sources, as_user, django_assert_num_queries
):
    """5,000 touchpoints cost the same number of queries as five, and render in < 150 ms."""
    lin = people["lin"]
    client = as_user("taipei_agent")
    with django_assert_num_queries(DETAIL_QUERIES):
        client.get(url(lin))
    add_touchpoints(lin, sources["crm"], 5000, prefix="bulk", context={"campaign": "spring"})
    if connection.vendor == "postgresql":  # statistics, as autovacuum keeps them in production
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE touchpoints_touchpoint")
    with django_assert_num_queries(DETAIL_QUERIES):
        response = client.get(url(lin))
    assert len(response.context["timeline"].entries) == 50
    timings = [server_time(client, url(lin)) for _ in range(5)]
    assert min(timings) < 0.150, timings


def server_time(client, path: str) -> float:
    """Seconds of work the request costs the server: this thread's CPU time (which, unlike the
    wall clock, other busy processes on the machine do not inflate), plus the time the queries
    took when the database is a separate server (SQLite's work is already in the CPU time)."""
    with CaptureQueriesContext(connection) as queries:
        started = time.thread_time()
        client.get(path)
        cpu = time.thread_time() - started
    if connection.vendor == "sqlite":
        return cpu
    return cpu + sum(float(q["time"]) for q in queries.captured_queries)


def test_customer_since_is_the_first_touchpoint_not_the_import_date(people, sources, as_user):
    """An imported customer was created today; their history says since when they are one."""
    lin = people["lin"]
    add_touchpoints(lin, sources["crm"], 1, prefix="old", start=BASE - timedelta(days=800))
    response = as_user("cx").get(url(lin))
    first = (BASE - timedelta(days=800)).astimezone(timezone.get_current_timezone()).date()
    assert response.context["customer"].since == first
    assert date_format(first, "SHORT_DATE_FORMAT") in response.content.decode()


def test_customer_since_takes_an_earlier_stated_date(people, as_user):
    """A source system may know an older start than any touchpoint Rapport holds."""
    lin = people["lin"]
    lin.attributes = {**lin.attributes, "customer_since": "2011-06-30"}
    lin.save()
    response = as_user("cx").get(url(lin))
    assert response.context["customer"].since == date(2011, 6, 30)
    # A later stated date does not move the start past the first touchpoint; junk is ignored.
    for stated in ("2030-01-01", "not a date"):
        lin.attributes["customer_since"] = stated
        lin.save()
        assert as_user("cx").get(url(lin)).context["customer"].since < date(2026, 1, 1)


def test_customer_since_without_touchpoints_is_the_creation_date(people, as_user):
    chen = people["chen"]
    chen.touchpoints.all().delete()
    response = as_user("cx").get(url(chen))
    assert response.context["customer"].since == timezone.localdate(chen.created_at)
    assert Customer.objects.get(pk=chen.pk).since == timezone.localdate(chen.created_at)
