"""One open case per customer and topic, even when signals race on separate connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from rapport.cases.actions import opening
from rapport.cases.models import Case, CaseEvent
from rapport.cases.rules import Signal


@pytest.mark.django_db(transaction=True)
def test_racing_signals_open_one_case(customer, users):
    barrier = threading.Barrier(6)
    results: list[bool] = []
    errors: list[Exception] = []

    def signal(n: int) -> None:
        try:
            barrier.wait()
            _case, created = opening.open_or_attach(
                Signal(customer_id=customer.pk, source="complaint", subject=f"signal {n}")
            )
            results.append(created)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=signal, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == [False] * 5 + [True]
    case = Case.objects.get()
    assert case.signal_count == 6
    assert CaseEvent.objects.filter(case=case, kind="attached").count() == 5


@pytest.mark.django_db
def test_another_topic_opens_another_case_and_a_closed_one_frees_the_topic(customer, open_case):
    first = open_case(customer)
    other = open_case(customer, topic="price")
    assert first.pk != other.pk
    Case.objects.filter(pk=first.pk).update(state="closed")
    assert open_case(customer).pk not in {first.pk, other.pk}
