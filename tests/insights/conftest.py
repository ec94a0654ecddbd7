"""Fixtures for the value and lifetime-value tests: the CDNOW data shipped in `lifetimes`.

`lifetimes` is a dev dependency (pyproject.toml) only for its data and as the benchmark's
baseline; we locate its data directory without importing the package.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def lifetimes_datasets() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        message = (
            "the CDNOW data comes with the `lifetimes` dev dependency: pip install -e '.[dev]'"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


@pytest.fixture(scope="session")
def cdnow_summary(lifetimes_datasets: Path) -> dict[str, np.ndarray]:
    """The 2,357-customer CDNOW cohort as published: x, t_x, T in weeks, mean repeat spend."""
    path = lifetimes_datasets / "cdnow_customers_summary_with_transactions.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        key: np.array([float(row[col]) for row in rows])
        for key, col in (("x", "x"), ("t_x", "t_x"), ("T", "T"), ("m", "zbar"))
    }


@pytest.fixture(scope="session")
def cdnow_transactions_csv(lifetimes_datasets: Path, tmp_path_factory) -> Path:
    """CDNOW_sample.txt (whitespace-separated, no header) as the gzipped CSV an analyst brings."""
    out = tmp_path_factory.mktemp("cdnow") / "cdnow_sample.csv.gz"
    source = lifetimes_datasets / "CDNOW_sample.txt"
    with source.open() as src, gzip.open(out, "wt", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["master_id", "customer", "date", "cds", "amount"])
        for line in src:
            if line.strip():
                writer.writerow(line.split())
    return out
