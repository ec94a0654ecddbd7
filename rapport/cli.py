"""The `rapport` console command: Django's management commands under one name.

`rapport help` lists every command; `rapport demo`, `rapport serve`, `rapport worker`,
`rapport import ...`, `rapport apikey ...` and `rapport bench ...` are Rapport's own.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    args[0] = "rapport"
    if len(args) == 1 or args[1] in {"--help", "-h"}:
        args = [args[0], "help"]
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
