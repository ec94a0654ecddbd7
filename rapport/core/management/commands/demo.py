"""`rapport demo`: migrate, load the demo company (a Taiwanese car-dealer group) with logins,
then serve it with the background worker beside the web server."""

from __future__ import annotations

import sys
import time
import zoneinfo
from datetime import date, timedelta
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from rapport.core import serving
from rapport.core.demo import actions, org
from rapport.core.management.commands.serve import (
    add_server_arguments,
    check_server_options,
    prepare_static,
    serve,
)


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("--as-of must be a date like 2025-06-30")) from exc


class Command(BaseCommand):
    help = _(
        "Load the demo company (deterministic from --seed), print its logins, and serve it with "
        "the background worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers", type=int, default=2_000, help="how many customers (default: 2,000)"
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
        parser.add_argument(
            "--as-of",
            help="the history ends the day before this date (default: today in Taipei); "
            "the same seed and date give the same data",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="remove a loaded demo (every customer and touchpoint) and load it again",
        )
        parser.add_argument("--no-serve", action="store_true", help="load only, do not serve")
        add_server_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        customers = options["customers"]
        if customers < 1:
            raise CommandError(_("--customers must be at least 1"))
        url = check_server_options(options)
        if options["as_of"]:
            as_of = _as_of(options["as_of"])
        else:
            as_of = timezone.localdate(timezone=zoneinfo.ZoneInfo(org.TIME_ZONE))

        self.stdout.write(_("Preparing the database…"))
        call_command("migrate", interactive=False, verbosity=0)

        status = actions.demo_status()
        if status is not None and options["reset"]:
            self.stdout.write(_("Removing the loaded demo…"))
            self._guarded(actions.reset_demo)
            status = None
        if status is None:
            self._load(options["seed"], customers, as_of, url)
        else:
            self._already_loaded(status, url)
        if options["no_serve"]:
            return
        connections.close_all()  # the children open their own
        prepare_static(self)
        serve(self, options, {"background worker": serving.worker_command()})

    def _guarded(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except actions.DemoError as exc:
            raise CommandError(str(exc)) from exc

    def _load(self, seed: int, customers: int, as_of: date, url: str) -> None:
        self.stdout.write(
            _("Loading the demo company: %(n)s customers, seed %(seed)s, history up to %(day)s…")
            % {"n": f"{customers:,}", "seed": seed, "day": (as_of - timedelta(days=1)).isoformat()}
        )
        started = time.monotonic()
        bar = tqdm(
            total=customers,
            unit=" customers",
            file=sys.stderr,
            mininterval=0.2 if sys.stderr.isatty() else 5.0,  # a log file gets a line now and then
            smoothing=0.1,
        )
        try:
            with bar:
                summary = self._guarded(
                    actions.load_demo, seed, customers, as_of, progress=bar.update
                )
        except KeyboardInterrupt:
            raise CommandError(_("Interrupted: nothing was loaded.")) from None
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Loaded %(ent)s: %(c)s customers, %(t)s touchpoints from %(s)d systems "
                    "in %(sec).1f s."
                )
                % {
                    "ent": org.ENTERPRISE_NAME,
                    "c": f"{summary.customers:,}",
                    "t": f"{summary.touchpoints:,}",
                    "s": len(actions.SOURCES),
                    "sec": elapsed,
                }
            )
        )
        self._print_logins(summary.logins, url, summary.password)

    def _already_loaded(self, status: actions.DemoStatus, url: str) -> None:
        self.stdout.write(
            self.style.WARNING(
                _(
                    "The demo company is already loaded (%(ent)s: %(c)s customers, %(t)s "
                    "touchpoints); nothing was added. Use --reset to rebuild it."
                )
                % {
                    "ent": status.enterprise,
                    "c": f"{status.customers:,}",
                    "t": f"{status.touchpoints:,}",
                }
            )
        )
        self._print_logins(status.logins, url, None)

    def _print_logins(self, logins: list[actions.Login], url: str, password: str | None) -> None:
        w = self.stdout.write
        w("")
        w(_("  Open %(url)s and sign in with one of these logins:") % {"url": url})
        w("")
        width = max((len(login.username) for login in logins), default=8) + 2
        for login in logins:
            note = "" if login.created or password is None else _("  (existing user: unchanged)")
            w(f"    {login.username:<{width}}{login.role:<22}{login.unit}{note}")
        w("")
        if password:
            w("  " + _("Password for every demo login:") + " " + self.style.SUCCESS(password))
            w("  " + _("(shown only now; `rapport changepassword USER` sets a new one)"))
        else:
            w(
                "  "
                + _(
                    "Passwords were printed when the demo was loaded; "
                    "`rapport changepassword USER` sets a new one."
                )
            )
        w("")
