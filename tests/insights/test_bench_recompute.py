"""`rapport bench insights`: the recompute metrics run on a small synthetic base."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command


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
