"""Random samples of a wave's eligible customers, by rate or by count, optionally stratified by
unit. Plain numpy over index arrays: a million customers take milliseconds."""

from __future__ import annotations

import numpy as np


def allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across strata in proportion to their sizes (largest remainder), never more
    than a stratum holds."""
    population = int(sizes.sum())
    if population == 0 or total <= 0:
        return np.zeros_like(sizes)
    total = min(total, population)
    exact = sizes * (total / population)
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return np.minimum(counts, sizes)


def sample(
    strata: np.ndarray,
    *,
    rate: float | None = None,
    count: int | None = None,
    stratified: bool = True,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sorted positions into `strata` (one unit id per eligible customer) that are chosen.

    With neither rate nor count, everyone. A rate gives round(rate × n) per stratum (or overall);
    a count is split across strata in proportion to their sizes.
    """
    n = len(strata)
    if rate is None and count is None:
        return np.arange(n)
    want = count if count is not None else round(float(rate or 0) * n)
    if not stratified:
        want = min(int(want), n)
        return np.sort(rng.choice(n, size=want, replace=False)) if want else np.arange(0)
    order = np.argsort(strata, kind="stable")
    _keys, starts, sizes = np.unique(strata[order], return_index=True, return_counts=True)
    if count is not None:
        per = allocate(sizes, int(count))
    else:
        per = np.minimum(np.rint(sizes * float(rate or 0)).astype(np.int64), sizes)
    chosen = []
    for start, size, k in zip(starts, sizes, per, strict=True):
        if k:
            picked = rng.choice(int(size), size=int(k), replace=False)
            chosen.append(order[start + picked])
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)
