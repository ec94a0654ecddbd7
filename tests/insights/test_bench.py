"""`rapport bench insights`: the lifetime-value metric runs and both fits agree."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command


def test_lifetime_value_bench_reports_both_fits():
    out, err = StringIO(), StringIO()
    call_command("bench", "insights", "--scale", "0.01", stdout=out, stderr=err)
    results = json.loads(out.getvalue())["results"]
    entry = next(r for r in results if r["metric"].startswith("lifetime-value fit on 10,000"))
    assert entry["unit"] == "customers/s"
    assert entry["baseline"] > 0 and entry["ratio"] > 0
    assert entry["equal_to_3_significant_digits"] is True
    assert set(entry["parameters"]["ours"]) == {"r", "alpha", "a", "b"}
    assert "equal to 3 significant digits: yes" in err.getvalue()
