"""Benchmarks: `rapport bench NAME` runs every metric registered under NAME.

A metric function returns result dicts {"metric", "value", "unit", "target", "baseline", "ratio"},
with the baseline measured in the same run. Apps register theirs in a module `rapport.<app>.bench`,
which the command imports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]
MetricFn = Callable[[dict[str, Any]], list[Result]]

_registry: dict[str, list[MetricFn]] = defaultdict(list)


def register(bench: str) -> Callable[[MetricFn], MetricFn]:
    def add(fn: MetricFn) -> MetricFn:
        _registry[bench].append(fn)
        return fn

    return add


def benches() -> dict[str, list[MetricFn]]:
    return dict(_registry)


def result(
    metric: str,
    value: float,
    unit: str,
    target: str,
    baseline: float | None = None,
) -> Result:
    ratio = round(value / baseline, 3) if baseline else None
    return {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
    }
