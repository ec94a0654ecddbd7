"""A synthetic customer base at demo scale for `rapport bench insights`, and the timed runs.

The demo generator (`rapport demo`) writes about 100 customers a second — hours for the 1M
customers the insights targets are set on — so the bench draws a base of the same shape with
numpy and bulk-writes it (rapport.insights.frames.replace_all): per customer about 20
touchpoints (service visits on their own cadence, a purchase, monthly instalments for a third
of them, loyalty-card activity, web visits, a referral for one in ten) and a completed survey
response for about one in three (NPS, CSAT, CSI items, engagement tiers), over three years.

Run as a child process (`python -m rapport.insights.bench_data generate|reset|scan|full|
incremental N`) with RAPPORT_VAR_DIR set to the base's directory (fresh, or kept with `rapport
bench insights --data-dir DIR`), so that the peak memory it reports (ru_maxrss) is the
recompute's own.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from typing import Any

import numpy as np
import polars as pl

BRANCHES = 20
YEARS = 3
AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
NEW_TOUCHPOINTS = 10_000


def _org() -> list[int]:
    from rapport.org.models import OrgUnit

    root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise")
    regions = [
        OrgUnit.objects.create(code=f"r{i}", name=f"Region {i}", kind="region", parent=root)
        for i in range(4)
    ]
    return [
        OrgUnit.objects.create(
            code=f"b{i}", name=f"Branch {i}", kind="branch", parent=regions[i % 4]
        ).pk
        for i in range(BRANCHES)
    ]


def _stamp(days: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Days before AS_OF → UTC datetimes in opening hours (01:00–10:00 UTC, 9–18 in Taipei)."""
    seconds = (days * 86400 - rng.integers(3600, 36000, days.size)).astype("timedelta64[s]")
    base = np.datetime64(AS_OF.replace(tzinfo=None), "s")
    stamps = (base - seconds).astype("datetime64[us]")
    return pl.Series("occurred_at", stamps).dt.replace_time_zone("UTC")


def generate(customers: int, seed: int = 1) -> dict[str, Any]:
    """Write the base; returns counts."""
    from django.db import transaction

    from rapport.core.demo.actions import ATTRIBUTES
    from rapport.customers.models import (
        AttributeDefinition,
        Customer,
        CustomerIdentity,
        SourceSystem,
    )
    from rapport.insights.frames import replace_all
    from rapport.surveys.models import Answer, Question, Response, Survey, SurveyVersion
    from rapport.touchpoints.models import Touchpoint

    rng = np.random.default_rng(seed)
    span = YEARS * 365
    with transaction.atomic():
        branches = np.array(_org())
        source = SourceSystem.objects.create(code="dms", name="DMS")
        now = pl.lit(AS_OF).cast(pl.Datetime("us", "UTC"))
        home = branches[rng.integers(0, BRANCHES, customers)]
        replace_all(
            Customer,
            pl.DataFrame({"home_unit_id": home}).with_columns(
                pl.lit("").alias("display_name"),
                pl.lit("en").alias("preferred_language"),
                pl.lit("").alias("email"),
                pl.lit("").alias("phone"),
                # its own stream: the touchpoints stay the same
                _attributes(np.random.default_rng(seed + 1), customers),
                now.alias("created_at"),
                now.alias("updated_at"),
            ),
        )
        for name, label, type_ in ATTRIBUTES:
            AttributeDefinition.objects.get_or_create(
                name=name, defaults={"label": label, "type": type_}
            )
        first_id = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
        ids = np.arange(first_id, first_id + customers)
        replace_all(
            CustomerIdentity,
            pl.DataFrame({"customer_id": ids}).with_columns(
                pl.lit(source.pk).alias("source_id"),
                pl.format("C{}", pl.col("customer_id")).alias("external_id"),
                now.alias("created_at"),
            ),
        )
        parts = _touchpoints(rng, ids, home, span)
        frame = pl.concat(parts, how="vertical_relaxed")
        frame = frame.with_columns(
            _stamp(frame["days_ago"].to_numpy(), rng),
            pl.lit(source.pk).alias("source_id"),
            pl.format("T{}", pl.int_range(pl.len())).alias("external_id"),
            pl.lit("branch").alias("channel"),
            pl.lit("TWD").alias("currency"),
            now.alias("created_at"),
        ).drop("days_ago")
        replace_all(Touchpoint, frame)
        responses = _responses(rng, ids, home, span)
        survey = Survey.objects.create(name="Bench CSI", kind="csi")
        version = SurveyVersion.objects.create(survey=survey, number=1, published_at=AS_OF)
        questions = [
            Question.objects.create(
                version=version, key=role.replace(".", "_"), type="scale", role=role, order=i
            )  # fmt: skip
            for i, role in enumerate(
                ("nps", "csi.service_advisor", "csi.service_quality", "csi.vehicle_pickup")
            )  # fmt: skip
        ]
        replace_all(
            Response,
            responses.drop("items").with_columns(
                pl.lit(survey.pk).alias("survey_id"),
                pl.lit(version.pk).alias("version_id"),
                pl.lit("en").alias("language"),
                pl.lit("email").alias("channel"),
                pl.lit("completed").alias("state"),
                pl.lit(1).alias("current_page"),
                pl.col("completed_at").alias("started_at"),
                pl.lit("{}").alias("csi_factors"),
            ),
        )
        first_response = Response.objects.order_by("pk").values_list("pk", flat=True).first()
        items = np.stack(responses["items"].to_list()) if responses.height else np.zeros((0, 4))
        response_ids = np.arange(first_response, first_response + responses.height)
        replace_all(
            Answer,
            pl.DataFrame(
                {
                    "response_id": np.repeat(response_ids, len(questions)),
                    "question_id": np.tile([q.pk for q in questions], responses.height),
                    "value_number": items.ravel().astype(np.int64),
                }
            ).with_columns(pl.lit("").alias("value_text")),
        )
    return {"customers": customers, "touchpoints": frame.height, "responses": responses.height}


def _attributes(rng: np.random.Generator, n: int) -> pl.Expr:
    """The attributes JSON of the demo's owners: the six the demo registers
    (rapport.core.demo.actions.ATTRIBUTES), each held by every customer, as the job reads them
    (a CustomerAttributeValue row per registered attribute and customer)."""
    return pl.format(
        '{{"model": "M{}", "model_year": {}, "vehicle_value": "{}.00", "loyalty_tier": "{}", '
        '"birth_year": {}, "vehicles": {}}}',
        pl.lit(pl.Series(rng.integers(0, 30, n))),
        pl.lit(pl.Series(rng.integers(2010, 2026, n))),
        pl.lit(pl.Series(rng.integers(500_000, 4_500_000, n) // 1000 * 1000)),
        pl.lit(pl.Series(np.array(["gold", "silver", "none", "none"])[rng.integers(0, 4, n)])),
        pl.lit(pl.Series(rng.integers(1948, 2003, n))),
        pl.lit(pl.Series(1 + (rng.random(n) < 0.3).astype(np.int64))),
    ).alias("attributes")


def _touchpoints(
    rng: np.random.Generator, ids: np.ndarray, home: np.ndarray, span: int
) -> list[pl.DataFrame]:
    n = ids.size
    parts = []
    # Service visits every `gap` days (60–180) from a start; a quarter drift away and stop.
    gap = rng.uniform(60, 180, n)
    start = rng.uniform(0, 200, n)
    stop = np.where(rng.random(n) < 0.25, rng.uniform(0, span, n), span)
    count = np.maximum(((stop - start) / gap).astype(int), 0) + 1
    owner = np.repeat(np.arange(n), count)
    step = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    day = start[owner] + step * gap[owner] * rng.uniform(0.7, 1.3, owner.size)
    keep = day < span
    owner, day = owner[keep], day[keep]
    amount = np.round(rng.gamma(2.0, 3000.0, owner.size), -1)
    visit_type = np.array(["maintenance", "repair", "warranty", "recall"])[
        rng.choice(4, owner.size, p=[0.6, 0.25, 0.1, 0.05])
    ]
    parts.append(_frame(ids[owner], home[owner], span - day, "service_visit", amount,
                        amount * rng.uniform(0.28, 0.45, owner.size),
                        [json.dumps({"visit_type": v}) for v in visit_type]))  # fmt: skip
    # One purchase each, at the start.
    price = np.round(rng.uniform(600_000, 2_500_000, n), -3)
    parts.append(_frame(ids, home, span - np.maximum(start - 1, 0), "purchase", price,
                        price * 0.06, None))  # fmt: skip
    # Monthly instalments for a third: 36 payments.
    payers = np.flatnonzero(rng.random(n) < 1 / 3)
    owner = np.repeat(payers, 36)
    day = start[owner] + 30 * np.tile(np.arange(1, 37), payers.size)
    keep = day < span
    parts.append(_frame(ids[owner[keep]], home[owner[keep]], span - day[keep], "payment",
                        np.full(keep.sum(), 25_000.0), None, None))  # fmt: skip
    # Loyalty activity and web visits: a Poisson number each, uniform in time.
    for kind, mean in (("loyalty_activity", 2.0), ("web_visit", 2.5)):
        count = rng.poisson(mean, n)
        owner = np.repeat(np.arange(n), count)
        parts.append(_frame(ids[owner], home[owner], rng.uniform(1, span, owner.size), kind,
                            None, None, None))  # fmt: skip
    # One in ten refers someone (a later customer id).
    referrers = np.flatnonzero(rng.random(n) < 0.1)
    friends = np.minimum(referrers + rng.integers(1, 5000, referrers.size), n - 1)
    contexts = [json.dumps({"referred_customer": f"C{ids[f]}"}) for f in friends]
    days_ago = rng.uniform(1, span, referrers.size)
    parts.append(
        _frame(ids[referrers], home[referrers], days_ago, "referral", None, None, contexts)
    )
    return parts


def _frame(customer, unit, days_ago, kind, amount, margin, context) -> pl.DataFrame:
    size = len(customer)
    return pl.DataFrame(
        {
            "customer_id": customer,
            "unit_id": unit,
            "days_ago": np.asarray(days_ago, dtype=np.float64),
            "kind": [kind] * size,
            "amount": np.full(size, np.nan) if amount is None else np.asarray(amount, np.float64),
            "margin": np.full(size, np.nan) if margin is None else np.asarray(margin, np.float64),
            "context": ["{}"] * size if context is None else context,
        }
    ).with_columns(pl.col("amount").fill_nan(None), pl.col("margin").fill_nan(None))


def _responses(
    rng: np.random.Generator, ids: np.ndarray, home: np.ndarray, span: int
) -> pl.DataFrame:
    """One completed response for a third of the customers; CSI items drive the NPS answer."""
    who = np.flatnonzero(rng.random(ids.size) < 1 / 3)
    m = who.size
    items = np.clip(np.round(rng.normal(7.5, 1.5, (m, 3))), 1, 10)
    nps = np.clip(np.round(0.5 * items[:, 0] + 0.4 * items[:, 1] + rng.normal(0, 1.2, m)), 0, 10)
    nps_class = np.where(nps >= 9, "promoter", np.where(nps >= 7, "passive", "detractor"))
    tiers = np.array(["fully_engaged", "engaged", "indifferent", "actively_disengaged"])
    tier = tiers[rng.choice(4, m, p=[0.25, 0.3, 0.3, 0.15])]
    csat = np.clip(np.round(rng.normal(4, 0.8, m)), 1, 5)
    completed = _stamp(rng.uniform(1, span, m), rng).alias("completed_at")
    return pl.DataFrame(
        {
            "customer_id": ids[who],
            "unit_id": home[who],
            "nps_score": nps.astype(np.int64),
            "nps_class": nps_class,
            "csat": csat.astype(np.int64),
            "csat_top2": csat >= 4,
            "ces": np.clip(np.round(rng.normal(5, 1, m)), 1, 7).astype(np.int64),
            "loyalty": np.round(rng.uniform(1, 5, m), 2),
            "attachment": np.round(rng.uniform(1, 5, m), 2),
            "tier": tier,
            "csi_index": np.round((items.mean(axis=1) - 1) / 9 * 1000, 2),
            "items": np.column_stack([nps, items]).tolist(),
        }
    ).with_columns(completed)


def remove_added_touchpoints(seed: int = 2) -> int:
    """Take out the touchpoints add_touchpoints(seed) wrote (external ids N{seed}-…), so that a
    kept base can be timed again."""
    from rapport.touchpoints.models import Touchpoint

    prefix = f"N{seed}-"
    added = Touchpoint.objects.filter(
        external_id__gte=prefix, external_id__lt=prefix[:-1] + chr(ord("-") + 1)
    )
    return added.delete()[0]


def add_touchpoints(count: int, seed: int = 2) -> None:
    """`count` new service visits for random customers, recorded now."""
    from rapport.customers.models import Customer
    from rapport.insights.frames import write_frame
    from rapport.touchpoints.models import Touchpoint

    rng = np.random.default_rng(seed)
    ids = np.array(Customer.objects.values_list("pk", flat=True))
    tp = Touchpoint.objects.order_by("pk").values("source_id", "unit_id").first()
    who = ids[rng.integers(0, ids.size, count)]
    amount = np.round(rng.gamma(2.0, 3000.0, count), -1)
    frame = _frame(who, np.full(count, tp["unit_id"]), rng.uniform(0.1, 1, count),
                   "service_visit", amount, amount * 0.35, None)  # fmt: skip
    write_frame(
        Touchpoint,
        frame.with_columns(
            _stamp(frame["days_ago"].to_numpy(), rng),
            pl.lit(tp["source_id"]).alias("source_id"),
            pl.format(f"N{seed}-{{}}", pl.int_range(pl.len())).alias("external_id"),
            pl.lit("branch").alias("channel"),
            pl.lit("TWD").alias("currency"),
            pl.lit(AS_OF).cast(pl.Datetime("us", "UTC")).alias("created_at"),
        ).drop("days_ago"),
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system time of this process (all its threads): the work, whatever else runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine() -> dict[str, Any]:
    """How busy the machine was: 1-minute load average, and the cores there are to share."""
    import os

    return {"load_average": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}


def timed(what: str, customers: int) -> dict[str, Any]:
    from django.db import connection

    from rapport.insights import jobs

    if what == "generate":
        started = time.perf_counter()
        counts = generate(customers)
        return {**counts, "seconds": time.perf_counter() - started}
    if what == "reset":
        return {"removed": remove_added_touchpoints()}
    if what == "scan":  # the floor: read every touchpoint's amount once
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*), SUM(amount) FROM touchpoints_touchpoint")
            cursor.fetchall()
        return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}
    if what == "full":
        before, cpu, started = _machine(), _cpu_seconds(), time.perf_counter()
        run = jobs.recompute_all(as_of=AS_OF)
        return {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": _cpu_seconds() - cpu,
            "peak_mb": _peak_mb(),
            "customers": run.customers,
            "timings": run.timings,
            "machine": {"before": before, "after": _machine()},
            "fit": {k: run.calibration.get(k) for k in ("bgnbd", "fit_error", "fit_note")},
        }
    add_touchpoints(NEW_TOUCHPOINTS)
    before, cpu, started = _machine(), _cpu_seconds(), time.perf_counter()
    run = jobs.recompute_incremental(as_of=AS_OF)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu_seconds() - cpu,
        "peak_mb": _peak_mb(),
        "customers": run.customers,
        "timings": run.timings,
        "machine": {"before": before, "after": _machine()},
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    django.setup()
    print(json.dumps(timed(sys.argv[1], int(sys.argv[2])), default=str))
