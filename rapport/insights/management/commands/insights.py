"""`rapport insights recompute [--full]`: run the insights job now (rapport.insights.jobs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rapport.insights import jobs
from rapport.surveys.results import enterprise_tz


def _as_of(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("--as-of must be a date like 2025-06-30")) from None
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=enterprise_tz())


class Command(BaseCommand):
    help = "Insights: `rapport insights recompute [--full]` brings the summary tables up to date."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        recompute = actions.add_parser(
            "recompute",
            help=_("recompute what changed since the last run (all of it with --full)"),
        )
        recompute.add_argument(
            "--full",
            action="store_true",
            help=_("recompute every customer and refit the value models"),
        )
        recompute.add_argument(
            "--as-of",
            type=_as_of,
            help=_("compute as at the start of this day (default: now)"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["full"]:
            run = jobs.recompute_all(as_of=options["as_of"])
        else:
            run = jobs.recompute_incremental(as_of=options["as_of"])
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            _("%(kind)s recompute: %(n)s customers in %(s).1f s")
            % {"kind": run.get_kind_display(), "n": f"{run.customers:,}", "s": seconds}
        )
        if run.calibration.get("fit_error"):
            self.stdout.write(
                _("lifetime values not computed: %(why)s") % {"why": run.calibration["fit_error"]}
            )
        if run.calibration.get("fit_note"):
            self.stdout.write(
                _("lifetime-value fit: %(note)s") % {"note": run.calibration["fit_note"]}
            )
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
        self.stdout.write(steps)
