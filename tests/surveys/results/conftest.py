"""Responses with known answers, written through the import path (rapport.surveys.ingest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.surveys.ingest import ingest_responses


@pytest.fixture
def load(db) -> Callable[..., Any]:
    """load(survey, [answers, ...], **fields) → the ingest report; all-or-nothing, must pass."""

    def run(survey, rows: list[dict[str, Any]], source: str = "test", **fields: Any):
        records = [
            {"external_id": f"r{i}", "completed_at": "2025-03-02T10:00:00+08:00", **fields, **row}
            for i, row in enumerate(rows)
        ]
        report = ingest_responses(records, source=source, survey=survey.pk, emit_events=False)
        assert report.committed, [str(p) for p in report.problems]
        return report

    return run


@pytest.fixture
def known_customer(org) -> Customer:
    customer = Customer.objects.create(
        display_name="Chen Li", home_unit=org["taipei"], attributes={"model_year": 2023}
    )
    source, _created = SourceSystem.objects.get_or_create(code="test", defaults={"name": "test"})
    CustomerIdentity.objects.create(source=source, external_id="C-1", customer=customer)
    return customer
