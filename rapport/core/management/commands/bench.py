"""`rapport bench NAME`: run a benchmark and print one JSON object."""

from __future__ import annotations

import importlib
import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.core.bench import benches


def _load_bench_modules() -> None:
    for config in apps.get_app_configs():
        if config.name.startswith("rapport."):
            try:
                importlib.import_module(f"{config.name}.bench")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.bench":
                    raise


class Command(BaseCommand):
    help = "Run a benchmark (e.g. `rapport bench ingest`) and print its results as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="the benchmark to run; omit to list them")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="multiply the data sizes (e.g. 0.1 for a quick run)",
        )
        parser.add_argument(
            "--data-dir",
            default=None,
            help="keep the generated data here and reuse it on the next run (benches that "
            "generate big bases, e.g. insights)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _load_bench_modules()
        available = benches()
        name = options["name"]
        if not name:
            self.stdout.write("benchmarks: " + ", ".join(sorted(available)))
            return
        if name not in available:
            raise CommandError(
                f"unknown benchmark {name!r}; available: {', '.join(sorted(available)) or 'none'}"
            )
        results: list[dict[str, Any]] = []
        for fn in available[name]:
            results.extend(
                fn(
                    {
                        "scale": options["scale"],
                        "data_dir": options["data_dir"],
                        "stderr": self.stderr,
                    }
                )
            )
        self.stdout.write(json.dumps({"bench": name, "results": results}, ensure_ascii=False))
