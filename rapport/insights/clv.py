"""Customer lifetime value: BG/NBD for repeat purchases and Gamma-Gamma for spend.

Plain numpy/scipy over per-customer arrays, no ORM: the `rapport clv fit` command, the scheduled
job and the benchmark all call these functions.

Notation (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
  frequency x   number of *repeat* purchase days in the calibration period,
  recency t_x   time from a customer's first purchase to their last one,
  T             time from a customer's first purchase to the end of the calibration period,
all in one time unit (the caller chooses it; `alpha` is per that unit, r, a, b have no unit).
Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value") uses the mean spend
of each repeat customer's repeat purchases; `v` is in the currency of the amounts.

Fitting is maximum likelihood with L-BFGS-B on log-parameters and analytic gradients. Customers
are first aggregated into distinct (x, t_x, T) rows with weights, and every special function is
evaluated over distinct x, t_x or T values only, which is what makes a million customers fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

# The optimiser searches log-coordinates within ±_LOG_BOUND (see _Search); a location estimate
# beyond 10^±4 (after rescaling time and money to order 1), or a spread running off to 0, means
# the likelihood is flat towards a limit the data do not identify (e.g. no dropout at all, or
# too few customers): we call that non-convergence rather than report meaningless numbers.
_LOG_BOUND = 18.0
_LOG_IDENTIFIED = np.log(1e4)
# Projected-gradient size (of the mean log-likelihood) under which a stopped search counts as
# converged even if the line search reported lost precision.
_GRADIENT_TOLERANCE = 1e-5

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


class FitError(ValueError):
    """The data cannot be fitted; the message says why, in terms an analyst can act on."""


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD population: purchase rates ~ Gamma(r, alpha), dropout ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    loglik: float
    customers: int
    # Spread parameters the fit held at their cap: "r" (everyone buys at about the same rate),
    # "a+b" (everyone has about the same dropout chance). See _Search.
    at_cap: tuple[str, ...] = ()


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend: spend ~ Gamma(p, nu) per customer, nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float
    loglik: float
    customers: int
    at_cap: tuple[str, ...] = ()  # ("q",): everyone's spend level about the same

    @property
    def mean_spend(self) -> float:
        """The population's expected spend per transaction, p·v/(q−1) (infinite if q ≤ 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("inf")


@dataclass(frozen=True)
class AggregatedCustomers:
    """Distinct (frequency, recency, T) rows and how many customers share each."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    weight: FloatArray


def _as_arrays(*arrays: ArrayLike) -> list[FloatArray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = out[0].shape
    if any(a.shape != shape for a in out):
        raise ValueError("frequency, recency and T must have the same shape")
    return out


def aggregate_customers(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weight: ArrayLike | None = None
) -> AggregatedCustomers:
    """Collapse customers with identical (frequency, recency, T) into weighted rows.

    Real data measured in whole days has few distinct rows; the likelihood then costs one
    evaluation per distinct row instead of one per customer.
    """
    x, tx, big_t = _as_arrays(frequency, recency, T)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    # Customers without repeat purchases differ only in T: one cheap single-key pass.
    zero = x == 0
    t0, t0_index = np.unique(big_t[zero], return_inverse=True)
    w0 = np.bincount(t0_index, weights=w[zero], minlength=t0.size)
    rep = ~zero
    xr, txr, tr, wr = x[rep], tx[rep], big_t[rep], w[rep]
    if xr.size:
        order = np.lexsort((tr, txr, xr))
        xr, txr, tr, wr = xr[order], txr[order], tr[order], wr[order]
        new_row = np.empty(xr.size, dtype=bool)
        new_row[0] = True
        new_row[1:] = (np.diff(xr) != 0) | (np.diff(txr) != 0) | (np.diff(tr) != 0)
        starts = np.flatnonzero(new_row)
        xr, txr, tr, wr = xr[starts], txr[starts], tr[starts], np.add.reduceat(wr, starts)
    return AggregatedCustomers(
        frequency=np.concatenate([np.zeros(t0.size), xr]),
        recency=np.concatenate([np.zeros(t0.size), txr]),
        T=np.concatenate([t0, tr]),
        weight=np.concatenate([w0, wr]),
    )


def validate_customers(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> None:
    """Reject summaries that no customer history could produce."""
    if frequency.size == 0:
        raise FitError(_("there are no customers to fit"))
    if not (np.isfinite(frequency).all() and np.isfinite(recency).all() and np.isfinite(T).all()):
        raise FitError(_("frequency, recency and T must be finite numbers"))
    if (frequency < 0).any() or (frequency != np.round(frequency)).any():
        raise FitError(_("frequency must be a whole number of repeat purchases, not negative"))
    if (recency < 0).any() or (recency > T).any():
        raise FitError(_("recency must lie between 0 and T for every customer"))
    if (recency[frequency == 0] != 0).any():
        raise FitError(_("customers without repeat purchases must have recency 0"))


def _wsum(weight: FloatArray, values: FloatArray) -> float:
    """Σ weight·values without BLAS, whose spinning threads crawl on a busy machine."""
    return float(np.einsum("i,i->", weight, values))


class _BgNbdLikelihood:
    """The BG/NBD log-likelihood and its gradient over aggregated, time-scaled customers.

    Per customer (paper, eq. 6), with the A1/A2 terms combined by log-sum-exp:
      ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
             + log-sum-exp( −(r+x) ln(α+T),  [x>0] (ln a − ln(b+x−1) − (r+x) ln(α+t_x)) )
    The first line depends on x only and is summed over distinct x values; customers without
    repeat purchases only add −r ln(α+T), summed over distinct T values; only repeat customers
    need a term per distinct (x, t_x, T) row.
    """

    def __init__(self, data: AggregatedCustomers) -> None:
        x, tx, big_t, w = data.frequency, data.recency, data.T, data.weight
        self.total_weight = float(w.sum())
        self.ux, x_index = np.unique(x, return_inverse=True)
        self.count_x = np.bincount(x_index, weights=w, minlength=self.ux.size)
        zero = x == 0
        self.uT0, t0_index = np.unique(big_t[zero], return_inverse=True)
        self.count_T0 = np.bincount(t0_index, weights=w[zero], minlength=self.uT0.size)
        rep = ~zero
        self.w_rep = w[rep]
        self.wx_rep = self.w_rep * x[rep]
        self.uT, self.T_index = np.unique(big_t[rep], return_inverse=True)
        self.utx, self.tx_index = np.unique(tx[rep], return_inverse=True)
        self.ux_rep, self.x_rep_index = np.unique(x[rep], return_inverse=True)
        self.x_rep = x[rep]

    def value_and_gradient(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Log-likelihood and its gradient with respect to (r, alpha, a, b)."""
        r, alpha, a, b = params
        ux, cx = self.ux, self.count_x
        # Terms in x only.
        ll = np.dot(
            cx,
            gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b),
        )
        d_r = np.dot(cx, digamma(r + ux) - digamma(r) + np.log(alpha))
        d_alpha = self.total_weight * r / alpha
        d_a = np.dot(cx, digamma(a + b) - digamma(a + b + ux))
        d_b = np.dot(cx, digamma(b + ux) - digamma(a + b + ux) - digamma(b) + digamma(a + b))
        # Customers without repeat purchases: −r ln(α+T).
        if self.uT0.size:
            log_t0 = np.log(alpha + self.uT0)
            ll -= r * np.dot(self.count_T0, log_t0)
            d_r -= np.dot(self.count_T0, log_t0)
            d_alpha -= r * np.dot(self.count_T0, 1.0 / (alpha + self.uT0))
        if not self.x_rep.size:
            return float(ll), np.array([d_r, d_alpha, d_a, d_b])
        # Repeat customers: ln L adds −(r+x) ln(α+T) + softplus(d), where d is the log-odds of
        # "dropped out after the last purchase" against "alive at T".
        w, wx = self.w_rep, self.wx_rep
        log_t = np.log(alpha + self.uT)[self.T_index]
        span = log_t - np.log(alpha + self.utx)[self.tx_index]  # ln((α+T)/(α+t_x)) ≥ 0
        rx = r + self.x_rep
        d = (np.log(a) - np.log(b + self.ux_rep - 1))[self.x_rep_index] + rx * span
        small = np.exp(-np.abs(d))
        softplus = np.maximum(d, 0.0) + np.log1p(small)
        dropped = np.where(d > 0, 1.0, small) / (1.0 + small)  # P(dropped | data) = expit(d)
        weighted_dropped = w * dropped
        ll += _wsum(w, softplus) - r * _wsum(w, log_t) - _wsum(wx, log_t)
        d_r += _wsum(weighted_dropped, span) - _wsum(w, log_t)
        inv_t = (1.0 / (alpha + self.uT))[self.T_index]
        inv_tx = (1.0 / (alpha + self.utx))[self.tx_index]
        d_alpha -= _wsum(w * rx, inv_t + dropped * (inv_tx - inv_t))
        d_a += weighted_dropped.sum() / a
        d_b -= _wsum(weighted_dropped, (1.0 / (b + self.ux_rep - 1))[self.x_rep_index])
        return float(ll), np.array([d_r, d_alpha, d_a, d_b])


def _time_scale(T: FloatArray) -> float:
    """Factor that maps the longest T to 10 units, so alpha starts near 1 whatever the unit."""
    longest = float(T.max()) if T.size else 0.0
    return 10.0 / longest if longest > 0 else 1.0


@dataclass(frozen=True)
class _Search:
    """How the optimiser sees a model: unconstrained coordinates u, their map to the model's
    parameters and the chain rule back, and which coordinates may rest at a "no spread" cap.

    Spread parameters (BG/NBD's r and a+b, Gamma-Gamma's q) grow without bound when customers
    differ less than the mixing distribution can express — service visits more regular than a
    Poisson process, the same dropout chance for everyone, the same spend level for everyone.
    The likelihood then climbs towards a limit (a single rate, a single dropout probability, a
    single spend level) along a ridge where the *location* stays put (r/alpha, a/(a+b), v/q).
    Searching location and spread separately keeps the location identified, and capping the
    spread at _SPREAD_CAP (a coefficient of variation of 1%) gives a valid model whose
    predictions equal the limit's to well within the data's noise.
    """

    names: tuple[str, ...]  # of the coordinates, for messages
    natural: object  # u -> model parameters
    chain: object  # (u, params, gradient wrt params) -> gradient wrt u
    start: FloatArray
    capped: tuple[
        bool, ...
    ]  # coordinates bounded above by log(_SPREAD_CAP), not identified-checked


_SPREAD_CAP = 1e4


def _bgnbd_search() -> _Search:
    """u = (ln r, ln λ, ln s, logit p) with λ = r/alpha the mean rate, s = a+b, p = a/(a+b)."""

    def natural(u: FloatArray) -> FloatArray:
        r, rate, s, p = np.exp(u[0]), np.exp(u[1]), np.exp(u[2]), expit(u[3])
        return np.array([r, r / rate, s * p, s * (1.0 - p)])

    def chain(u: FloatArray, params: FloatArray, g: FloatArray) -> FloatArray:
        r, alpha, a, b = params
        s, p = a + b, expit(u[3])
        return np.array(
            [
                g[0] * r + g[1] * alpha,
                -g[1] * alpha,
                g[2] * a + g[3] * b,
                s * p * (1 - p) * (g[2] - g[3]),
            ]
        )

    return _Search(
        ("r", "the mean purchase rate r/alpha", "a+b", "the mean dropout chance a/(a+b)"),
        natural,
        chain,
        np.array([0.0, 0.0, np.log(2.0), 0.0]),  # r = alpha = a = b = 1
        (True, False, True, False),
    )


def _gamma_gamma_search() -> _Search:
    """u = (ln p, ln q, ln(v/q)): v/q is the scale of the spend level, q its spread."""

    def natural(u: FloatArray) -> FloatArray:
        q = np.exp(u[1])
        return np.array([np.exp(u[0]), q, q * np.exp(u[2])])

    def chain(u: FloatArray, params: FloatArray, g: FloatArray) -> FloatArray:
        p, q, v = params
        return np.array([g[0] * p, g[1] * q + g[2] * v, g[2] * v])

    return _Search(
        ("p", "q", "the spend scale v/q"),
        natural,
        chain,
        np.zeros(3),  # p = q = v = 1
        (False, True, False),
    )


def _maximise(
    loglik_and_gradient,  # (params) -> (ll, grad)
    search: _Search,
    total_weight: float,
    model: str,
    max_iterations: int,
) -> tuple[FloatArray, float, tuple[int, ...]]:
    """Maximise a log-likelihood; return (params, loglik, indices of coordinates at the cap)."""
    n = search.start.size

    def objective(u: FloatArray) -> tuple[float, FloatArray]:
        params = search.natural(u)
        with np.errstate(all="ignore"):
            ll, grad = loglik_and_gradient(params)
            grad_u = search.chain(u, params, grad)
        if not np.isfinite(ll) or not np.isfinite(grad_u).all():
            return np.inf, np.zeros(n)
        return -ll / total_weight, -grad_u / total_weight

    cap = np.log(_SPREAD_CAP)
    bounds = [(-_LOG_BOUND, cap if c else _LOG_BOUND) for c in search.capped]
    result = minimize(
        objective,
        search.start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": 1e-14, "gtol": 1e-9},
    )
    u = result.x
    value, grad = objective(u)
    at_cap = tuple(
        i for i, c in enumerate(search.capped) if c and u[i] >= cap - 1e-6 and grad[i] <= 0
    )
    unidentified = [
        name
        for i, (name, c) in enumerate(zip(search.names, search.capped, strict=True))
        if (u[i] < -_LOG_IDENTIFIED) or (not c and u[i] > _LOG_IDENTIFIED)
    ]
    if unidentified:
        raise FitError(
            _(
                "the %(model)s fit did not converge: %(which)s ran off towards 0 or infinity, "
                "so these data do not identify the model (too few customers, or too little "
                "variation between them)"
            )
            % {"model": model, "which": ", ".join(unidentified)}
        )
    projected = grad.copy()
    projected[list(at_cap)] = 0.0  # the search rests against the cap: not a failure
    if not np.isfinite(value) or (
        not result.success and np.max(np.abs(projected)) > _GRADIENT_TOLERANCE
    ):
        raise FitError(
            _("the %(model)s fit did not converge: %(reason)s")
            % {"model": model, "reason": result.message}
        )
    return search.natural(u), -value * total_weight, at_cap


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    max_iterations: int = 2000,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for customers given as (x, t_x, T) arrays."""
    x, tx, big_t = _as_arrays(frequency, recency, T)
    validate_customers(x, tx, big_t)
    if x.size == 1 and weight is None:
        raise FitError(
            _("there is only one customer; the models describe a population and need many")
        )
    if not (x > 0).any():
        raise FitError(
            _("no customer made a repeat purchase, so the BG/NBD model cannot be fitted")
        )
    scale = _time_scale(big_t)
    data = aggregate_customers(x, tx * scale, big_t * scale, weight)
    likelihood = _BgNbdLikelihood(data)
    params, ll_scaled, at_cap = _maximise(
        likelihood.value_and_gradient,
        _bgnbd_search(),
        likelihood.total_weight,
        "BG/NBD",
        max_iterations,
    )
    r, alpha_scaled, a, b = (float(v) for v in params)
    # Rescaling time by c multiplies each customer's likelihood by c^-x.
    loglik = ll_scaled + np.log(scale) * float(np.dot(data.frequency, data.weight))
    capped = tuple(name for i, name in ((0, "r"), (2, "a+b")) if i in at_cap)
    return BgNbdParams(
        r, alpha_scaled / scale, a, b, float(loglik), int(likelihood.total_weight), capped
    )


def bgnbd_loglik(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> float:
    """Total BG/NBD log-likelihood of the customers under the given parameters."""
    x, tx, big_t = _as_arrays(frequency, recency, T)
    data = aggregate_customers(x, tx, big_t)
    ll, _ = _BgNbdLikelihood(data).value_and_gradient(
        np.array([params.r, params.alpha, params.a, params.b])
    )
    return ll


_BRIDGE = 1e-4


def _bridged(fn, a: float, b: float) -> FloatArray:
    """Evaluate fn(a, b) across the removable singularities of the closed forms.

    The expectations divide by (a − 1) and use 2F1(·; c; ·) with c = a + b − 1 (for customers
    without repeat purchases), which has a pole at c = 0; and scipy's 2F1 returns NaN in some
    cases where c − a − b is an integer (here when a − r is). The expectations are smooth in a
    and b, so at those points we average the two sides (error of order _BRIDGE²).
    """
    with np.errstate(all="ignore"):
        if abs(a - 1.0) < _BRIDGE:
            return 0.5 * (_bridged_c(fn, 1.0 - _BRIDGE, b) + _bridged_c(fn, 1.0 + _BRIDGE, b))
        value = _bridged_c(fn, a, b)
        bad = ~np.isfinite(value)
        if bad.any():
            around = 0.5 * (_bridged_c(fn, a - _BRIDGE, b) + _bridged_c(fn, a + _BRIDGE, b))
            value = np.where(bad, around, value)
    return value


def _bridged_c(fn, a: float, b: float) -> FloatArray:
    if abs(a + b - 1.0) < _BRIDGE:
        return 0.5 * (fn(a, 1.0 - a - _BRIDGE) + fn(a, 1.0 - a + _BRIDGE))
    return fn(a, b)


def expected_purchases(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases of a new customer in t time units (paper, eq. 9)."""
    t_arr = np.asarray(t, dtype=np.float64)
    r, alpha = params.r, params.alpha

    def value(a: float, b: float) -> FloatArray:
        z = t_arr / (alpha + t_arr)
        head = (a + b - 1) / (a - 1)
        return head * (1 - (alpha / (alpha + t_arr)) ** r * hyp2f1(r, b, a + b - 1, z))

    return np.maximum(_bridged(value, params.a, params.b), 0.0)


def probability_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T) (paper, eq. 13); customers without repeats are alive for sure."""
    x, tx, big_t = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (
            np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + tx))
        )
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def _distinct_pairs(x: FloatArray, big_t: FloatArray) -> tuple[FloatArray, FloatArray, NDArray]:
    """Distinct (x, T) pairs and, per customer, the index of theirs."""
    ux, ix = np.unique(x, return_inverse=True)
    ut, it = np.unique(big_t, return_inverse=True)
    keys, index = np.unique(ix.ravel() * ut.size + it.ravel(), return_inverse=True)
    return ux[keys // ut.size], ut[keys % ut.size], index.reshape(x.shape)


def _expected_purchases_if_alive(
    params: BgNbdParams, t: float, x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """E[Y(t) | alive at T, x, T]: depends on x and T only, not on recency (paper, eq. 10)."""
    r, alpha = params.r, params.alpha

    def value(a: float, b: float) -> FloatArray:
        z = t / (alpha + big_t + t)
        head = (a + b + x - 1) / (a - 1)
        ratio = ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
        return head * (1 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, z))

    return np.maximum(_bridged(value, params.a, params.b), 0.0)


def conditional_expected_purchases(
    params: BgNbdParams, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t units after T (paper, eq. 10).

    It is P(alive) times the expectation if alive, which depends on (x, T) only: the costly
    hypergeometric part is evaluated once per distinct (x, T) pair.
    """
    x, tx, big_t = _as_arrays(frequency, recency, T)
    ux, ut, index = _distinct_pairs(x, big_t)
    if_alive = _expected_purchases_if_alive(params, float(t), ux, ut)[index]
    return if_alive * probability_alive(params, x, tx, big_t)


class _GammaGammaLikelihood:
    """Gamma-Gamma log-likelihood of mean spends m over x repeat purchases, and its gradient.

    Per customer (Fader & Hardie 2013, eq. 3):
      ln f = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v+mx)
    The Γ terms depend on x only and are evaluated over distinct x values.
    """

    def __init__(self, x: FloatArray, m: FloatArray) -> None:
        self.n = float(x.size)
        self.ux, x_index = np.unique(x, return_inverse=True)
        self.count_x = np.bincount(x_index, minlength=self.ux.size).astype(np.float64)
        self.x = x
        self.mx = m * x
        log_m = np.log(m)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_mx = _wsum(x, log_m + np.log(x))

    def value_and_gradient(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Log-likelihood and its gradient with respect to (p, q, v)."""
        p, q, v = params
        ux, cx, n = self.ux, self.count_x, self.n
        pux = p * ux
        log_vmx = np.log(v + self.mx)
        inv_vmx = 1.0 / (v + self.mx)
        sum_log_vmx = float(log_vmx.sum())
        sum_x_log_vmx = _wsum(self.x, log_vmx)
        ll = (
            np.dot(cx, gammaln(pux + q) - gammaln(pux))
            - n * gammaln(q)
            + n * q * np.log(v)
            + p * self.sum_x_log_mx
            - self.sum_log_m
            - p * sum_x_log_vmx
            - q * sum_log_vmx
        )
        dg = digamma(pux + q)
        d_p = np.dot(cx * ux, dg - digamma(pux)) + self.sum_x_log_mx - sum_x_log_vmx
        d_q = np.dot(cx, dg) - n * digamma(q) + n * np.log(v) - sum_log_vmx
        d_v = n * q / v - p * _wsum(self.x, inv_vmx) - q * float(inv_vmx.sum())
        return float(ll), np.array([d_p, d_q, d_v])


def fit_gamma_gamma(
    frequency: ArrayLike, monetary: ArrayLike, *, max_iterations: int = 2000
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers' mean spend.

    Only customers with at least one repeat purchase and a positive mean spend enter the fit.
    """
    x_all, m_all = _as_arrays(frequency, monetary)
    used = (x_all > 0) & (m_all > 0) & np.isfinite(m_all)
    x, m = x_all[used], m_all[used]
    if x.size == 0:
        raise FitError(
            _(
                "no customer made a repeat purchase with a positive amount, so the Gamma-Gamma "
                "spend model cannot be fitted"
            )
        )
    # Money is rescaled to mean 1 while fitting; v scales with it, the density by 1/scale.
    scale = float(m.mean())
    likelihood = _GammaGammaLikelihood(x, m / scale)
    params, ll_scaled, at_cap = _maximise(
        likelihood.value_and_gradient,
        _gamma_gamma_search(),
        float(x.size),
        "Gamma-Gamma",
        max_iterations,
    )
    p, q, v_scaled = (float(v) for v in params)
    loglik = ll_scaled - x.size * np.log(scale)
    capped = ("q",) if 1 in at_cap else ()
    return GammaGammaParams(p, q, v_scaled * scale, float(loglik), int(x.size), capped)


def conditional_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike
) -> FloatArray:
    """E[spend per transaction | x, m_x]: a credibility-weighted mean of the customer's own
    mean spend and the population mean (Fader & Hardie 2013, eq. 5); population mean if x = 0.
    """
    x, m = _as_arrays(frequency, monetary)
    p, q, v = params.p, params.q, params.v
    m = np.where(x > 0, m, 0.0)
    return (v + m * x) * p / (p * x + q - 1)


@dataclass(frozen=True)
class LifetimeValueTerms:
    """How future value is discounted; the defaults are the ones Rapport documents."""

    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    margin: float = 1.0  # share of spend that is profit; 1.0 gives revenue CLV

    @property
    def monthly_discount_rate(self) -> float:
        return (1 + self.annual_discount_rate) ** (1 / 12) - 1


def customer_lifetime_value(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    days_per_unit: float,
    terms: LifetimeValueTerms | None = None,
) -> FloatArray:
    """Discounted value of each customer's expected purchases over the horizon.

    CLV = margin × E[spend] × Σ_k (E[Y(k months)] − E[Y(k−1 months)]) / (1+d)^k, k = 1..horizon,
    with d the monthly rate equivalent to the annual discount rate. The loop runs over months,
    never over customers.
    """
    terms = terms or LifetimeValueTerms()
    x, tx, big_t, m = _as_arrays(frequency, recency, T, monetary)
    month = (365.25 / 12) / days_per_unit
    ux, ut, index = _distinct_pairs(x, big_t)
    discounted = np.zeros_like(ux)
    previous = np.zeros_like(ux)
    for k in range(1, terms.horizon_months + 1):
        cumulative = _expected_purchases_if_alive(bgnbd, k * month, ux, ut)
        discounted += (cumulative - previous) / (1 + terms.monthly_discount_rate) ** k
        previous = cumulative
    alive = probability_alive(bgnbd, x, tx, big_t)
    spend = conditional_expected_spend(gamma_gamma, x, m)
    return terms.margin * spend * alive * discounted[index]


@dataclass(frozen=True)
class ValueModels:
    """Both fitted models for one customer base."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams

    @property
    def note(self) -> str:
        """What the fit held at a cap, in words for the analyst ("" when nothing was)."""
        return spread_note(self.bgnbd.at_cap + self.gamma_gamma.at_cap)


def spread_note(at_cap: tuple[str, ...]) -> str:
    """Why parameters sit at _SPREAD_CAP: the customers differ less than the model can express."""
    parts = {
        "r": _(
            "purchase rates hardly differ between customers (visits are more regular than a "
            "Poisson process), so r is held at %(cap)s"
        ),
        "a+b": _("the dropout chance hardly differs between customers, so a+b is held at %(cap)s"),
        "q": _("spend levels hardly differ between customers, so q is held at %(cap)s"),
    }
    cap = f"{_SPREAD_CAP:,.0f}"
    return "; ".join(parts[name] % {"cap": cap} for name in at_cap if name in parts)


def fit_value_models(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, monetary: ArrayLike
) -> ValueModels:
    """Fit BG/NBD and Gamma-Gamma on one customer base (the command and the job call this)."""
    x, tx, big_t, m = _as_arrays(frequency, recency, T, monetary)
    if x.size > 1 and not (x > 0).any():
        raise FitError(
            _(
                "no customer made a repeat purchase before the calibration end, so neither the "
                "BG/NBD purchase model nor the Gamma-Gamma spend model can be fitted"
            )
        )
    return ValueModels(fit_bgnbd(x, tx, big_t), fit_gamma_gamma(x, m))


@dataclass(frozen=True)
class SimulatedCustomers:
    """Customers drawn from a BG/NBD population, times in the parameters' unit."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray


def simulate_bgnbd(
    params: BgNbdParams,
    n: int,
    rng: np.random.Generator,
    *,
    calibration_days: int,
    acquisition_days: int,
    days_per_unit: float,
) -> SimulatedCustomers:
    """Draw n customers from the BG/NBD story, as a daily transaction file would show them.

    First purchases are spread uniformly over the first `acquisition_days` of a
    `calibration_days` window. Each customer buys at a Poisson rate λ ~ Gamma(r, alpha) and drops
    out after each repeat purchase with probability p ~ Beta(a, b). Given N purchases in (0, T]
    had the customer never left, and dropout after purchase K ~ Geometric(p), the customer makes
    x = min(N, K) and the last falls at the x-th of N uniform times, i.e. T·Beta(x, N−x+1).
    Times are then floored to whole days, as in a daily file.
    """
    first_day = rng.integers(0, acquisition_days, size=n)
    t_days = calibration_days - first_day
    big_t = t_days / days_per_unit
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    dropout = np.clip(rng.beta(params.a, params.b, size=n), 1e-12, 1.0)
    would_buy = rng.poisson(rate * big_t)
    leaves_after = rng.geometric(dropout)
    x = np.minimum(would_buy, leaves_after)
    repeat = x > 0
    last = np.zeros(n)
    last[repeat] = rng.beta(x[repeat], would_buy[repeat] - x[repeat] + 1)
    recency_days = np.floor(last * t_days)
    return SimulatedCustomers(
        frequency=x.astype(np.float64),
        recency=recency_days / days_per_unit,
        T=big_t.astype(np.float64),
    )
