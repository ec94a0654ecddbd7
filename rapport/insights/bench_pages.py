"""Server time of the segment explorer and the customer lists on a 1M-customer base.

`python -m rapport.insights.bench_pages fill N` writes, into the database DATABASE_URL /
RAPPORT_VAR_DIR names (an empty, migrated one), N customers with registered attributes — car
`model` (30 values, a few common), `city` (2,000), `membership` (3) and `model_year` (16) — and
synthetic CustomerInsight rows (20 branches in 4 regions; every cell, tier and flag occurs),
then the job's own SegmentSummary, MatrixSummary and CustomerAttributeValue rows from them
(rapport.insights.summaries), as a full run would. `python -m rapport.insights.bench_pages time`
requests each page of REQUESTS through Django's test client as a cx manager and prints the best
of three warm requests (ms), the query count and the load average, as JSON lines.

The touchpoints behind the facts do not matter to these pages (they read only the job's
tables), so the fill skips them: minutes instead of the recompute bench's half hour.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from typing import Any

import numpy as np
import polars as pl

AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
BRANCHES = 20
MODELS = 30
CITIES = 2_000

# (label, path, query); {region} / {branch} are filled with a region's / a branch's id.
REQUESTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("segments: everyone", "/insights/segments/", {}),
    (
        "segments: model=Camry",
        "/insights/segments/",
        {"attribute": "model", "attribute_value": "Camry"},
    ),  # fmt: skip
    (
        "segments: model=Camry, branch",
        "/insights/segments/",
        {"attribute": "model", "attribute_value": "Camry", "unit": "{branch}"},
    ),  # fmt: skip
    (
        "segments: model=Camry, visits 3-6",
        "/insights/segments/",
        {"attribute": "model", "attribute_value": "Camry", "visits": "3-6"},
    ),  # fmt: skip
    (
        "segments: model=M29 (rare)",
        "/insights/segments/",
        {"attribute": "model", "attribute_value": "M29"},
    ),  # fmt: skip
    (
        "segments: city=C0007",
        "/insights/segments/",
        {"attribute": "city", "attribute_value": "C0007"},
    ),  # fmt: skip
    (
        "segments: membership=none",
        "/insights/segments/",
        {"attribute": "membership", "attribute_value": "none"},
    ),  # fmt: skip
    (
        "segments: model_year=2020 (attribute)",
        "/insights/segments/",
        {"attribute": "model_year", "attribute_value": "2020"},
    ),  # fmt: skip
    ("segments: promoters", "/insights/segments/", {"promoters": "1"}),
    (
        "segments: promoters, branch",
        "/insights/segments/",
        {"promoters": "1", "unit": "{branch}"},
    ),  # fmt: skip
    ("segments: referrers", "/insights/segments/", {"referrers": "1"}),
    ("segments: lock-in", "/insights/segments/", {"lock_in": "1"}),
    ("segments: low P(alive)", "/insights/segments/", {"low_alive": "1"}),
    ("segments: value at risk", "/insights/segments/", {"at_risk_value": "1"}),
    (
        "segments: promoters + referrers",
        "/insights/segments/",
        {"promoters": "1", "referrers": "1"},
    ),  # fmt: skip
    (
        "segments: promoters, model=Camry",
        "/insights/segments/",
        {"promoters": "1", "attribute": "model", "attribute_value": "Camry"},
    ),  # fmt: skip
    # Combinations no SegmentSummary slice holds (an attribute value or a flag with a visits
    # band, model years or another flag), and the low-P(alive) slice's fine rows.
    (
        "segments: model=Camry, model years 2018-2022",
        "/insights/segments/",
        {
            "attribute": "model",
            "attribute_value": "Camry",
            "model_year_from": "2018",
            "model_year_to": "2022",
        },
    ),  # fmt: skip
    (
        "segments: model=Camry, low P(alive)",
        "/insights/segments/",
        {"attribute": "model", "attribute_value": "Camry", "low_alive": "1"},
    ),  # fmt: skip
    (
        "segments: model=Camry, branch, visits 3-6, promoters",
        "/insights/segments/",
        {
            "attribute": "model",
            "attribute_value": "Camry",
            "unit": "{branch}",
            "visits": "3-6",
            "promoters": "1",
        },
    ),  # fmt: skip
    (
        "segments: membership=none, visits 0-2",
        "/insights/segments/",
        {"attribute": "membership", "attribute_value": "none", "visits": "0-2"},
    ),  # fmt: skip
    (
        "segments: promoters, visits 3-6",
        "/insights/segments/",
        {"promoters": "1", "visits": "3-6"},
    ),  # fmt: skip
    (
        "segments: referrers, model years 2018-2022",
        "/insights/segments/",
        {"referrers": "1", "model_year_from": "2018", "model_year_to": "2022"},
    ),  # fmt: skip
    ("segments: lock-in, visits 7+", "/insights/segments/", {"lock_in": "1", "visits": "7+"}),
    (
        "segments: low P(alive), visits 3-6",
        "/insights/segments/",
        {"low_alive": "1", "visits": "3-6"},
    ),  # fmt: skip
    (
        "segments: value at risk, model years from 2020",
        "/insights/segments/",
        {"at_risk_value": "1", "model_year_from": "2020"},
    ),  # fmt: skip
    (
        "segments: value at risk, referrers, visits 0-2",
        "/insights/segments/",
        {"at_risk_value": "1", "referrers": "1", "visits": "0-2"},
    ),  # fmt: skip
    ("customers: everyone", "/insights/customers/", {}),
    ("customers: everyone p.300 (offset)", "/insights/customers/", {"page": "300"}),
    (
        "customers: branch p.300 (offset)",
        "/insights/customers/",
        {"unit": "{branch}", "page": "300"},
    ),  # fmt: skip
    (
        "customers: locked_in p.200 (offset)",
        "/insights/customers/",
        {"cell": "locked_in", "page": "200"},
    ),  # fmt: skip
    (
        "customers: promoters, visits 3-6",
        "/insights/customers/",
        {"promoters": "1", "visits": "3-6"},
    ),  # fmt: skip
    (
        "customers: region p.300 (offset)",
        "/insights/customers/",
        {"unit": "{region}", "page": "300"},
    ),  # fmt: skip
    (
        "customers: region p.300 (cursor)",
        "/insights/customers/",
        {"unit": "{region}", "page": "300", "after": "{region_cursor}"},
    ),  # fmt: skip
    (
        "customers: model=Camry",
        "/insights/customers/",
        {"attribute": "model", "attribute_value": "Camry"},
    ),  # fmt: skip
    (
        "customers: model=Camry p.300",
        "/insights/customers/",
        {"attribute": "model", "attribute_value": "Camry", "page": "300"},
    ),  # fmt: skip
    (
        "customers: city=C0007",
        "/insights/customers/",
        {"attribute": "city", "attribute_value": "C0007"},
    ),  # fmt: skip
    (
        "customers: membership=none, branch",
        "/insights/customers/",
        {"attribute": "membership", "attribute_value": "none", "unit": "{branch}"},
    ),  # fmt: skip
    ("customers: promoters", "/insights/customers/", {"promoters": "1"}),
    ("customers: referrers", "/insights/customers/", {"referrers": "1"}),
    ("customers: lock-in", "/insights/customers/", {"lock_in": "1"}),
    (
        "customers: low P(alive) p.300 (cursor)",
        "/insights/customers/",
        {"low_alive": "1", "page": "300", "after": "{low_cursor}"},
    ),  # fmt: skip
    (
        "customers: locked_in p.200 (cursor)",
        "/insights/customers/",
        {"cell": "locked_in", "page": "200", "after": "{locked_cursor}"},
    ),  # fmt: skip
)


def _units() -> tuple[int, list[int]]:
    from rapport.org.models import OrgUnit

    root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise")
    regions = [
        OrgUnit.objects.create(code=f"r{i}", name=f"Region {i}", kind="region", parent=root)
        for i in range(4)
    ]
    branches = [
        OrgUnit.objects.create(
            code=f"b{i}", name=f"Branch {i}", kind="branch", parent=regions[i % 4]
        ).pk
        for i in range(BRANCHES)
    ]
    return root.pk, branches


def fill(n: int, seed: int = 7) -> dict[str, Any]:
    """Write the base (see the module's docstring); returns row counts and seconds."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from rapport.customers.models import AttributeDefinition, Customer
    from rapport.insights import loads, summaries
    from rapport.insights.models import (
        CustomerAttributeValue,
        CustomerInsight,
        MatrixSummary,
        RecomputeRun,
        SegmentSummary,
    )
    from rapport.org.models import Staff

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with transaction.atomic():
        root, branches = _units()
        for name, kind in (
            ("model", "string"),
            ("city", "string"),
            ("membership", "string"),
            ("model_year", "integer"),
        ):
            AttributeDefinition.objects.create(name=name, label=name, type=kind)
        user = User.objects.create_user(username="bench-cx", password="bench-cx-Secret-1")
        Staff.objects.create(
            user=user, code="bench-cx", display_name="Bench", unit_id=root, role="cx_manager"
        )
        home = np.array(branches)[rng.integers(0, BRANCHES, n)]
        weights = 1 / np.arange(1, MODELS + 1)
        model_names = np.array(["Camry", *[f"M{i}" for i in range(1, MODELS)]])
        model = model_names[rng.choice(MODELS, n, p=weights / weights.sum())]
        city = np.char.add("C", np.char.zfill(rng.integers(0, CITIES, n).astype(str), 4))
        membership = np.array(["none", "silver", "gold"])[rng.choice(3, n, p=[0.7, 0.2, 0.1])]
        year = rng.integers(2010, 2026, n)
        now = pl.lit(AS_OF).cast(pl.Datetime("us", "UTC"))
        _write(
            Customer,
            pl.DataFrame(
                {"home_unit_id": home, "model": model, "city": city, "m": membership, "y": year}
            )
            .with_columns(
                pl.format(
                    '{{"model": "{}", "city": "{}", "membership": "{}", "model_year": {}}}',
                    "model",
                    "city",
                    "m",
                    "y",
                ).alias("attributes"),
                pl.lit("").alias("display_name"),
                pl.lit("en").alias("preferred_language"),
                pl.lit("").alias("email"),
                pl.lit("").alias("phone"),
                now.alias("created_at"),
                now.alias("updated_at"),
            )
            .drop("model", "city", "m", "y"),
        )
        first = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
        ids = np.arange(first, first + n)
        insight = _insight(rng, ids, home, year)
        _write(CustomerInsight, insight)
    # What a full run adds for the registered attributes, timed (seconds). The load reads
    # committed rows (on SQLite on two connections), as in the job.
    laps, lap = {}, time.perf_counter()
    attributes = loads.load_attribute_values()
    laps["load_attributes"], lap = time.perf_counter() - lap, time.perf_counter()
    with transaction.atomic():
        segments = summaries.segment_rows(insight, attributes)
        attribute_rows = summaries.attribute_value_rows(attributes, insight)
        laps["segment_rows"], lap = time.perf_counter() - lap, time.perf_counter()
        _write(SegmentSummary, segments)
        laps["write_segments"], lap = time.perf_counter() - lap, time.perf_counter()
        _write(CustomerAttributeValue, attribute_rows)
        laps["write_attribute_values"] = time.perf_counter() - lap
        groups = summaries.group_customers(insight.rename({"home_unit_id": "home_unit"}))
        _write(MatrixSummary, summaries.matrix_rows(groups, loads.load_units()))
        RecomputeRun.objects.create(
            kind="full", started_at=AS_OF, finished_at=AS_OF, as_of=AS_OF, customers=n
        )
    _analyze()
    return {
        "customers": n,
        "segment_rows": segments.height,
        "attribute_rows": attributes.height,
        "slices": segments.group_by(pl.col("attribute") != "", pl.col("flags") != "").len().rows(),
        "laps": {k: round(v, 2) for k, v in laps.items()},
        "load_average": os.getloadavg()[0],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _write(model: Any, frame: pl.DataFrame) -> None:
    """Bulk-write into an empty table (PostgreSQL cannot TRUNCATE the customers: foreign keys)."""
    from django.db import connection

    from rapport.insights import frames

    if connection.vendor == "postgresql":
        frames.write_frame(model, frame)
    else:
        frames.replace_all(model, frame)


def _analyze() -> None:
    """Statistics for the planner; on PostgreSQL also the visibility map that lets the covering
    indexes answer from their entries alone (index-only scans), as autovacuum sets it some time
    after a full run's COPY."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _insight(
    rng: np.random.Generator, ids: np.ndarray, home: np.ndarray, year: np.ndarray
) -> pl.DataFrame:
    n = ids.size
    retention = np.array(["retained", "at_risk", "lost", "no_visits"])[
        rng.choice(4, n, p=[0.5, 0.2, 0.2, 0.1])
    ]
    tiers = np.array(["", "fully_engaged", "engaged", "indifferent", "actively_disengaged"])
    tier = tiers[rng.choice(5, n, p=[0.6, 0.1, 0.12, 0.12, 0.06])]
    engaged = np.isin(tier, ["fully_engaged", "engaged"])
    cell = np.where(
        retention == "retained",
        np.where(tier == "", "unmeasured", np.where(engaged, "advocate", "locked_in")),
        retention,
    )
    clv = np.round(rng.lognormal(9, 1.2, n), 2)
    cut = np.quantile(clv, [0.5, 0.8, 0.95])
    value = np.array(["bronze", "silver", "gold", "platinum"])[np.searchsorted(cut, clv)]
    nps = np.where(rng.random(n) < 1 / 3, rng.integers(0, 11, n), -1)
    nps_class = np.where(
        nps < 0, "", np.where(nps >= 9, "promoter", np.where(nps >= 7, "passive", "detractor"))
    )
    visits = rng.integers(0, 12, n)
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "home_unit_id": home,
            "visits": visits,
            "days_since_visit": rng.integers(0, 900, n),
            "expected_gap_days": rng.uniform(60, 180, n),
            "visits_per_year": rng.uniform(0, 9, n),
            "model_year": year,
            "retention_state": retention,
            "engagement_tier": tier,
            "nps_score": nps,
            "nps_class": nps_class,
            "matrix_cell": cell,
            "returns": np.maximum(visits - 1, 0),
            "prompted_returns": np.zeros(n, dtype=np.int64),
            "lock_in_flag": (cell == "locked_in") & (rng.random(n) < 0.3),
            "revenue": clv * 3,
            "profit": clv,
            "frequency": rng.uniform(0, 10, n),
            "recency": rng.uniform(0, 100, n),
            "age": rng.uniform(50, 150, n),
            "monetary": rng.uniform(100, 9000, n),
            "p_alive": rng.uniform(0, 1, n),
            "clv": clv,
            "value_tier": value,
            "referrals": np.where(rng.random(n) < 0.1, 1, 0),
            "referred_customers": np.where(rng.random(n) < 0.1, 1, 0),
            "referred_value": np.zeros(n),
        }
    )
    return frame.with_columns(
        pl.when(pl.col("nps_score") >= 0).then(pl.col("nps_score")).alias("nps_score"),
        pl.lit(AS_OF).cast(pl.Datetime("us", "UTC")).alias("as_of"),
        pl.lit(False).alias("gap_is_fallback"),
        pl.lit(1).alias("rfm_recency"),
        pl.lit(1).alias("rfm_frequency"),
        pl.lit(1).alias("rfm_monetary"),
        pl.lit("111").alias("rfm_code"),
    )


def _cursors(region: int) -> dict[str, str]:
    """The `after` cursors a reader who clicked "Next" to these pages would carry (on a small
    base: the middle of the list)."""
    from rapport.insights import lists, segmentation
    from rapport.insights.models import CustomerInsight
    from rapport.org.models import OrgUnit

    def at(qs: Any, page: int) -> dict:
        rows = lists.customer_rows(qs)
        return rows[min((page - 1) * 50 - 1, qs.count() // 2)]

    unit = OrgUnit.objects.get(pk=region)
    inside = CustomerInsight.objects.filter(home_unit__path__startswith=unit.path)
    start = min(299 * 50 - 1, inside.count() // 2)
    row, _total = lists.by_value_tier_page(segmentation.SegmentFilter(unit=unit), start, 1)
    return {
        "region_cursor": lists.Cursor.of(row[0], True),
        "low_cursor": lists.Cursor.of(
            at(CustomerInsight.objects.filter(p_alive__lt=0.5), 300), False
        ),  # fmt: skip
        "locked_cursor": lists.Cursor.of(
            at(CustomerInsight.objects.filter(matrix_cell="locked_in"), 200), False
        ),  # fmt: skip
    }


def time_pages(repeat: int = 3) -> list[dict[str, Any]]:
    """Best of `repeat` warm requests per page; query counts from the last one."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from rapport.org.models import OrgUnit

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    settings.STORAGES = {  # no collectstatic manifest needed
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = Client()
    client.force_login(User.objects.get(username="bench-cx"))
    region = OrgUnit.objects.filter(kind="region").order_by("pk").first().pk
    branch = OrgUnit.objects.filter(kind="branch").order_by("pk").first().pk
    names = {"region": region, "branch": branch, **_cursors(region)}
    out = []
    for label, path, query in REQUESTS:
        params = {k: str(v).format(**names) for k, v in query.items()}
        client.get(path, params, secure=True)  # warm
        best = float("inf")
        for _ in range(repeat):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path, params, secure=True)
                best = min(best, time.perf_counter() - started)
            assert response.status_code == 200, (label, response.status_code)
        out.append(
            {
                "request": label,
                "ms": round(best * 1000),
                "queries": len(captured.captured_queries),
                "load": round(os.getloadavg()[0], 2),
                "vendor": connection.vendor,
            }
        )
        print(json.dumps(out[-1]), flush=True)
    out += _before()
    return out


def _before() -> list[dict[str, Any]]:
    """The one query each slow page ran before (an aggregate over the matching CustomerInsight
    rows: a JSON lookup joined over every customer, or a flag over everyone), timed alone."""
    from django.db import connection
    from django.db.models import Q

    from rapport.insights import segmentation
    from rapport.insights.models import CustomerInsight

    old = {
        "model=Camry": Q(customer__attributes__model="Camry"),
        "city=C0007": Q(customer__attributes__city="C0007"),
        "promoters": Q(nps_class="promoter"),
        "referrers": Q(referrals__gt=0),
        "low P(alive)": Q(p_alive__lt=0.5),
    }
    out = []
    for label, cond in old.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            segmentation.segment_measures(CustomerInsight.objects.filter(cond))
            best = min(best, time.perf_counter() - started)
        out.append(
            {
                "request": f"before: segment aggregate, {label}",
                "ms": round(best * 1000),
                "load": round(os.getloadavg()[0], 2),
                "vendor": connection.vendor,
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    django.setup()
    if sys.argv[1] == "fill":
        print(json.dumps(fill(int(sys.argv[2]))))
    else:
        time_pages()
