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


@pytest.mark.parametrize("limit", [200_000, 1000])
def test_a_big_batch_resolves_known_identities_in_one_read(db, limit, monkeypatch):
    """A batch naming many unknown-to-the-cache ids loads the source's identity map at once
    (KnownIdentities.preload), or asks per id when the map is too big: the same outcome,
    merges followed, no customer doubled."""
    from rapport.customers import ingest as customer_ingest

    known = 1500
    # A limit below the source's 1,500 identities: no preload, look-ups by id as before.
    monkeypatch.setattr(customer_ingest.KnownIdentities.__init__, "__defaults__", (limit,))
    preloads: list[bool] = []
    real_preload = customer_ingest.KnownIdentities.preload

    def preload(self, source_id):
        preloads.append(real_preload(self, source_id))
        return preloads[-1]

    monkeypatch.setattr(customer_ingest.KnownIdentities, "preload", preload)
    source = SourceSystem.objects.create(code="dms", name="DMS")
    people = Customer.objects.bulk_create(Customer(display_name=f"p{i}") for i in range(known))
    CustomerIdentity.objects.bulk_create(
        CustomerIdentity(source=source, external_id=f"k{i}", customer=p)
        for i, p in enumerate(people)
    )
    survivor = people[1]
    Customer.objects.filter(pk=people[0].pk).update(merged_into=survivor)
    names = [f"k{i}" for i in range(known)] + [f"new{i}" for i in range(200)]
    records = [rec(n, customer=names[n % len(names)]) for n in range(2 * len(names))]
    report = ingest_touchpoints(records, source="dms")
    assert report.created == len(records) and report.committed
    assert preloads == [limit > known]
    assert Customer.objects.count() == known + 200
    assert CustomerIdentity.objects.count() == known + 200
    by_ext = dict(CustomerIdentity.objects.values_list("external_id", "customer_id"))
    assert not Touchpoint.objects.filter(customer=people[0]).exists()  # merged: to the survivor
    assert Touchpoint.objects.filter(customer=survivor).count() == 4
    assert Touchpoint.objects.get(external_id="t5").customer_id == by_ext["k5"]
    new = Touchpoint.objects.get(external_id=f"t{known + 3}")
    assert new.customer_id == by_ext["new3"] and by_ext["new3"] not in {p.pk for p in people}
