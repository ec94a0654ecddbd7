"""Key-driver analysis: which survey items and touchpoint attributes move a target score, per
context, with honest uncertainty.

Per context (all responses; visit type; weekday vs weekend; time of day — seed 004's lunch versus
dinner) and target (likelihood to recommend; engagement), we regress the standardised target on
the standardised drivers and report:

- each driver's **relative weight** (Johnson 2000): the part of R² it accounts for, allowing for
  correlated drivers; the weights add up to R². Its 95% interval is the percentile interval of
  `BOOTSTRAP` resamples of the responses (fixed seed, so a rerun gives the same interval);
- its standardised coefficient and a Holm-adjusted p-value of the OLS t test. A driver is
  **significant** only when the whole model is (F test, p < 0.05) and its adjusted p < 0.05:
  with nothing planted, no driver is reported as mattering more than 5% of the time in all.

A context needs at least `max(MIN_RESPONSES, PER_DRIVER × drivers)` complete responses (50 and
10); below that it gets a `too_few` row and no weights — never a number from a handful.

Plain numpy/scipy over a frame of responses; no ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

MIN_RESPONSES = 50
PER_DRIVER = 10
BOOTSTRAP = 200
ALPHA = 0.05
OK, TOO_FEW, NO_DRIVERS = "ok", "too_few", "no_drivers"


@dataclass(frozen=True)
class DriverWeight:
    driver: str
    weight: float  # relative weight: share of the target's variance it accounts for
    low: float
    high: float
    beta: float  # standardised OLS coefficient
    p_value: float  # Holm-adjusted
    significant: bool


@dataclass(frozen=True)
class DriverModel:
    target: str
    context_kind: str
    context_value: str
    status: str
    n: int
    r2: float | None
    model_p_value: float | None
    drivers: tuple[DriverWeight, ...]


def relative_weights(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Johnson's relative weights of the columns of x for y, and R²."""
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean()) / y.std()
    n = x.shape[0]
    rxx = xs.T @ xs / n
    rxy = xs.T @ ys / n
    evals, evecs = np.linalg.eigh(rxx)
    evals = np.clip(evals, 1e-12, None)
    root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T  # R^{1/2}
    beta_z = evecs @ np.diag(1 / np.sqrt(evals)) @ evecs.T @ rxy  # y on the orthogonal Z
    weights = (root**2) @ (beta_z**2)
    return weights, float(weights.sum())


def bootstrap_weights(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Relative weights of `resamples` bootstrap resamples of the rows (NaN where a resample
    leaves a column constant), all at once.

    A resample only changes how often each row counts, so its correlation matrix comes from
    count-weighted moments: one (resamples × rows) @ (rows × products) product gives every
    resample's sums, and the eigenproblems are solved as one batch — instead of copying the
    rows and standardising them once per resample. The resamples are the ones a loop of
    `rng.integers(0, n, n)` draws, so the intervals do not depend on how they are computed.
    """
    n, k = x.shape
    rng = np.random.default_rng(seed)
    counts = np.empty((resamples, n))
    for i in range(resamples):
        counts[i] = np.bincount(rng.integers(0, n, n), minlength=n)
    z = np.column_stack([x, y])
    z = z - z.mean(axis=0)  # centred on the full sample: moments stay well conditioned
    products = (z[:, :, None] * z[:, None, :]).reshape(n, -1)
    first = counts @ z / n  # (resamples, k+1)
    second = (counts @ products / n).reshape(resamples, k + 1, k + 1)
    cov = second - first[:, :, None] * first[:, None, :]
    var = np.diagonal(cov, axis1=1, axis2=2)
    scale = np.maximum(z.var(axis=0), 1.0)
    degenerate = (var <= 1e-12 * scale).any(axis=1)
    sd = np.sqrt(np.where(var > 0, var, 1.0))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    rxx, rxy = corr[:, :k, :k], corr[:, :k, k]
    evals, evecs = np.linalg.eigh(rxx)
    evals = np.clip(evals, 1e-12, None)
    root = (evecs * np.sqrt(evals)[:, None, :]) @ np.swapaxes(evecs, 1, 2)
    inv_root = (evecs / np.sqrt(evals)[:, None, :]) @ np.swapaxes(evecs, 1, 2)
    beta_z = inv_root @ rxy[:, :, None]  # (resamples, k, 1)
    weights = (root**2) @ (beta_z**2)
    draws = weights[:, :, 0]
    draws[degenerate] = np.nan
    return draws


def _ols_tests(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Standardised coefficients, their two-sided p-values and the model's F-test p-value."""
    n, k = x.shape
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean()) / y.std()
    design = np.column_stack([np.ones(n), xs])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    resid = ys - design @ coef
    dof = n - k - 1
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.clip(np.diag(cov)[1:], 1e-300, None))
    t = coef[1:] / se
    p = 2 * sps.t.sf(np.abs(t), dof)
    r2 = 1 - float(resid @ resid) / float(ys @ ys)
    f = (r2 / k) / max((1 - r2) / dof, 1e-300)
    return coef[1:], p, float(sps.f.sf(f, k, dof))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (monotone, capped at 1)."""
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def fit_context(
    data: pl.DataFrame,
    target: str,
    drivers: Sequence[str],
    context_kind: str = "all",
    context_value: str = "",
    *,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> DriverModel:
    """Relative weights with bootstrap intervals for one target in one context's responses."""
    usable = [
        d
        for d in drivers
        if d in data.columns and data[d].drop_nulls().n_unique() > 1 and d != target
    ]
    complete = data.select(target, *usable).drop_nulls()
    n = complete.height
    need = max(MIN_RESPONSES, PER_DRIVER * max(len(usable), 1))
    if not usable:
        answered = data[target].drop_nulls().len()
        status = TOO_FEW if answered < MIN_RESPONSES else NO_DRIVERS
        return DriverModel(target, context_kind, context_value, status, answered, None, None, ())
    x = complete.select(usable).to_numpy().astype(np.float64)
    y = complete[target].to_numpy().astype(np.float64)
    keep = x.std(axis=0) > 0
    if n < need or y.std() == 0 or not keep.any():
        return DriverModel(target, context_kind, context_value, TOO_FEW, n, None, None, ())
    usable = [d for d, k in zip(usable, keep, strict=True) if k]
    x = x[:, keep]
    weights, r2 = relative_weights(x, y)
    beta, p, model_p = _ols_tests(x, y)
    p_adj = holm(p)
    draws = bootstrap_weights(x, y, bootstrap, seed)
    low = np.nanpercentile(draws, 2.5, axis=0)
    high = np.nanpercentile(draws, 97.5, axis=0)
    model_ok = model_p < ALPHA
    result = tuple(
        DriverWeight(
            driver=d,
            weight=float(weights[j]),
            low=float(low[j]),
            high=float(high[j]),
            beta=float(beta[j]),
            p_value=float(p_adj[j]),
            significant=bool(model_ok and p_adj[j] < ALPHA),
        )
        for j, d in enumerate(usable)
    )
    ordered = tuple(sorted(result, key=lambda w: -w.weight))
    return DriverModel(target, context_kind, context_value, OK, n, r2, model_p, ordered)


def fit_by_context(
    data: pl.DataFrame,
    target: str,
    drivers: Sequence[str],
    context_columns: Sequence[str],
    *,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> list[DriverModel]:
    """fit_context over all responses, then for every value of every context column."""
    models = [fit_context(data, target, drivers, bootstrap=bootstrap, seed=seed)]
    for column in context_columns:
        if column not in data.columns:
            continue
        for value in sorted(data[column].drop_nulls().unique().to_list()):
            subset = data.filter(pl.col(column) == value)
            models.append(
                fit_context(
                    subset, target, drivers, column, str(value), bootstrap=bootstrap, seed=seed
                )
            )
    return models


def daypart(hour: pl.Expr) -> pl.Expr:
    """Time of day from a local hour: morning < 11, lunch 11–14, afternoon 14–17, evening ≥ 17."""
    return (
        pl.when(hour < 11)
        .then(pl.lit("morning"))
        .when(hour < 14)
        .then(pl.lit("lunch"))
        .when(hour < 17)
        .then(pl.lit("afternoon"))
        .otherwise(pl.lit("evening"))
    )


def day_type(weekday: pl.Expr) -> pl.Expr:
    """weekday/weekend from an ISO weekday (1 = Monday … 7 = Sunday)."""
    return pl.when(weekday >= 6).then(pl.lit("weekend")).otherwise(pl.lit("weekday"))
