"""Reading a transaction file into per-customer arrays for the lifetime-value models.

A transaction file is whatever an analyst exports: CSV (optionally gzip-compressed) or Parquet,
one row per purchase, with a customer column, a date column and an amount column. We read it with
polars (columnar, multi-threaded) and reduce it to the BG/NBD summary per customer:

  frequency  purchase days after the first one, up to the calibration end (same-day purchases
             count as one, their amounts summed),
  recency    time from the first to the last purchase day,
  T          time from the first purchase day to the calibration end day,
  monetary   mean amount of the repeat purchase days (0 for customers without repeats),

with time in days divided by the unit's length (rapport.insights.clv.DAYS_PER_UNIT: a week is
7 days, a month 365.25/12 days). Purchases after the calibration end are left out (they are the
holdout), and customers whose first purchase is after it are excluded and counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from django.utils.translation import gettext as _
from numpy.typing import NDArray

# Date layouts recognised without --date-format: (pattern a value must match, strptime format).
# The layout is chosen from the first non-empty value; ISO values may carry a time, ignored here.
AUTO_DATE_FORMATS = (
    (r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ].*)?$", "%Y-%m-%d"),
    (r"^\d{8}$", "%Y%m%d"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d"),
)


class TransactionFileError(ValueError):
    """The file cannot be read as transactions; the message names the file, line and value."""


@dataclass(frozen=True)
class CustomerSummary:
    """Per-customer arrays in one order, plus what was left out and why."""

    customer_ids: NDArray[np.str_]
    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    T: NDArray[np.float64]
    monetary: NDArray[np.float64]
    excluded_after_calibration: int
    first_purchase: dt.date

    @property
    def customers(self) -> int:
        return int(self.frequency.size)

    @property
    def repeat_customers(self) -> int:
        return int((self.frequency > 0).sum())


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def _row_label(index: int, parquet: bool) -> str:
    """Where a bad value is: a line of a CSV file (header is line 1) or a row of Parquet."""
    return _("row %(n)d") % {"n": index + 1} if parquet else _("line %(n)d") % {"n": index + 2}


def read_transactions(
    path: str | Path,
    customer_col: str,
    date_col: str,
    amount_col: str,
    date_format: str | None = None,
) -> pl.DataFrame:
    """Read a transaction file into a frame with columns customer (str), date, amount (f64).

    Blank lines are skipped; any other row with a missing or unreadable field is an error that
    names its line and value, because silently dropping purchases would bias the fit.
    """
    path = Path(path)
    if not path.is_file():
        raise TransactionFileError(_("%(path)s: no such file") % {"path": path})
    parquet = _is_parquet(path)
    wanted = [customer_col, date_col, amount_col]
    try:
        if parquet:
            columns = list(pl.read_parquet_schema(path))
        else:
            columns = pl.read_csv(path, n_rows=0, encoding="utf8-lossy").columns
    except pl.exceptions.NoDataError:
        raise TransactionFileError(_("%(path)s: the file is empty") % {"path": path}) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise TransactionFileError(
            _("%(path)s: cannot read the file: %(error)s") % {"path": path, "error": exc}
        ) from None
    missing = [c for c in dict.fromkeys(wanted) if c not in columns]
    if missing:
        raise TransactionFileError(
            _("%(path)s: no column %(missing)s; the columns are: %(available)s")
            % {
                "path": path,
                "missing": ", ".join(repr(c) for c in missing),
                "available": ", ".join(columns),
            }
        )
    try:
        if parquet:
            raw = pl.read_parquet(path, columns=list(dict.fromkeys(wanted)))
        else:
            raw = pl.read_csv(
                path,
                columns=list(dict.fromkeys(wanted)),
                infer_schema=False,
                encoding="utf8-lossy",
            )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise TransactionFileError(
            _("%(path)s: cannot read the file: %(error)s") % {"path": path, "error": exc}
        ) from None

    frame = raw.select(
        pl.col(customer_col).cast(pl.String).str.strip_chars().alias("customer"),
        pl.col(date_col).alias("date_raw"),
        pl.col(amount_col).alias("amount_raw"),
    ).with_row_index("row")
    # Blank lines come through as all-null rows.
    frame = frame.filter(
        pl.col("customer").is_not_null()
        | pl.col("date_raw").is_not_null()
        | pl.col("amount_raw").is_not_null()
    )
    if frame.height == 0:
        raise TransactionFileError(_("%(path)s: the file has no transactions") % {"path": path})

    frame = frame.with_columns(
        _parse_dates(frame, date_format, path, date_col, parquet),
        _parse_amounts(frame, path, amount_col, parquet),
    )
    blank_customer = frame.filter(pl.col("customer").is_null() | (pl.col("customer") == ""))
    if blank_customer.height:
        raise TransactionFileError(
            _("%(path)s, %(where)s: the customer column %(col)r is empty")
            % {
                "path": path,
                "where": _row_label(blank_customer["row"][0], parquet),
                "col": customer_col,
            }
        )
    return frame.select("customer", "date", "amount")


def _parse_dates(
    frame: pl.DataFrame, date_format: str | None, path: Path, column: str, parquet: bool
) -> pl.Series:
    raw = frame["date_raw"]
    if raw.dtype == pl.Date:
        parsed = raw
    elif raw.dtype == pl.Datetime:
        parsed = raw.dt.date()
    else:
        text = raw.cast(pl.String).str.strip_chars()
        fmt = date_format
        if fmt is None:
            fmt = _detect_date_format(text)
            if fmt == "%Y-%m-%d":
                text = text.str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ].*)?$", 1)
            elif fmt == "%Y%m%d":  # polars would also take 7 digits; insist on exactly 8
                text = text.str.extract(r"^(\d{8})$", 1)
        if fmt is None:  # no known layout: every value is unreadable, the first one is named
            parsed = pl.Series("date", [None] * text.len(), dtype=pl.Date)
        else:
            try:
                parsed = text.str.strptime(pl.Date, fmt, strict=False)
            except pl.exceptions.PolarsError as exc:
                raise TransactionFileError(
                    _("%(path)s: cannot use the date format %(fmt)r: %(error)s")
                    % {"path": path, "fmt": fmt, "error": exc}
                ) from None
    bad = frame.select("row", pl.col("date_raw").cast(pl.String)).filter(parsed.is_null())
    if bad.height:
        value = bad["date_raw"][0]
        hint = (
            _("give --date-format, e.g. %%d/%%m/%%Y")
            if date_format is None
            else _("expected the format %(fmt)s") % {"fmt": date_format}
        )
        raise TransactionFileError(
            _("%(path)s, %(where)s: cannot read the date %(value)r in column %(col)r (%(hint)s)")
            % {
                "path": path,
                "where": _row_label(bad["row"][0], parquet),
                "value": value or "",
                "col": column,
                "hint": hint,
            }
        )
    return parsed.alias("date")


def _detect_date_format(text: pl.Series) -> str | None:
    """The strptime format matching the first non-empty value, or None if none matches."""
    first = text.drop_nulls()
    if first.len() == 0:
        return None
    sample = pl.Series([first[0]])
    for pattern, fmt in AUTO_DATE_FORMATS:
        if sample.str.contains(pattern).all():
            return fmt
    return None


def _parse_amounts(frame: pl.DataFrame, path: Path, column: str, parquet: bool) -> pl.Series:
    raw = frame["amount_raw"]
    if raw.dtype.is_numeric():
        parsed = raw.cast(pl.Float64)
    else:
        parsed = raw.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    # NaN and infinities are unreadable amounts too.
    parsed = pl.select(pl.when(parsed.is_finite()).then(parsed).alias("amount")).to_series()
    bad = frame.select("row", pl.col("amount_raw").cast(pl.String)).filter(parsed.is_null())
    if bad.height:
        raise TransactionFileError(
            _("%(path)s, %(where)s: cannot read the amount %(value)r in column %(col)r")
            % {
                "path": path,
                "where": _row_label(bad["row"][0], parquet),
                "value": bad["amount_raw"][0] or "",
                "col": column,
            }
        )
    return parsed


def summarise_customers(
    transactions: pl.DataFrame, calibration_end: dt.date, days_per_unit: float
) -> CustomerSummary:
    """Reduce transactions (customer, date, amount) to per-customer BG/NBD inputs.

    Raises TransactionFileError when the calibration end is before every customer's first
    purchase, since nothing would be left to fit.
    """
    daily = transactions.group_by("customer", "date").agg(pl.col("amount").sum())
    first = daily.group_by("customer").agg(pl.col("date").min().alias("first"))
    earliest = first["first"].min()
    late = first.filter(pl.col("first") > calibration_end).height
    if late == first.height:
        raise TransactionFileError(
            _(
                "the calibration end %(end)s is before the first purchase in the file "
                "(%(first)s): there is nothing to fit"
            )
            % {"end": calibration_end.isoformat(), "first": earliest}
        )
    calibration = daily.filter(pl.col("date") <= calibration_end).join(first, on="customer")
    per_customer = (
        calibration.with_columns(
            ((pl.col("date") - pl.col("first")).dt.total_days()).alias("age"),
        )
        .group_by("customer")
        .agg(
            (pl.len() - 1).alias("frequency"),
            pl.col("age").max().alias("recency_days"),
            pl.col("first").first(),
            pl.col("amount").filter(pl.col("age") > 0).mean().alias("monetary"),
        )
        .with_columns(
            (pl.lit(calibration_end) - pl.col("first")).dt.total_days().alias("T_days"),
            pl.col("monetary").fill_null(0.0),
        )
        .sort("customer")
    )
    return CustomerSummary(
        customer_ids=per_customer["customer"].to_numpy(),
        frequency=per_customer["frequency"].cast(pl.Float64).to_numpy(),
        recency=per_customer["recency_days"].cast(pl.Float64).to_numpy() / days_per_unit,
        T=per_customer["T_days"].cast(pl.Float64).to_numpy() / days_per_unit,
        monetary=per_customer["monetary"].cast(pl.Float64).to_numpy(),
        excluded_after_calibration=late,
        first_purchase=earliest,
    )
