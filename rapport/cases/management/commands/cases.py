"""`rapport cases receive-mail`, `rapport cases fetch-mail`, `rapport cases digest`.

receive-mail reads one RFC 822 message on stdin (for an MTA pipe, e.g. a Postfix alias
`cases: "|/path/to/rapport cases receive-mail"`), or every message of `--maildir DIR` or
`--mbox FILE`. fetch-mail polls the IMAP mailbox of the case settings (or RAPPORT_IMAP_*).
All of them call rapport.cases.mail_actions.receive. digest sends (or, with --dry-run, prints)
the weekly digest of a week.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.cases import digest, mail_actions


class Command(BaseCommand):
    help = "Cases: receive customer email, poll IMAP, send the weekly digest."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        receive = sub.add_parser(
            "receive-mail", help="receive one message on stdin, or a maildir or mbox"
        )
        source = receive.add_mutually_exclusive_group()
        source.add_argument("--maildir", metavar="DIR", help="every message of a maildir")
        source.add_argument("--mbox", metavar="FILE", help="every message of an mbox file")
        fetch = sub.add_parser("fetch-mail", help="receive the unseen mail of the IMAP mailbox")
        fetch.add_argument("--limit", type=int, default=200, help="at most this many messages")
        send = sub.add_parser("digest", help="send the weekly digest of a week to every unit")
        send.add_argument(
            "--week", help="any date in the week (YYYY-MM-DD); default: last week", default=""
        )
        send.add_argument("--unit", default="", help="only this unit (code)")
        send.add_argument("--dry-run", action="store_true", help="print it, send nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "receive-mail":
                self._receive(options)
            elif action == "fetch-mail":
                cfg = mail_actions.imap_config()
                if cfg is None:
                    raise CommandError(
                        "No IMAP server configured: set it in the case settings or "
                        "RAPPORT_IMAP_HOST (password in RAPPORT_IMAP_PASSWORD)."
                    )
                self.stdout.write(mail_actions.fetch_imap(cfg, options["limit"]).summary())
            else:
                self._digest(options)
        except mail_actions.MailError as exc:
            raise CommandError(str(exc)) from exc

    def _receive(self, options: dict[str, Any]) -> None:
        if options["maildir"]:
            report = mail_actions.receive_many(
                mail_actions.read_maildir(options["maildir"]), "maildir"
            )
        elif options["mbox"]:
            report = mail_actions.receive_many(mail_actions.read_mbox(options["mbox"]), "mbox")
        else:
            raw = sys.stdin.buffer.read()
            if not raw.strip():
                raise CommandError("No message on stdin.")
            report = mail_actions.receive_many([raw], "stdin")
        self.stdout.write(report.summary())

    def _digest(self, options: dict[str, Any]) -> None:
        day = None
        if options["week"]:
            try:
                day = dt.date.fromisoformat(options["week"])
            except ValueError as exc:
                raise CommandError(f"--week: not a date (YYYY-MM-DD): {options['week']!r}") from exc
        try:
            result = digest.send_week(day, unit_code=options["unit"], dry_run=options["dry_run"])
        except digest.DigestError as exc:
            raise CommandError(str(exc)) from exc
        for line in result:
            self.stdout.write(line)
