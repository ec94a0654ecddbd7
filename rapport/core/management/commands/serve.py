"""`rapport serve`: the production web server — gunicorn with threaded workers, static files
collected first and served by whitenoise. Stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rapport.core import serving


def add_server_arguments(parser: CommandParser) -> None:
    """The options `rapport serve` and `rapport demo` share."""
    parser.add_argument(
        "--bind",
        default="127.0.0.1:8000",
        help="HOST:PORT to listen on (default: %(default)s; 0.0.0.0:8000 for every interface)",
    )
    parser.add_argument(
        "--workers", type=int, help="server processes (default: the number of cores, at least 2)"
    )
    parser.add_argument("--threads", type=int, help="threads per process (default: 4)")


def check_server_options(options: dict[str, Any]) -> str:
    """The URL to print, once the options are known to be usable; CommandError otherwise."""
    for name in ("workers", "threads"):
        if options.get(name) is not None and options[name] < 1:
            raise CommandError(_("--%(name)s must be at least 1") % {"name": name})
    try:
        return serving.url_for(options["bind"])
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def prepare_static(command: BaseCommand) -> None:
    """Collect static files into STATIC_ROOT (under var/), where whitenoise serves them."""
    call_command("collectstatic", interactive=False, verbosity=0)
    command.stdout.write(_("Static files collected in %(path)s") % {"path": settings.STATIC_ROOT})


def serve(command: BaseCommand, options: dict[str, Any], helpers: dict[str, list[str]]) -> None:
    """Print where to go, then run gunicorn (and helpers) until stopped."""
    url = check_server_options(options)
    server = serving.server_command(options["bind"], options.get("workers"), options.get("threads"))
    command.stdout.write(
        command.style.SUCCESS(_("Rapport is serving at %(url)s") % {"url": url})
        + "  "
        + _("(Ctrl-C to stop)")
    )
    command.stdout.flush()
    sys.stdout.flush()
    code = serving.run(server, helpers, say=lambda msg: command.stderr.write(msg))
    if code != 0:
        raise CommandError(_("The web server stopped with exit status %(code)s.") % {"code": code})
    command.stdout.write(_("Stopped."))


class Command(BaseCommand):
    help = _("Serve Rapport with gunicorn (threaded workers) and whitenoise for static files.")

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        check_server_options(options)
        prepare_static(self)
        serve(self, options, {})
