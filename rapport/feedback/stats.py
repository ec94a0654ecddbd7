"""Statistics of implicit feedback: response rates with Wilson score intervals, and the lift of a
campaign over its hold-out control group (difference of two proportions, Newcombe's hybrid
score interval). Plain functions: no ORM.

Why Wilson and Newcombe rather than the textbook p ± z·SE: campaign response rates are small
(often a few per cent) and groups can be small; there the Wald interval dips below zero and
covers the truth far less often than it claims. These stay within [0, 1] (and [-1, 1] for a
difference) and keep their coverage near 95 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    responded: int
    total: int
    low: float
    high: float

    @property
    def rate(self) -> float | None:
        return self.responded / self.total if self.total else None


@dataclass(frozen=True)
class Lift:
    """Treatment rate − control rate, with its interval; `significant` when it excludes 0."""

    difference: float | None
    low: float | None
    high: float | None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when nothing was observed."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == n else min(1.0, max(p, centre + half))
    return low, high


def rate(successes: int, n: int) -> Rate:
    low, high = wilson(successes, n)
    return Rate(successes, n, low, high)


def lift(treated_successes: int, treated_n: int, control_successes: int, control_n: int) -> Lift:
    """Newcombe's method 10: the difference's interval from the two Wilson intervals."""
    if treated_n <= 0 or control_n <= 0:
        return Lift(None, None, None)
    p1, p2 = treated_successes / treated_n, control_successes / control_n
    l1, u1 = wilson(treated_successes, treated_n)
    l2, u2 = wilson(control_successes, control_n)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(d, max(-1.0, low), min(1.0, high))


def draw_control(customer_ids: list[int], share: float, seed: int) -> set[int]:
    """A random hold-out of round(share · n) customers, the same for the same ids and seed
    (the ids are sorted first, so the order they came in does not matter)."""
    import random

    if not 0 <= share < 1:
        raise ValueError("share must be at least 0 and below 1")
    ordered = sorted(set(customer_ids))
    k = round(share * len(ordered))
    return set(random.Random(seed).sample(ordered, k)) if k else set()
