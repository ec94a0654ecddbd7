"""95% confidence intervals for survey scores, so a manager can tell a change from noise.

- NPS: adjusted Wald on the trinomial (promoter/passive/detractor), after Rocks (2016): add 3/4 of
  a response to promoters and to detractors (3 to n), then a normal interval on the difference.
- A proportion (CSAT's share of 4–5, CES's share of 5–7): Wilson score interval.
- A mean (CES, CSI): Student's t interval.

Every result carries `small_sample`, true below SMALL_SAMPLE responses: show it, but warn.
Plain code, standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

SMALL_SAMPLE = 30
Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    small_sample: bool


def nps_interval(
    promoters: int, passives: int, detractors: int, confidence: float = 0.95
) -> Interval | None:
    """NPS (−100…100) with its adjusted-Wald interval; None without responses."""
    n = promoters + passives + detractors
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    adj_n = n + 3
    p_pro = (promoters + 0.75) / adj_n
    p_det = (detractors + 0.75) / adj_n
    diff = p_pro - p_det
    margin = z * math.sqrt(max(p_pro + p_det - diff * diff, 0.0) / adj_n)
    return Interval(
        estimate=100.0 * (promoters - detractors) / n,
        low=100.0 * max(diff - margin, -1.0),
        high=100.0 * min(diff + margin, 1.0),
        n=n,
        small_sample=n < SMALL_SAMPLE,
    )


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval | None:
    """A proportion (0–1) with its Wilson score interval; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Rounding can put a bound a hair past p at 0 or n successes; the interval always holds p.
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), p)
    high = 1.0 if successes == n else max(min(centre + half, 1.0), p)
    return Interval(p, low, high, n, n < SMALL_SAMPLE)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval | None:
    """A mean with its t interval; one value gives a zero-width interval flagged small."""
    n = len(values)
    if n == 0:
        return None
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, mean, mean, 1, True)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half, n, n < SMALL_SAMPLE)


def t_cdf(t: float, df: int) -> float:
    """Student's t distribution function, through the regularised incomplete beta function."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: int) -> float:
    """The t value below which a share p of the distribution lies (bisection on t_cdf)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError("need 0 < p < 1 and df >= 1")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return (low + high) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * result / a
