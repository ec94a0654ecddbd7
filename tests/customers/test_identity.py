"""Identity resolution: the pure rules, and the same rules through real ingestion."""

import pytest

from rapport.customers import actions
from rapport.customers.identity import AMBIGUOUS, MATCH, NEW, follow_merges, resolve
from rapport.customers.ingest import ingest_customers
from rapport.customers.models import Customer, CustomerIdentity, IdentityReview
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint


def test_rules():
    assert resolve(7, {1}, {2}) == resolve(7)  # a known identity settles it
    assert resolve(7).kind == MATCH and resolve(7).by == "external_id"
    assert resolve(None, {1}, ()).customer_id == 1
    assert resolve(None, {1}, {1, 2}).customer_id == 1  # the phone agrees
    assert resolve(None, (), {2}).by == "phone"
    assert resolve(None).kind == NEW
    assert resolve(None, {1, 2}).kind == AMBIGUOUS
    both = resolve(None, {1}, {2})
    assert both.kind == AMBIGUOUS and both.candidates == (1, 2)
    assert resolve(None, (), {2, 3}).kind == AMBIGUOUS
    assert follow_merges(1, {1: 2, 2: 3, 3: None}) == 3


def tp(n, **extra):
    return {
        "external_id": f"t{n}",
        "occurred_at": "2024-05-01T10:00:00",
        "kind": "inquiry",
        **extra,
    }


@pytest.fixture
def known(db):
    report = ingest_customers(
        [
            {"external_id": "c1", "name": "Lin", "email": "lin@example.com", "phone": "0912345678"},
            {
                "external_id": "c2",
                "name": "Chen",
                "email": "chen@example.com",
                "phone": "0922333444",
            },
        ],
        source="crm",
    )
    assert report.created == 2
    return {c.display_name: c for c in Customer.objects.all()}


def test_match_by_source_id_then_email_then_phone(known):
    ingest_touchpoints([tp(1, customer_external_id="c1")], source="crm")
    ingest_touchpoints(
        [tp(2, customer_external_id="w9", customer_email="LIN@example.com ")], source="web"
    )
    ingest_touchpoints(
        [tp(3, customer_external_id="d5", customer_phone="+886 922 333 444")], source="dms"
    )
    owners = dict(Touchpoint.objects.values_list("external_id", "customer__display_name"))
    assert owners == {"t1": "Lin", "t2": "Lin", "t3": "Chen"}
    # a matched record links its identity, so the next one resolves by id
    assert (
        CustomerIdentity.objects.get(source__code="web", external_id="w9").customer == known["Lin"]
    )
    assert Customer.objects.count() == 2


def test_unknown_customer_is_created_once_per_identity(db):
    report = ingest_touchpoints(
        [tp(1, customer_external_id="x1", customer_name="New"), tp(2, customer_external_id="x1")],
        source="dms",
    )
    assert report.created == 2
    assert Customer.objects.get().display_name == "New"
    assert CustomerIdentity.objects.get().external_id == "x1"


def test_ambiguous_goes_to_review_and_resolving_writes_the_touchpoint(known, users):
    record = tp(9, customer_external_id="w1", customer_email="lin@example.com",
                customer_phone="0922333444")  # fmt: skip
    report = ingest_touchpoints([record], source="web", keep_outcomes=True)
    assert (report.review, report.created) == (1, 0)
    assert report.outcomes[0].status == "review"
    assert not Touchpoint.objects.exists()
    review = IdentityReview.objects.get()
    assert set(review.candidates.all()) == {known["Lin"], known["Chen"]}
    assert review.record["data"]["external_id"] == "t9"  # nothing lost
    # sending it again neither writes it nor queues it twice
    assert ingest_touchpoints([record], source="web").review == 1
    assert IdentityReview.objects.count() == 1

    chosen = actions.resolve_review(review, customer=known["Chen"], user=users["cx"])
    assert chosen == known["Chen"]
    assert Touchpoint.objects.get().customer == known["Chen"]
    review.refresh_from_db()
    assert review.status == "resolved" and review.resolved_by == users["cx"]
    # the identity is now known: the next record resolves without a review
    assert ingest_touchpoints([tp(10, customer_external_id="w1")], source="web").created == 1
    with pytest.raises(ValueError):
        actions.resolve_review(review, customer=known["Lin"])


def test_resolving_with_a_new_customer_and_dismissing(known):
    record = tp(5, customer_email="chen@example.com", customer_phone="0912345678",
                customer_name="Someone else")  # fmt: skip
    ingest_touchpoints(
        [record, tp(6, customer_email="lin@example.com", customer_phone="0922333444")], source="web"
    )
    first, second = IdentityReview.objects.order_by("pk")
    created = actions.resolve_review(first, customer=None)
    assert created.display_name == "Someone else" and created.email == "chen@example.com"
    assert Touchpoint.objects.get(external_id="t5").customer == created
    actions.dismiss_review(second)
    second.refresh_from_db()
    assert second.status == "dismissed" and second.record["data"]["external_id"] == "t6"
    assert not Touchpoint.objects.filter(external_id="t6").exists()


def test_customer_records_go_to_review_too(known):
    report = ingest_customers(
        [{"external_id": "k1", "email": "lin@example.com", "phone": "0922333444", "name": "K"}],
        source="loyalty",
    )
    assert report.review == 1 and Customer.objects.count() == 2
    review = IdentityReview.objects.get()
    actions.resolve_review(review, customer=known["Lin"])
    known["Lin"].refresh_from_db()
    assert known["Lin"].display_name == "K"
    assert CustomerIdentity.objects.get(source__code="loyalty").customer == known["Lin"]


def test_merged_customers_are_never_matched(known):
    actions.merge_customers(known["Lin"], known["Chen"])
    ingest_touchpoints([tp(1, customer_external_id="c2")], source="crm")
    ingest_touchpoints([tp(2, customer_email="chen@example.com")], source="web")
    assert set(Touchpoint.objects.values_list("customer", flat=True)) == {known["Lin"].pk}
