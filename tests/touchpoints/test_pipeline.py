"""The ingestion pipeline: a reader thread validates the next batch while the caller writes.
Failures on either side surface in the caller and leave nothing written; identities and new
customers created on the fast paths are what the ORM would have stored."""

import threading

import pytest
from django.db import OperationalError, connection
from django.utils import timezone, translation

from rapport.core.ingestion import BATCH_SIZE, in_background
from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint


def rec(n, customer=None):
    return {
        "external_id": f"t{n}",
        "customer_external_id": customer or f"c{n % 50}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "kind": "payment",
        "amount": "10.50",
        "currency": "TWD",
    }


def readers():
    return [t for t in threading.enumerate() if t.name == "rapport-ingest-reader"]


def test_results_come_in_order_in_the_callers_language():
    with translation.override("zh-hant"):
        seen = list(in_background(range(20), lambda n: (n, translation.get_language())))
    assert seen == [(n, "zh-hant") for n in range(20)]
    assert not readers()


def test_stopping_early_stops_the_reader():
    stream = in_background(iter(range(10**9)), lambda n: n)
    assert next(stream) == 0
    stream.close()
    assert not readers()


def test_a_failure_while_reading_surfaces_and_nothing_is_written(db):
    def records():
        for n in range(BATCH_SIZE + 10):  # the first batch is written before the failure
            yield rec(n)
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    with pytest.raises(UnicodeDecodeError):
        ingest_touchpoints(records(), source="dms")
    assert not readers()
    assert not Touchpoint.objects.exists() and not Customer.objects.exists()
    assert not SourceSystem.objects.filter(code="dms").exists()


def test_a_database_error_while_writing_surfaces_and_nothing_is_written(db):
    inserts = []

    def fail_second_insert(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "touchpoints_touchpoint"'):
            inserts.append(sql)
            if len(inserts) == 2:
                raise OperationalError("disk I/O error")
        return execute(sql, params, many, context)

    with (
        connection.execute_wrapper(fail_second_insert),
        pytest.raises(OperationalError, match="disk I/O error"),
    ):
        ingest_touchpoints((rec(n) for n in range(BATCH_SIZE * 3)), source="dms")
    assert len(inserts) == 2
    assert not readers()
    assert not Touchpoint.objects.exists() and not Customer.objects.exists()


def test_a_customer_created_in_one_batch_is_found_by_the_next(db):
    records = [rec(n, customer="same") for n in range(BATCH_SIZE + 5)]
    report = ingest_touchpoints(records, source="dms")
    assert report.created == BATCH_SIZE + 5
    customer = Customer.objects.get()
    assert Touchpoint.objects.filter(customer=customer).count() == BATCH_SIZE + 5
    assert list(CustomerIdentity.objects.values_list("external_id", "customer_id")) == [
        ("same", customer.pk)
    ]


def test_new_customers_get_what_the_orm_would_store(org):
    before = timezone.now()
    ingest_touchpoints(
        [
            {
                **rec(1, customer="c-new"),
                "customer_email": "Lin@Example.com",
                "customer_phone": "0912-345-678",
                "customer_name": "林小姐",
                "unit": "taipei",
            }
        ],
        source="dms",
    )
    c = Customer.objects.get()
    assert (c.display_name, c.email, c.phone, c.home_unit, c.preferred_language) == (
        "林小姐",
        "lin@example.com",
        "+886912345678",
        org["taipei"],
        "en",
    )
    assert c.attributes == {} and c.merged_into is None
    assert before <= c.created_at == c.updated_at <= timezone.now()
    identity = CustomerIdentity.objects.get()
    assert (identity.external_id, identity.customer, identity.source.code) == ("c-new", c, "dms")
    assert before <= identity.created_at <= timezone.now()
