"""`rapport clv fit`: fit the lifetime-value models on a transaction file an analyst brings.

Reading and summarising live in rapport.insights.transactions, the models in
rapport.insights.clv; this command only parses options and prints.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rapport.insights import clv
from rapport.insights.transactions import (
    CustomerSummary,
    TransactionFileError,
    read_transactions,
    summarise_customers,
)


class Command(BaseCommand):
    help = "Customer lifetime value: `rapport clv fit --transactions FILE ...`."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        fit = actions.add_parser(
            "fit",
            help=_("fit BG/NBD and Gamma-Gamma on a transaction file (CSV, CSV.gz or Parquet)"),
        )
        fit.add_argument("--transactions", required=True, metavar="FILE")
        fit.add_argument("--customer-col", required=True, metavar="C")
        fit.add_argument("--date-col", required=True, metavar="D")
        fit.add_argument("--amount-col", required=True, metavar="A")
        fit.add_argument(
            "--calibration-end",
            required=True,
            metavar="DATE",
            help=_("last day of the fitting period (YYYY-MM-DD); later purchases are ignored"),
        )
        fit.add_argument(
            "--time-unit",
            choices=sorted(clv.DAYS_PER_UNIT),
            default="week",
            help=_("unit of recency, T and alpha: day, week (7 days), month (365.25/12 days)"),
        )
        fit.add_argument(
            "--date-format",
            metavar="FORMAT",
            help=_("strptime format of the dates, e.g. %%d/%%m/%%Y (default: ISO or YYYYMMDD)"),
        )
        fit.add_argument("--json", action="store_true", help=_("print the estimates as JSON"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            end = dt.date.fromisoformat(options["calibration_end"])
        except ValueError:
            raise CommandError(
                _("--calibration-end %(value)r is not a date like 1997-09-30")
                % {"value": options["calibration_end"]}
            ) from None
        days = clv.DAYS_PER_UNIT[options["time_unit"]]
        try:
            frame = read_transactions(
                options["transactions"],
                options["customer_col"],
                options["date_col"],
                options["amount_col"],
                options["date_format"],
            )
            summary = summarise_customers(frame, end, days)
            models = clv.fit_value_models(
                summary.frequency, summary.recency, summary.T, summary.monetary
            )
        except (TransactionFileError, clv.FitError) as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            if summary.excluded_after_calibration:  # stdout stays exactly the JSON
                self.stderr.write(_excluded_note(summary))
            self.stdout.write(json.dumps(_as_json(models, summary)))
        else:
            self.stdout.write(_report(models, summary, options["time_unit"], days))


def _as_json(models: clv.ValueModels, summary: CustomerSummary) -> dict[str, Any]:
    bg, gg = models.bgnbd, models.gamma_gamma
    return {
        "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "loglik": bg.loglik},
        "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v},
        "customers": summary.customers,
        "repeat_customers": summary.repeat_customers,
        "held_at_cap": list(bg.at_cap + gg.at_cap),
        "note": models.note,
    }


def _excluded_note(summary: CustomerSummary) -> str:
    return _("Excluded %(n)d customers whose first purchase is after the calibration end.") % {
        "n": summary.excluded_after_calibration
    }


def _report(models: clv.ValueModels, s: CustomerSummary, unit: str, days: float) -> str:
    bg, gg = models.bgnbd, models.gamma_gamma
    terms = clv.LifetimeValueTerms()
    year = 365.25 / days
    alive = clv.probability_alive(bg, s.frequency, s.recency, s.T)
    value = clv.customer_lifetime_value(
        bg, gg, s.frequency, s.recency, s.T, s.monetary, days_per_unit=days, terms=terms
    )
    lines = [
        _("Customers: %(n)d (%(rep)d with repeat purchases); first purchase %(first)s.")
        % {"n": s.customers, "rep": s.repeat_customers, "first": s.first_purchase},
    ]
    if s.excluded_after_calibration:
        lines.append(_excluded_note(s))
    lines += [
        "",
        _("BG/NBD (purchases; time unit: %(unit)s)") % {"unit": unit},
        f"  r      {bg.r:12.4f}",
        f"  alpha  {bg.alpha:12.4f}",
        f"  a      {bg.a:12.4f}",
        f"  b      {bg.b:12.4f}",
        f"  {_('log-likelihood')} {bg.loglik:.2f}",
        _("Gamma-Gamma (spend per purchase)"),
        f"  p      {gg.p:12.4f}",
        f"  q      {gg.q:12.4f}",
        f"  v      {gg.v:12.4f}",
        "",
        _("What it means:"),
        "  "
        + _("While active, customers buy on average %(rate).3g times per %(unit)s (r/alpha).")
        % {"rate": bg.r / bg.alpha, "unit": unit},
        "  "
        + _("After each purchase a customer leaves for good with probability %(p).2f (a/(a+b)).")
        % {"p": bg.a / (bg.a + bg.b)},
        "  "
        + _("A new customer is expected to make %(n).2f repeat purchases in their first year.")
        % {"n": float(clv.expected_purchases(bg, year))},
        "  "
        + _("Expected spend per purchase across customers: %(m).2f (p·v/(q−1)).")
        % {"m": gg.mean_spend},
        "  "
        + _("%(n)d of %(total)d customers are more likely active than not (P(alive) ≥ 0.5).")
        % {"n": int((alive >= 0.5).sum()), "total": s.customers},
        "  "
        + _(
            "Average %(months)d-month value per customer, discounted at %(rate).0f%% a year: "
            "%(clv).2f (total %(sum).0f)."
        )
        % {
            "months": terms.horizon_months,
            "rate": 100 * terms.annual_discount_rate,
            "clv": float(np.mean(value)),
            "sum": float(np.sum(value)),
        },
    ]
    if models.note:
        lines += ["", _("Note: %(note)s.") % {"note": models.note}]
    return "\n".join(lines)
