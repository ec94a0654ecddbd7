"""`rapport clv fit`: output shapes and a clear message, never a traceback, for bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

COLUMNS = ["--customer-col", "c", "--date-col", "d", "--amount-col", "a"]


def fit(path, *extra: str, end: str = "2024-12-31") -> str:
    out = StringIO()
    call_command(
        "clv",
        "fit",
        "--transactions",
        str(path),
        *COLUMNS,
        "--calibration-end",
        end,
        *extra,
        stdout=out,
    )
    return out.getvalue()


def write(tmp_path, text: str):
    path = tmp_path / "tx.csv"
    path.write_text(text)
    return path


def test_json_shape_on_cdnow(cdnow_transactions_csv):
    out = StringIO()
    call_command(
        "clv",
        "fit",
        "--transactions",
        str(cdnow_transactions_csv),
        "--customer-col",
        "customer",
        "--date-col",
        "date",
        "--amount-col",
        "amount",
        "--calibration-end",
        "1997-09-30",
        "--time-unit",
        "week",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert set(data) == {
        "bgnbd", "gamma_gamma", "customers", "repeat_customers", "held_at_cap", "note"
    }  # fmt: skip
    assert data["held_at_cap"] == [] and data["note"] == ""  # CDNOW customers do differ
    assert set(data["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert set(data["gamma_gamma"]) == {"p", "q", "v"}
    assert data["customers"] == 2357
    assert data["repeat_customers"] == 946
    assert round(data["bgnbd"]["alpha"], 2) == 4.41
    assert round(data["gamma_gamma"]["q"], 2) == 3.74


def test_readable_report_with_interpretation_and_exclusions(cdnow_transactions_csv, tmp_path):
    # Append one customer who first buys after the calibration end.
    extra = tmp_path / "more.csv"
    with gzip.open(cdnow_transactions_csv, "rt") as f:
        extra.write_text(f.read() + "99999,9999,19971201,1,10.00\n")
    out = StringIO()
    call_command(
        "clv",
        "fit",
        "--transactions",
        str(extra),
        "--customer-col",
        "customer",
        "--date-col",
        "date",
        "--amount-col",
        "amount",
        "--calibration-end",
        "1997-09-30",
        stdout=out,
    )
    text = out.getvalue()
    assert "Customers: 2357 (946 with repeat purchases)" in text
    assert "Excluded 1 customers whose first purchase is after the calibration end" in text
    assert "r/alpha" in text and "P(alive)" in text and "discounted at 10% a year" in text


def test_day_unit_rescales_alpha(cdnow_transactions_csv):
    def alpha(unit: str) -> float:
        out = StringIO()
        call_command(
            "clv",
            "fit",
            "--transactions",
            str(cdnow_transactions_csv),
            "--customer-col",
            "customer",
            "--date-col",
            "date",
            "--amount-col",
            "amount",
            "--calibration-end",
            "1997-09-30",
            "--time-unit",
            unit,
            "--json",
            stdout=out,
        )
        return json.loads(out.getvalue())["bgnbd"]["alpha"]

    assert alpha("day") == pytest.approx(7 * alpha("week"), rel=1e-5)


@pytest.mark.parametrize(
    ("text", "extra", "end", "message"),
    [
        (
            "customer,date,amount\nx,2024-01-01,1\n",
            (),
            "2024-12-31",
            "no column 'c', 'd', 'a'; the columns are: customer, date, amount",
        ),
        ("c,d,a\nx,2024-01-01,1\nx,2024-02-30,1\n", (), "2024-12-31", "line 3.*'2024-02-30'"),
        ("c,d,a\nx,2024-01-01,1\nx,2024-02-01,1,5\n", (), "2024-12-31", "cannot read the file"),
        ("c,d,a\nx,2024-01-01,1\nx,2024-02-01,ten\n", (), "2024-12-31", "line 3.*'ten'"),
        ("c,d,a\nx,2024-01-01,1\ny,2024-02-01,1\n", (), "2023-06-30", "before the first purchase"),
        ("c,d,a\nx,2024-01-01,1\nx,2024-02-01,2\n", (), "2024-12-31", "only one customer"),
        (
            "c,d,a\nx,2024-01-01,1\ny,2024-02-01,1\n",
            (),
            "2024-12-31",
            "no customer made a repeat purchase.*neither.*Gamma-Gamma spend model can be fitted",
        ),
        ("", (), "2024-12-31", "empty"),
        ("c,d,a\n", (), "2024-12-31", "no transactions"),
        (
            "c,d,a\nx,2024-01-01,1\nx,2024-01-05,2\ny,2024-01-01,3\n",
            (),
            "2024-12-31",
            "did not converge",
        ),
        ("c,d,a\nx,2024-01-01,1\n", (), "31/12/2024", "--calibration-end '31/12/2024'"),
        ("c,d,a\nx,2024-01-01,1\n", ("--date-format", "%d.%m.%Y"), "2024-12-31", "%d.%m.%Y"),
    ],
)
def test_bad_input_gets_a_clear_message(tmp_path, text, extra, end, message):
    with pytest.raises(CommandError, match=message):
        fit(write(tmp_path, text), *extra, end=end)


def test_command_line_exits_non_zero_without_traceback(tmp_path):
    path = write(tmp_path, "c,d,a\nx,2024-01-01,1\nx,2024-01-08,abc\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rapport", "clv", "fit", "--transactions", str(path), *COLUMNS]
        + ["--calibration-end", "2024-12-31"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "line 3: cannot read the amount 'abc' in column 'a'" in proc.stderr
    assert "Traceback" not in proc.stderr
