"""`rapport bench insights`: lifetime-value fit speed against the `lifetimes` package.

We draw 1,000,000 customers (× --scale) from a BG/NBD population with CDNOW-like parameters,
measured on a daily grid over a 78-week calibration window (first purchases in the first 12
weeks, as in CDNOW), time our fit, and fit the same arrays with lifetimes' BetaGeoFitter as the
baseline. Both are reported as customers fitted per second, so ratio = their time / our time
(target ≥ 10), and both parameter sets go into the result and to stderr so anyone can check they
agree to 3 significant digits. Where lifetimes does not import, the baseline is a plain scipy fit
of the unaggregated likelihood, and the metric name says so.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from rapport.core.bench import Result, register, result
from rapport.insights import clv

TRUE_PARAMS = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426, loglik=0.0, customers=0)
CUSTOMERS = 1_000_000


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


def _lifetimes_fit(s: clv.SimulatedCustomers) -> dict[str, float]:
    with warnings.catch_warnings():  # lifetimes sets a pandas option pandas 3 deprecates
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter()
    fitter.fit(s.frequency, s.recency, s.T)
    return {k: float(fitter.params_[k]) for k in ("r", "alpha", "a", "b")}


def _scipy_unaggregated_fit(s: clv.SimulatedCustomers) -> dict[str, float]:
    """The straightforward fit: per-customer likelihood, numerical gradient, no aggregation."""
    x, tx, big_t = s.frequency, s.recency, s.T

    def negative_loglik(log_params: np.ndarray) -> float:
        r, alpha, a, b = np.exp(log_params)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + big_t)
        with np.errstate(divide="ignore"):
            a4 = np.where(
                x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + tx), -np.inf
            )
        return -float(np.sum(a1 + a2 + np.logaddexp(a3, a4))) / x.size

    fitted = minimize(negative_loglik, np.zeros(4), method="L-BFGS-B")
    return dict(zip(("r", "alpha", "a", "b"), (float(v) for v in np.exp(fitted.x)), strict=True))


@register("insights")
def lifetime_value_fit(options: dict[str, Any]) -> list[Result]:
    n = max(1000, int(CUSTOMERS * options.get("scale", 1.0)))
    stderr = options.get("stderr")
    customers = clv.simulate_bgnbd(
        TRUE_PARAMS,
        n,
        np.random.default_rng(2005),
        calibration_days=546,
        acquisition_days=84,
        days_per_unit=7.0,
    )
    started = time.perf_counter()
    fitted = clv.fit_bgnbd(customers.frequency, customers.recency, customers.T)
    ours_seconds = time.perf_counter() - started
    ours = {"r": fitted.r, "alpha": fitted.alpha, "a": fitted.a, "b": fitted.b}

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes  # noqa: F401

        baseline_fn, baseline_name = _lifetimes_fit, "lifetimes BetaGeoFitter"
    except ImportError:
        baseline_fn, baseline_name = _scipy_unaggregated_fit, "unaggregated scipy fit"
    started = time.perf_counter()
    theirs = baseline_fn(customers)
    baseline_seconds = time.perf_counter() - started

    agree = all(_sig3(ours[k]) == _sig3(theirs[k]) for k in ours)
    if stderr is not None:
        stderr.write(
            f"BG/NBD on {n:,} customers: ours {ours_seconds:.2f} s, "
            f"{baseline_name} {baseline_seconds:.2f} s\n"
            f"  ours     {_format(ours)}\n  baseline {_format(theirs)}\n"
            f"  equal to 3 significant digits: {'yes' if agree else 'NO'}\n"
        )
    entry = result(
        f"lifetime-value fit on {n:,} customers (baseline: {baseline_name})",
        n / ours_seconds,
        "customers/s",
        "≥ 10× the baseline's customers/s, parameters equal to 3 significant digits",
        baseline=n / baseline_seconds,
    )
    entry.update(
        seconds={"ours": round(ours_seconds, 3), "baseline": round(baseline_seconds, 3)},
        parameters={"ours": ours, "baseline": theirs, "true": _params_of(TRUE_PARAMS)},
        equal_to_3_significant_digits=agree,
    )
    return [entry]


def _params_of(p: clv.BgNbdParams) -> dict[str, float]:
    return {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b}


def _format(params: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in params.items())


# --- the recompute job ---------------------------------------------------------------------------

RECOMPUTE_CUSTOMERS = 1_000_000  # × --scale; ~20 touchpoints each (rapport.insights.bench_data)


def _base(env: dict[str, str], where: Any, n: int, stderr: Any) -> dict[str, Any]:
    """Migrate the database in `where` and generate the base into it, or reuse the base a
    previous run left there (its counts are in base.json)."""
    import json
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "rapport", "migrate", "-v", "0"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    marker = where / "base.json"
    if marker.exists():
        made = json.loads(marker.read_text())
        if made["customers"] != n:
            raise RuntimeError(
                f"{where} holds a base of {made['customers']:,} customers, not {n:,}"
            )
        _bench_child(env, "reset", str(n))
        verb = "reused"
    else:
        made = _bench_child(env, "generate", str(n))
        marker.write_text(json.dumps(made))
        verb = "generated"
    if stderr is not None:
        stderr.write(
            f"insights: {made['customers']:,} customers, {made['touchpoints']:,} touchpoints, "
            f"{made['responses']:,} responses {verb} ({made['seconds']:.0f} s to generate)\n"
        )
    return made


def _bench_child(env: dict[str, str], *args: str) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "rapport.insights.bench_data", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"insights bench child {args[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@register("insights")
def recompute(options: dict[str, Any]) -> list[Result]:
    """Full recompute on a synthetic base of 1M customers (× scale) in a fresh SQLite database,
    and an incremental recompute after 10,000 new touchpoints; each in its own child process,
    whose peak resident memory is the figure checked against 4 GB. Baselines: one plain SQL scan
    of the touchpoints (the floor of reading the data once) for the full run, and the full run
    itself for the incremental one.

    With `data_dir` (`rapport bench insights --data-dir DIR`) the base is generated into DIR
    when DIR holds none and reused otherwise (generating 1M customers takes 20–35 minutes); the
    previous run's 10,000 added touchpoints are taken out first, so every run times the same
    base."""
    import os
    import tempfile
    from pathlib import Path

    n = max(2_000, int(RECOMPUTE_CUSTOMERS * options.get("scale", 1.0)))
    stderr = options.get("stderr")
    with tempfile.TemporaryDirectory(prefix="rapport-bench-insights-") as tmp:
        where = Path(options.get("data_dir") or tmp)
        where.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(RAPPORT_VAR_DIR=str(where), RAPPORT_SECRET_KEY="bench-only-" + "x" * 50)
        env["RAPPORT_LOG_LEVEL"] = "WARNING"
        made = _base(env, where, n, stderr)
        scan = _bench_child(env, "scan", str(n))
        full = _bench_child(env, "full", str(n))
        incremental = _bench_child(env, "incremental", str(n))
    if stderr is not None:
        stderr.write(
            f"  full {full['seconds']:.1f} s ({full['cpu_seconds']:.1f} s of CPU), peak "
            f"{full['peak_mb']:,.0f} MB, load average {full['machine']['before']['load_average']}"
            f"→{full['machine']['after']['load_average']} on {full['machine']['after']['cores']}"
            f" cores: {full['timings']}\n"
            f"  value fit: {full['fit']}\n"
            f"  incremental {incremental['seconds']:.2f} s ({incremental['cpu_seconds']:.1f} s of "
            f"CPU): {incremental['timings']}\n"
        )
    full_entry = result(
        f"full recompute on {n:,} customers ({made['touchpoints']:,} touchpoints)",
        full["seconds"],
        "s",
        "< 120 s and < 4 GB peak memory on 1M customers",
        baseline=scan["seconds"],
    )
    full_entry.update(
        peak_memory_mb=round(full["peak_mb"]),
        cpu_seconds=round(full["cpu_seconds"], 1),
        machine=full["machine"],
        timings=full["timings"],
        fit=full["fit"],
    )
    incremental_entry = result(
        "incremental recompute after 10,000 new touchpoints",
        incremental["seconds"],
        "s",
        "< 5 s",
        baseline=full["seconds"],
    )
    incremental_entry.update(
        customers=incremental["customers"],
        peak_memory_mb=round(incremental["peak_mb"]),
        cpu_seconds=round(incremental["cpu_seconds"], 2),
        machine=incremental["machine"],
        timings=incremental["timings"],
    )
    return [full_entry, incremental_entry]
