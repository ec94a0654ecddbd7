"""`rapport apikey create|list|revoke`: API keys for other systems.

The raw key is printed once, at creation; only its hash is kept.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.integrations import actions
from rapport.integrations.models import SCOPES, ApiKey
from rapport.integrations.rules import DEFAULT_SCOPES


class Command(BaseCommand):
    help = "Create, list or revoke API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = sub.add_parser("create", help="create a key and print it (shown once)")
        create.add_argument("--name", required=True, help="a unique name, e.g. the system's")
        create.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=(
                f"repeat for several; known: {', '.join(SCOPES)}; "
                f"default: {', '.join(DEFAULT_SCOPES)}"
            ),
        )
        sub.add_parser("list", help="list the keys (never their secrets)")
        revoke = sub.add_parser("revoke", help="revoke a key by name; it stops working at once")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                key, raw = actions.create_api_key(options["name"], options["scopes"])
                self.stdout.write(raw)
                self.stderr.write(
                    f"Created API key {key.name!r} with scopes {', '.join(key.scopes)}. "
                    "The key above is shown only now: store it in the other system."
                )
            elif action == "revoke":
                key = actions.revoke_api_key(options["name"])
                self.stdout.write(f"Revoked {key.name} ({key.prefix}…).")
            else:
                self._list()
        except actions.IntegrationError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self) -> None:
        keys = list(ApiKey.objects.order_by("name"))
        if not keys:
            self.stdout.write("No API keys. Create one with: rapport apikey create --name NAME")
            return
        for key in keys:
            state = "revoked" if key.revoked_at else "active"
            used = key.last_used_at.isoformat(timespec="minutes") if key.last_used_at else "never"
            self.stdout.write(
                f"{key.name}\t{key.prefix}…\t{state}\tlast used: {used}\t{' '.join(key.scopes)}"
            )
