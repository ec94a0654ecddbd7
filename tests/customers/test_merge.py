"""Merging moves all history, is audited, emits customer.merged, and undo restores exactly."""

import pytest

from rapport.core import events
from rapport.customers import actions
from rapport.customers.ingest import ingest_customers
from rapport.customers.models import (
    Consent,
    Customer,
    CustomerIdentity,
    IdentityReview,
    Merge,
    SourceSystem,
)
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint


@pytest.fixture
def heard():
    """Every customer.merged payload emitted (in-process handlers run after commit)."""
    seen = []

    def handler(event_type, payloads):
        seen.extend(payloads)

    events._handlers["customer.merged"].append(handler)
    yield seen
    events._handlers["customer.merged"].remove(handler)


def snapshot():
    return {
        "customers": sorted(
            Customer.objects.values_list(
                "pk", "display_name", "email", "phone", "home_unit", "attributes", "merged_into"
            )
        ),
        "touchpoints": sorted(Touchpoint.objects.values_list("pk", "customer")),
        "identities": sorted(CustomerIdentity.objects.values_list("pk", "customer")),
        "consents": sorted(Consent.objects.values_list("pk", "customer", "channel", "granted")),
        "candidates": sorted(
            IdentityReview.candidates.through.objects.values_list("identityreview", "customer")
        ),
    }


@pytest.fixture
def pair(org):
    from rapport.customers.models import AttributeDefinition

    AttributeDefinition.objects.create(name="model_year", type="integer")
    AttributeDefinition.objects.create(name="vip", type="boolean")
    ingest_customers(
        [
            {"external_id": "a", "name": "Lin", "email": "lin@example.com", "attr.vip": "yes",
             "consent.email.marketing": "yes", "consent.sms.survey": "no"},
            {"external_id": "b", "phone": "0912000111", "unit": "taipei", "attr.model_year": "2019",
             "attr.vip": "no", "consent.email.marketing": "no", "consent.phone.service": "yes"},
        ],
        source="crm",
    )  # fmt: skip
    ingest_touchpoints(
        [{"external_id": f"t{i}", "customer_external_id": "ab"[i % 2], "kind": "purchase",
          "occurred_at": f"2024-01-0{i + 1}T09:00:00"} for i in range(5)],
        source="crm",
    )  # fmt: skip
    # a review naming both (the survivor's candidacy stays; b's is dropped) and one naming b only
    ingest_touchpoints(
        [{"external_id": "r1", "customer_email": "lin@example.com", "customer_phone": "0912000111",
          "occurred_at": "2024-02-01T09:00:00", "kind": "inquiry"}],
        source="web",
    )  # fmt: skip
    other = IdentityReview.objects.create(
        source=SourceSystem.objects.get(code="crm"), external_id="zz", record={}, reason="x"
    )
    b = CustomerIdentity.objects.get(external_id="b").customer
    other.candidates.add(b)
    a = CustomerIdentity.objects.get(external_id="a").customer
    return a, b


def test_merge_moves_history_and_undo_restores_exactly(
    pair, users, heard, django_capture_on_commit_callbacks
):
    survivor, merged = pair
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        merge = actions.merge_customers(survivor, merged, user=users["cx"], reason="same person")

    assert set(Touchpoint.objects.values_list("customer", flat=True)) == {survivor.pk}
    assert set(CustomerIdentity.objects.values_list("customer", flat=True)) == {survivor.pk}
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert merged.merged_into == survivor
    assert survivor.phone == "+886912000111" and survivor.home_unit.code == "taipei"  # filled
    assert survivor.display_name == "Lin"  # kept
    assert survivor.attributes == {"vip": True, "model_year": 2019}  # the survivor's vip wins
    kept = {(c.channel, c.purpose): c.granted for c in survivor.consents.all()}
    assert kept == {
        ("email", "marketing"): True,
        ("sms", "survey"): False,
        ("phone", "service"): True,
    }
    left = merged.consents.get()  # the conflicting one stays behind
    assert (left.channel, left.purpose, left.granted) == ("email", "marketing", False)
    for review in IdentityReview.objects.all():
        assert merged not in review.candidates.all()
    assert merge.performed_by == users["cx"] and merge.reason == "same person"
    assert heard == [
        {"merge_id": merge.pk, "survivor_id": survivor.pk, "merged_id": merged.pk,
         "undone": False, "at": merge.performed_at.isoformat()},
    ]  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        actions.undo_merge(merge, user=users["cx"])
    assert snapshot() == before
    merge.refresh_from_db()
    assert merge.undone_at is not None and merge.undone_by == users["cx"]
    assert heard[-1]["undone"] is True
    with pytest.raises(ValueError):
        actions.undo_merge(merge)


def test_merged_customers_cannot_be_merged_again(pair):
    survivor, merged = pair
    actions.merge_customers(survivor, merged)
    with pytest.raises(ValueError):
        actions.merge_customers(survivor, Customer.objects.get(pk=merged.pk))
    with pytest.raises(ValueError):
        actions.merge_customers(survivor, survivor)
    assert Merge.objects.count() == 1


def test_undo_waits_for_a_later_merge_of_the_survivor(pair):
    survivor, merged = pair
    third = Customer.objects.create(display_name="Third")
    first = actions.merge_customers(survivor, merged)
    second = actions.merge_customers(third, Customer.objects.get(pk=survivor.pk))
    with pytest.raises(ValueError, match="undo that merge first"):
        actions.undo_merge(first)
    actions.undo_merge(second)
    actions.undo_merge(first)
    assert not Customer.objects.filter(merged_into__isnull=False).exists()
