"""`rapport import feedback FILE`: CSV / NDJSON (with --map COLUMN=FIELD), .eml and .mbox.

CSV and NDJSON are read by rapport.core.fileio (the same checks as every import: encoding, a
--map naming a column the file lacks, unknown columns); mail by rapport.feedback.mail. All
records are written by rapport.feedback.actions.ingest_feedback.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext as _

from rapport.core.fileio import FileProblem, RecordFile, Schema, open_records
from rapport.feedback import mail, records

MAIL_SUFFIXES = {".eml": "eml", ".mbox": "mbox", ".mbx": "mbox"}


def schema() -> Schema:
    return Schema(records.FIELDS, (records.META_PREFIX,), records.REQUIRED_COLUMNS)


def open_feedback(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    rename: dict[str, str] | None = None,
) -> RecordFile:
    """The records of a feedback file; raises FileProblem when it cannot be imported at all."""
    p = Path(path)
    kind = MAIL_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        return open_records(p, schema(), encoding=encoding, rename=rename)
    if not p.is_file():
        raise FileProblem(_("%(file)s: no such file.") % {"file": p})
    if rename:
        raise FileProblem(_("--map applies to CSV and NDJSON files, not to mail."))
    size = p.stat().st_size
    if size == 0:
        raise FileProblem(_("%(file)s is empty: nothing to import.") % {"file": p.name})
    reader = mail.read_eml(str(p)) if kind == "eml" else mail.read_mbox(str(p))
    done = {"bytes": 0}

    def position() -> int:
        return done["bytes"]

    def counted():  # type: ignore[no-untyped-def]
        yield from reader
        done["bytes"] = size

    return RecordFile(counted(), "ndjson", None, None, position, size, lambda: None)
