"""`rapport bench insights`: the recompute metrics run on a small synthetic base."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from rapport.core.demo.actions import ATTRIBUTES
from rapport.customers.models import AttributeDefinition, Customer
from rapport.insights import bench_data, jobs
from rapport.insights.models import CustomerAttributeValue, CustomerInsight


def test_recompute_metrics_are_reported():
    out, err = StringIO(), StringIO()
    call_command("bench", "insights", "--scale", "0.002", stdout=out, stderr=err)
    results = {r["metric"]: r for r in json.loads(out.getvalue())["results"]}
    full = next(r for m, r in results.items() if m.startswith("full recompute on 2,000 customers"))
    assert full["unit"] == "s" and full["value"] > 0 and full["baseline"] > 0
    assert 0 < full["peak_memory_mb"] < 4096
    assert {"load", "customer_facts", "write"} <= set(full["timings"])
    incremental = results["incremental recompute after 10,000 new touchpoints"]
    assert incremental["value"] > 0 and incremental["customers"] > 0
    assert "incremental" in err.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="the bench draws its base into a throwaway SQLite database (its own, always)",
)
def test_bench_base_registers_the_demos_attributes():
    """The bench times the job on what `rapport demo` registers: every attribute of the demo's
    owners, held by every customer, so the full run writes a value row per attribute each."""
    bench_data.generate(400)
    names = {name for name, _label, _type in ATTRIBUTES}
    assert set(AttributeDefinition.objects.values_list("name", flat=True)) == names
    attributes = Customer.objects.values_list("attributes", flat=True).first()
    assert set(attributes) == names and 2010 <= attributes["model_year"] < 2026
    jobs.recompute_all(as_of=bench_data.AS_OF)
    assert CustomerAttributeValue.objects.count() == len(names) * CustomerInsight.objects.count()
