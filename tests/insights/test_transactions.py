"""Reading transaction files into per-customer BG/NBD inputs."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import polars as pl
import pytest

from rapport.insights.transactions import (
    TransactionFileError,
    read_transactions,
    summarise_customers,
)

END = dt.date(2024, 3, 31)


def write(tmp_path, text: str, name: str = "tx.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_same_day_purchases_count_as_one_and_later_ones_are_holdout(tmp_path):
    path = write(
        tmp_path,
        "cust,day,amt\n"
        "a,2024-01-01,10\n"
        "a,2024-01-01,5\n"  # same day: one purchase of 15
        "a,2024-01-15,20\n"
        "a,2024-01-15T18:30:00,4\n"  # a time of day is ignored: same day again
        "a,2024-02-12,30\n"
        "a,2024-05-01,99\n"  # after the calibration end: holdout, ignored
        "b,2024-03-01,7\n"
        "c,2024-04-02,50\n",  # first purchase after the end: excluded
    )
    summary = summarise_customers(read_transactions(path, "cust", "day", "amt"), END, 7.0)
    assert summary.customer_ids.tolist() == ["a", "b"]
    assert summary.frequency.tolist() == [2, 0]
    assert summary.recency == pytest.approx([42 / 7, 0])
    assert pytest.approx([90 / 7, 30 / 7]) == summary.T
    assert summary.monetary == pytest.approx([(24 + 30) / 2, 0])  # repeat purchases only
    assert summary.excluded_after_calibration == 1
    assert summary.repeat_customers == 1
    assert summary.first_purchase == dt.date(2024, 1, 1)


def test_month_unit_is_a_twelfth_of_a_julian_year(tmp_path):
    path = write(tmp_path, "c,d,a\nx,2024-01-01,1\nx,2024-02-01,1\n")
    summary = summarise_customers(read_transactions(path, "c", "d", "a"), END, 365.25 / 12)
    assert summary.recency == pytest.approx([31 / (365.25 / 12)])


def test_compact_dates_gzip_blank_lines_and_padding(tmp_path):
    path = tmp_path / "tx.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("id,date,value\n 001 ,19970101, 11.77 \n\n001,19970118,29.73\n")
    frame = read_transactions(path, "id", "date", "value")
    assert frame["customer"].to_list() == ["001", "001"]
    assert frame["date"].to_list() == [dt.date(1997, 1, 1), dt.date(1997, 1, 18)]
    assert frame["amount"].to_list() == [11.77, 29.73]


def test_explicit_date_format(tmp_path):
    path = write(tmp_path, "c,d,a\nx,31/01/2024,1\n")
    frame = read_transactions(path, "c", "d", "a", date_format="%d/%m/%Y")
    assert frame["date"].to_list() == [dt.date(2024, 1, 31)]


def test_parquet_with_typed_columns(tmp_path):
    path = tmp_path / "tx.parquet"
    pl.DataFrame(
        {
            "c": [1, 1, 2],
            "d": [dt.date(2024, 1, 1), dt.date(2024, 1, 8), dt.date(2024, 1, 2)],
            "a": [10.0, 20.0, 5.0],
        }
    ).write_parquet(path)
    summary = summarise_customers(read_transactions(path, "c", "d", "a"), END, 1.0)
    assert summary.customer_ids.tolist() == ["1", "2"]
    assert summary.recency.tolist() == [7.0, 0.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("c,d,a\n", "no transactions"),
        ("c,d,a\n\n\n", "no transactions"),
        ("cust,d,a\nx,2024-01-01,1\n", "no column 'c'; the columns are: cust, d, a"),
        ("c,d,a\nx,2024-01-01,1\nx,2024-13-01,2\n", "line 3: cannot read the date '2024-13-01'"),
        ("c,d,a\nx,2024-01-01,1\nx,,2\n", "line 3: cannot read the date ''"),
        ("c,d,a\nx,01/02/2024,1\n", "line 2: cannot read the date '01/02/2024'.*--date-format"),
        ("c,d,a\nx,1997011,1\n", "line 2: cannot read the date '1997011'"),
        ("c,d,a\nx,2024-01-01,1\n\nx,2024-01-02,$3\n", "line 4: cannot read the amount '\\$3'"),
        ("c,d,a\nx,2024-01-01,nan\n", "line 2: cannot read the amount 'nan'"),
        ("c,d,a\nx,2024-01-01,\n", "line 2: cannot read the amount ''"),
        ("c,d,a\n,2024-01-01,1\n", "line 2: the customer column 'c' is empty"),
    ],
)
def test_bad_files_are_refused_with_where_and_what(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(TransactionFileError, match=message):
        read_transactions(path, "c", "d", "a")


def test_missing_file(tmp_path):
    with pytest.raises(TransactionFileError, match="no such file"):
        read_transactions(tmp_path / "nope.csv", "c", "d", "a")


def test_calibration_end_before_all_data(tmp_path):
    path = write(tmp_path, "c,d,a\nx,2024-01-01,1\ny,2024-02-01,1\n")
    frame = read_transactions(path, "c", "d", "a")
    with pytest.raises(TransactionFileError, match="2023-12-31 is before the first purchase"):
        summarise_customers(frame, dt.date(2023, 12, 31), 7.0)


def test_many_rows_stay_columnar(tmp_path):
    """100,000 rows read and summarise without a Python loop over customers."""
    rng = np.random.default_rng(3)
    n = 100_000
    days = rng.integers(0, 300, size=n)
    frame = pl.DataFrame(
        {
            "c": rng.integers(0, 10_000, size=n).astype(str),
            "d": (np.datetime64("2023-01-01") + days).astype("datetime64[D]").astype(str),
            "a": rng.gamma(2.0, 10.0, size=n).round(2),
        }
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    summary = summarise_customers(read_transactions(path, "c", "d", "a"), END, 7.0)
    assert summary.customers == frame["c"].n_unique()
    assert (summary.recency <= summary.T).all()
