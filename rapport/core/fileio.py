"""Reading record files (CSV, NDJSON/JSONL, gzip'd or not) as a stream of dicts, and writing
the rejects file. Memory stays flat however big the file: nothing is held beyond one row.

Problems with the file as a whole (empty, not UTF-8, missing or unknown columns) raise FileProblem
before any row is read, so an import stops with nothing written; problems with one row travel
with it (rapport.core.ingestion.ERROR_KEY) and the row is rejected like any invalid record.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

from rapport.core.ingestion import ERROR_KEY, LINE_KEY, Block

SAMPLE = 1 << 20  # bytes checked for the encoding before the import starts
BLOCK_CHARS = 2 << 20  # characters of CSV read at once into a Block (about 20,000 rows)
GZIP_MAGIC = b"\x1f\x8b"
IGNORED_COLUMNS = (LINE_KEY, ERROR_KEY)  # a rejects file, once fixed, imports as it is
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
JSON_SUFFIXES = {".ndjson", ".jsonl", ".json"}
csv.field_size_limit(16 << 20)

# charset-normalizer's names → what to tell the user, and the codec to pass to --encoding.
_FAMILIES = (
    (("gb2312", "gbk", "gb18030", "hz", "cp936"), "GBK/GB18030 (Simplified Chinese)", "gb18030"),
    (("big5", "cp950", "big5hkscs"), "Big5 (Traditional Chinese)", "cp950"),
    (("shift_jis", "cp932", "euc_jp"), "Shift-JIS (Japanese)", "cp932"),
    (("cp1252", "latin_1", "iso8859_1"), "Windows-1252 (Western European)", "cp1252"),
)


class FileProblem(Exception):
    """The file cannot be imported at all; the message says why and what to do."""


@dataclass
class Schema:
    """What the records may hold: checked against a CSV header before any row is read."""

    known: frozenset[str]
    prefixes: tuple[str, ...]
    required: tuple[str, ...]
    one_of: tuple[str, ...] = ()  # at least one of these columns


@dataclass
class RecordFile:
    records: Iterator[dict[str, Any]]
    format: str  # "csv" | "ndjson"
    columns: list[str] | None  # the CSV header as written in the file
    fields: list[str] | None  # the field each column maps to
    position: Callable[[], int]  # bytes of the file read so far (for a progress bar)
    size: int
    close: Callable[[], None]


def likely_encoding(sample: bytes) -> tuple[str, str]:
    """(a name for people, the codec for --encoding) of bytes that are not UTF-8."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = (best.encoding if best else "").lower()
    for aliases, label, codec in _FAMILIES:
        if name in aliases:
            return label, codec
    for _aliases, label, codec in _FAMILIES[:2]:  # no verdict: try the two common CJK ones
        try:
            sample.decode(codec)
        except UnicodeDecodeError:
            continue
        return label, codec
    return (name or _("unknown"), name or "cp1252")


def _open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by RecordFile.close
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw


def _check_encoding(path: Path, sample: bytes, encoding: str | None) -> str:
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise FileProblem(_("Unknown encoding %(enc)s.") % {"enc": encoding}) from exc
        return encoding
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError as exc:
        line = sample.count(b"\n", 0, exc.start) + 1
        label, codec = likely_encoding(sample)
        raise FileProblem(
            _(
                "%(file)s is not UTF-8 (undecodable byte on line %(line)d). It looks like "
                "%(label)s: run the import again with --encoding %(codec)s. Nothing was written."
            )
            % {"file": path.name, "line": line, "label": label, "codec": codec}
        ) from exc
    return "utf-8-sig"


def _format(path: Path, text_sample: str) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    first = text_sample.lstrip("\ufeff \t\r\n")[:1]
    if first == "[" and not (suffixes and suffixes[-1] in CSV_SUFFIXES):
        raise FileProblem(
            _("%(file)s is a JSON array; write one JSON object per line (NDJSON).")
            % {"file": path.name}
        )
    if suffixes and suffixes[-1] in JSON_SUFFIXES:
        return "ndjson"
    if suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "csv"
    return "ndjson" if first == "{" else "csv"


def open_records(
    path: str | os.PathLike[str],
    schema: Schema,
    *,
    encoding: str | None = None,
    rename: Mapping[str, str] | None = None,
    blocks: bool = False,
) -> RecordFile:
    """Open a record file; raises FileProblem when it cannot be imported at all.

    `blocks`: a CSV's plain stretches come as Blocks of rows in columns (see `_csv_blocks`)
    among the records, for an ingester that checks whole columns at once."""
    path = Path(path)
    if not path.is_file():
        raise FileProblem(_("%(file)s: no such file.") % {"file": path})
    size = path.stat().st_size
    raw, stream = _open_binary(path)
    try:
        try:
            sample = stream.read(SAMPLE)
        except (OSError, EOFError) as exc:
            raise FileProblem(
                _("%(file)s: cannot read it (%(error)s).") % {"file": path.name, "error": exc}
            ) from exc
        enc = _check_encoding(path, sample, encoding)
        text_sample = sample.decode(enc, errors="replace")
        if not text_sample.strip("\ufeff \t\r\n"):
            raise FileProblem(_("%(file)s is empty: nothing to import.") % {"file": path.name})
        fmt = _format(path, text_sample)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if stream is not raw else raw
        text = io.TextIOWrapper(stream, encoding=enc, newline="")  # type: ignore[arg-type]
    except BaseException:
        raw.close()
        raise
    rename = dict(rename or {})

    def close() -> None:
        text.close()
        raw.close()

    if fmt == "ndjson":
        return RecordFile(_ndjson(text, rename), fmt, None, None, raw.tell, size, close)
    try:
        columns, fields, reader = _csv_header(path, text, schema, rename)
    except BaseException:
        close()
        raise
    if blocks:
        rows = _csv_blocks(text, reader, fields)
    else:
        rows = _csv_rows(reader, fields)
    return RecordFile(rows, fmt, columns, fields, raw.tell, size, close)


def _csv_header(
    path: Path, text: IO[str], schema: Schema, rename: Mapping[str, str]
) -> tuple[list[str], list[str], Any]:
    first = text.readline()
    delimiter = max(",\t;", key=first.count)
    reader = csv.reader(_chain(first, text), delimiter=delimiter)
    columns = [c.strip().lstrip("\ufeff").strip() for c in next(reader, [])]
    if not any(columns):
        raise FileProblem(_("%(file)s has no header row.") % {"file": path.name})
    fields = [rename.get(c, c) for c in columns]
    problems = []
    unused = sorted(set(rename) - set(columns))
    if unused:
        problems.append(
            _("--map names columns the file does not have: %(c)s") % {"c": ", ".join(unused)}
        )
    seen: set[str] = set()
    dupes = sorted({f for f in fields if f in seen or seen.add(f)})  # type: ignore[func-returns-value]
    if dupes:
        problems.append(_("columns given twice: %(c)s") % {"c": ", ".join(dupes)})
    unknown = [
        c
        for c, f in zip(columns, fields, strict=True)
        if f not in schema.known and not f.startswith(schema.prefixes) and f not in IGNORED_COLUMNS
    ]
    if unknown:
        problems.append(
            _(
                "unexpected columns: %(c)s. Rename them to a documented field with "
                "--map COLUMN=FIELD, prefix them with %(p)s to keep them, or remove them "
                "(see docs/import.md)"
            )
            % {"c": ", ".join(unknown), "p": " / ".join(schema.prefixes)}
        )
    missing = [f for f in schema.required if f not in fields]
    if missing:
        problems.append(_("missing required columns: %(c)s") % {"c": ", ".join(missing)})
    if schema.one_of and not set(schema.one_of) & set(fields):
        problems.append(_("needs one of the columns %(c)s") % {"c": ", ".join(schema.one_of)})
    if problems:
        raise FileProblem(f"{path.name}: " + "; ".join(problems) + ".")
    return columns, fields, reader


def _chain(first: str, rest: IO[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_rows(reader: Any, fields: list[str], offset: int = 0) -> Iterator[dict[str, Any]]:
    """The reader's rows as records; `offset`: lines of the file before the reader's first."""
    width = len(fields)
    keep = [i for i, f in enumerate(fields) if f not in IGNORED_COLUMNS]
    dropping = len(keep) != width
    kept = [fields[i] for i in keep]
    last = reader.line_num + offset
    for row in reader:
        line = last + 1
        last = reader.line_num + offset
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            record = dict(zip(fields, row, strict=False))
            record[LINE_KEY] = line
            record[ERROR_KEY] = _("the row has %(n)d values, the header %(w)d") % {
                "n": len(row),
                "w": width,
            }
            yield record
            continue
        if dropping:
            record = dict(zip(kept, [row[i] for i in keep], strict=True))
        else:
            record = dict(zip(fields, row, strict=True))
        record[LINE_KEY] = line
        yield record


def _csv_blocks(text: IO[str], reader: Any, fields: list[str]) -> Iterator[Any]:
    """The CSV rows after the header as Blocks, with records for the rows a Block cannot hold.

    A stretch of the file (about BLOCK_CHARS) with no quote character and no lone carriage
    return is split on line ends and on the delimiter, which is what the csv module would do
    with it: its lines with one value per column become a Block (one polars split, no dict per
    row); blank lines are skipped and lines with too few or too many values become the same
    records `_csv_rows` makes. From the first stretch with a quote on, where a quoted value may
    hold a delimiter or a line end, the rest of the file goes through the csv module, row by row.
    """
    import polars as pl

    delimiter = reader.dialect.delimiter
    width = len(fields)
    kept = [f for f in fields if f not in IGNORED_COLUMNS]
    line = reader.line_num  # lines read so far: the header
    while True:
        chunk = text.read(BLOCK_CHARS)
        if not chunk:
            return
        if not chunk.endswith("\n"):
            chunk += text.readline()
        plain = '"' not in chunk
        if plain and "\r" in chunk:
            chunk = chunk.replace("\r\n", "\n")  # no quoted value here to keep one in
            plain = "\r" not in chunk
        if not plain:
            rest = csv.reader(
                itertools.chain(io.StringIO(chunk, newline=""), text), delimiter=delimiter
            )
            yield from _csv_rows(rest, fields, offset=line)
            return
        lines = chunk.split("\n")
        if lines[-1] == "":
            lines.pop()
        series = pl.Series(lines, dtype=pl.String)
        whole = series.str.count_matches(delimiter, literal=True) == width - 1
        numbers = pl.int_range(line + 1, line + 1 + len(lines), eager=True, dtype=pl.Int64)
        odd = (~whole).arg_true().to_list()  # blank or ragged: rare, and kept in file order
        start = 0
        for stop in [*odd, len(lines)]:
            if stop > start:
                frame = (
                    series.slice(start, stop - start)
                    .str.split_exact(delimiter, width - 1)
                    .struct.rename_fields(fields)
                    .struct.unnest()
                )
                yield Block(frame.select(kept), numbers.slice(start, stop - start))
            if stop < len(lines):
                yield from _csv_rows(
                    csv.reader([lines[stop]], delimiter=delimiter), fields, offset=line + stop
                )
            start = stop + 1
        line += len(lines)


def _ndjson(text: IO[str], rename: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield {LINE_KEY: number, ERROR_KEY: _("invalid JSON: %(e)s") % {"e": exc}}
            continue
        if not isinstance(value, dict):
            yield {LINE_KEY: number, ERROR_KEY: _("expected a JSON object")}
            continue
        if rename:
            value = {rename.get(k, k): v for k, v in value.items()}
        for key in IGNORED_COLUMNS:
            value.pop(key, None)
        value[LINE_KEY] = number
        yield value


def rejects_path(path: str | os.PathLike[str], fmt: str) -> Path:
    """data.csv → data.rejects.csv; events.ndjson.gz → events.rejects.ndjson."""
    path = Path(path)
    name = path.name
    for suffix in (".gz", *CSV_SUFFIXES, *JSON_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return path.with_name(f"{name}.rejects.{'csv' if fmt == 'csv' else 'ndjson'}")


class RejectsWriter:
    """Writes rejected records with their line and reason; the file appears with the first one."""

    def __init__(self, path: Path, source: RecordFile) -> None:
        self.path = path
        self.source = source
        self.count = 0
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __call__(self, record: Mapping[str, Any], problems: list[Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            if self.source.format == "csv":
                self._csv = csv.writer(self._fh)
                self._csv.writerow([*self._columns(), LINE_KEY, ERROR_KEY])
        self.count += 1
        reason = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
        line = record.get(LINE_KEY)
        if self._csv is not None:
            fields = [f for f in self.source.fields or [] if f not in IGNORED_COLUMNS]
            self._csv.writerow([*(record.get(f, "") for f in fields), line, reason])
        else:
            data = {k: v for k, v in record.items() if k not in IGNORED_COLUMNS}
            data[LINE_KEY], data[ERROR_KEY] = line, reason
            self._fh.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")

    def _columns(self) -> list[str]:
        pairs = zip(self.source.columns or [], self.source.fields or [], strict=True)
        return [c for c, f in pairs if f not in IGNORED_COLUMNS]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
