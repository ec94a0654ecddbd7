"""`rapport import customers|touchpoints|responses FILE`: load a CSV or NDJSON file (gzip'd or not).

Thin: the file is read by rapport.core.fileio and written by the same ingest functions the API
uses. Default all-or-nothing (one transaction); --skip-invalid writes the valid rows, commits per
batch and writes the rejected ones to FILE.rejects.csv. See docs/import.md.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rapport.core import bulkload
from rapport.core.fileio import FileProblem, RecordFile, RejectsWriter, Schema, open_records
from rapport.core.fileio import rejects_path as rejects_path_for
from rapport.core.ingestion import IngestReport, ReaderStopped, can_fork

DEFAULT_SOURCE = "import"
# From this size on (about 40,000 touchpoint rows) a touchpoint file is read and validated in a
# child process while this one writes: below it, the fork and the pickling cost more than they save.
PARALLEL_BYTES = 4_000_000


def _schema(what: str, survey: int | None = None) -> Schema:
    if what == "responses":
        from rapport.surveys.ingest import import_schema

        return import_schema(survey)
    if what == "customers":
        from rapport.customers import records

        return Schema(
            records.FIELDS, (records.ATTR_PREFIX, records.CONSENT_PREFIX), records.REQUIRED_COLUMNS
        )
    from rapport.touchpoints import records as tp

    return Schema(tp.FIELDS, (tp.CONTEXT_PREFIX,), tp.REQUIRED_COLUMNS, tp.CUSTOMER_FIELDS)


def _ingester(what: str, survey: int | None = None) -> Any:
    if what == "feedback":
        from rapport.feedback.actions import ingest_feedback

        return ingest_feedback
    if what == "responses":
        from rapport.surveys.ingest import ingester

        return ingester(survey)  # type: ignore[arg-type]
    if what == "customers":
        from rapport.customers.ingest import ingest_customers

        return ingest_customers
    from rapport.touchpoints.ingest import ingest_touchpoints

    return ingest_touchpoints


def _parallel(path: str) -> bool:
    """Whether a touchpoint file is read and checked in a child process: big enough to repay
    the fork, on two or more CPUs. Its plain CSV rows then come in Blocks, checked a column at a
    time (rapport.touchpoints.columnar)."""
    return os.path.isfile(path) and os.path.getsize(path) >= PARALLEL_BYTES and can_fork()


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep or not column.strip() or not field.strip():
            raise CommandError(_("--map wants COLUMN=FIELD, got %(pair)r") % {"pair": pair})
        mapping[column.strip()] = field.strip()
    return mapping


class Command(BaseCommand):
    # No system checks: they import every URLconf and API module (about a second of start-up)
    # and find nothing an import depends on; `rapport check` and the server still run them.
    requires_system_checks: list[str] = []
    help = _(
        "Import customers or touchpoints from a CSV or NDJSON file (gzip too). All or nothing "
        "unless --skip-invalid; safe to run again. Format: docs/import.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["customers", "touchpoints", "responses", "feedback"])
        parser.add_argument("file")
        parser.add_argument(
            "--source",
            default=DEFAULT_SOURCE,
            help=_("source system code the records come from (default: import); created if new"),
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help=_("read the file's COLUMN as FIELD (repeatable)"),
        )
        parser.add_argument("--encoding", help=_("the file's encoding (default UTF-8, BOM or not)"))
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=_("write the valid rows; rejected ones go to FILE.rejects.csv"),
        )
        parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
        parser.add_argument("--survey", type=int, help=_("responses: the survey's id"))

    def handle(self, *args: Any, **options: Any) -> None:
        what, path = options["what"], options["file"]
        try:
            if what == "feedback":  # also .eml and .mbox: rapport.feedback.importing
                from rapport.feedback.importing import open_feedback

                source = open_feedback(
                    path, encoding=options["encoding"], rename=_mapping(options["map"])
                )
            else:
                source = open_records(
                    path,
                    _schema(what, options["survey"]),
                    encoding=options["encoding"],
                    rename=_mapping(options["map"]),
                    blocks=what == "touchpoints"
                    and _parallel(path)
                    and not options["skip_invalid"],
                )
        except FileProblem as exc:
            raise CommandError(str(exc)) from exc
        mode = "skip_invalid" if options["skip_invalid"] else "all_or_nothing"
        rejects = (
            RejectsWriter(rejects_path_for(path, source.format), source)
            if options["skip_invalid"]
            else None
        )
        extra = {}
        if what == "touchpoints" and mode == "all_or_nothing":
            extra["expected_rows"] = source.size // bulkload.BYTES_PER_ROW_GUESS
        if what == "touchpoints" and _parallel(path):
            extra["parallel"] = True
        started = time.perf_counter()
        try:
            with bulkload.few_collections(), _progress(source, options["no_progress"]) as advance:
                report = _ingester(what, options["survey"])(
                    source.records,
                    source=options["source"],
                    mode=mode,
                    progress=advance,
                    on_reject=rejects,
                    **extra,
                )
        except UnicodeDecodeError as exc:
            raise CommandError(
                _(
                    "%(file)s: undecodable text after the first part of the file (%(error)s); "
                    "pass the right --encoding. %(written)s"
                )
                % {
                    "file": path,
                    "error": exc,
                    "written": _("Nothing was written.")
                    if mode == "all_or_nothing"
                    else _("Batches before this point were written; the re-run skips them."),
                }
            ) from exc
        except ReaderStopped as exc:  # killed, out of memory: the transaction was rolled back
            raise CommandError(
                _("%(file)s: %(error)s. %(written)s")
                % {
                    "file": path,
                    "error": exc,
                    "written": _("Nothing was written.")
                    if mode == "all_or_nothing"
                    else _("Batches before this point were written; the re-run skips them."),
                }
            ) from exc
        except ValueError as exc:  # e.g. an invalid --source
            raise CommandError(str(exc)) from exc
        finally:
            source.close()
            if rejects is not None:
                rejects.close()
        self._summarise(
            report, what, path, options["source"], time.perf_counter() - started, rejects
        )

    def _summarise(
        self,
        report: IngestReport,
        what: str,
        path: str,
        source: str,
        elapsed: float,
        rejects: RejectsWriter | None,
    ) -> None:
        if report.source_created and report.committed:
            self.stdout.write(_("New source system %(source)s created.") % {"source": source})
        for problem in report.problems:
            self.stderr.write(f"{path}: {problem}")
        more = report.problem_count - len(report.problems)
        if more > 0:
            self.stderr.write(_("... and %(n)d more problems") % {"n": more})
        rate = report.total / elapsed if elapsed > 0 else 0.0
        summary = _(
            "%(what)s: %(created)d created, %(updated)d updated, %(dupes)d duplicates, "
            "%(rejected)d rejected, %(review)d for review — %(rows)d rows in %(secs).1f s "
            "(%(rate)d rows/s)"
        ) % {
            "what": what,
            "created": report.created,
            "updated": report.updated,
            "dupes": report.duplicates,
            "rejected": report.rejected,
            "review": report.review,
            "rows": report.total,
            "secs": elapsed,
            "rate": rate,
        }
        if not report.committed:
            raise CommandError(
                _("%(n)d rows rejected, so nothing was written (fix them, or use --skip-invalid).")
                % {"n": report.rejected}
            )
        self.stdout.write(summary)
        if rejects is not None and rejects.count:
            self.stdout.write(
                _("Rejected rows with their reasons: %(path)s") % {"path": rejects.path}
            )


class _progress:
    """A tqdm bar over the file's bytes, on stderr; quiet when stderr is no terminal."""

    def __init__(self, source: RecordFile, off: bool) -> None:
        self.source = source
        self.off = off or not sys.stderr.isatty()
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> Any:
        if self.off:
            return None
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.source.size, unit="B", unit_scale=True, file=sys.stderr, leave=False
        )
        return self.advance

    def advance(self, _rows: int) -> None:
        position = self.source.position()
        self.bar.update(position - self.done)
        self.done = position

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
