"""record_feedback: analysis stored beside the original text, customers resolved, idempotency,
and bad input stored without crashing."""

from __future__ import annotations

import pytest

from rapport.feedback.actions import record_feedback
from rapport.feedback.models import FeedbackItem, FeedbackLabel
from rapport.feedback.records import MAX_TEXT
from tests.feedback.conftest import NEGATIVE_EN, NEGATIVE_ZH, POSITIVE_EN, item

pytestmark = pytest.mark.django_db


def test_items_are_analysed_and_labelled(org):
    done = record_feedback([item(NEGATIVE_EN), item(POSITIVE_EN), item(NEGATIVE_ZH)])
    assert [d.status for d in done] == ["created"] * 3
    neg, pos, zh = (FeedbackItem.objects.get(pk=d.id) for d in done)
    assert neg.text == NEGATIVE_EN  # the original is kept as data
    assert neg.sentiment == "negative" and neg.sentiment_score < 0
    assert pos.sentiment == "positive" and pos.sentiment_score > 0
    assert zh.language.startswith("zh")
    assert neg.analyzed_at is not None and neg.channel == "api"
    labels = set(FeedbackLabel.objects.filter(item=neg).values_list("kind", "key"))
    assert labels == {("cause", c) for c, _p in neg.causes}


def test_customer_is_resolved_by_id_email_phone_and_external_id(lin, bob, org):
    done = record_feedback(
        [
            item(customer_id=lin.pk),
            item(customer_email="LIN@example.com"),
            item(author_contact="0912 345 678"),
            item(customer_external_id="R-1"),
            item(author_contact="stranger@example.com", author_name="Stranger"),
        ],
        source="reviews",
    )
    rows = [FeedbackItem.objects.get(pk=d.id) for d in done]
    assert [r.customer_id for r in rows] == [lin.pk, lin.pk, lin.pk, lin.pk, None]
    assert rows[0].unit_id == org["taipei"].pk  # the customer's home unit when none is given
    assert rows[4].author_name == "Stranger" and rows[4].unit_id is None


def test_an_ambiguous_email_is_never_guessed(org, lin):
    from rapport.customers.models import Customer

    Customer.objects.create(display_name="Twin", email="twin@example.com")
    Customer.objects.create(display_name="Twin 2", email="twin@example.com")
    (done,) = record_feedback([item(customer_email="twin@example.com")])
    assert FeedbackItem.objects.get(pk=done.id).customer_id is None


def test_sending_again_is_a_duplicate(org):
    first = record_feedback([item(external_id="x-1"), item(external_id="x-2")], source="app")
    again = record_feedback([item(external_id="x-1"), item(external_id="x-3")], source="app")
    assert [d.status for d in first] == ["created", "created"]
    assert [d.status for d in again] == ["duplicate", "created"]
    assert again[0].id == first[0].id
    # the same external id from another source is another item
    other = record_feedback([item(external_id="x-1")], source="web")
    assert other[0].status == "created"
    assert FeedbackItem.objects.count() == 4


def test_a_batch_repeating_an_id_stores_it_once(org):
    done = record_feedback([item(external_id="d"), item(external_id="d")])
    assert [d.status for d in done] == ["created", "duplicate"]
    assert FeedbackItem.objects.count() == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😡😡😡🤬",
        "👍",
        "a" * (MAX_TEXT + 5000),
        "\x00\x01\x02binary\xff\xfe" + "".join(chr(i) for i in range(0, 256)),
        "lone \ud800 surrogate and NUL \x00",
        "Mixed 中英 text: the 保養 was 很好 but price 太貴",
        "<script>alert('x')</script><img src=x onerror=alert(1)>",
    ],
    ids=["empty", "emoji-angry", "emoji-ok", "over-1MB", "binary", "surrogate", "mixed", "script"],
)
def test_bad_input_is_stored_without_crashing(org, text):
    (done,) = record_feedback([item(text)])
    row = FeedbackItem.objects.get(pk=done.id)
    assert len(row.text) <= MAX_TEXT
    assert "\x00" not in row.text
    assert row.sentiment in {"negative", "neutral", "positive"}
    if text.startswith("<script>"):
        assert row.text == text  # stored as data, exactly


def test_binary_bytes_are_decoded_with_replacement(org):
    from rapport.feedback.records import clean_text

    assert clean_text(b"\xff\xfeok\x00") == "\ufffd\ufffdok\ufffd"


def test_an_empty_batch_does_nothing(org, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert record_feedback([]) == []


def test_a_batch_costs_a_fixed_number_of_queries(org, lin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rapport.cases.models import CaseRule

    # the intake's own cost: the cases a rule opens are priced in tests/cases
    CaseRule.objects.filter(condition="sentiment_at_most").update(active=False)

    def batch(prefix: str, n: int) -> list:
        return [
            item(NEGATIVE_EN, customer_email="lin@example.com", external_id=f"{prefix}{i}")
            for i in range(n)
        ]

    record_feedback(batch("warm", 1))  # the analyser is loaded once per process
    with CaptureQueriesContext(connection) as small:
        record_feedback(batch("a", 3))
    with CaptureQueriesContext(connection) as large:
        record_feedback(batch("b", 25))  # SQLite splits longer inserts
    assert len(large) == len(small) <= 12
