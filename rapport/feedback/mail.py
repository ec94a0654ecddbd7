"""Reading feedback mail (.eml, .mbox) into feedback records. Plain code, no ORM.

Parsing is the cases inbox's (rapport.cases.inbound.parse): GBK/Big5 bodies labelled wrongly or
not at all, raw 8-bit headers, broken encoded words — it never raises. A mail without a
Message-ID gets a content hash as external id, so importing the file again adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

from rapport.cases import inbound


def record_from_bytes(raw: bytes) -> dict[str, Any]:
    """One message → a feedback record (fields of rapport.feedback.records): the sender's own
    words (quoted earlier mail cut off), subject as title, From as author."""
    parsed = inbound.parse(raw)
    external_id = (
        parsed.message_id.strip("<> ")[:200]
        if parsed.message_id
        else "sha1:" + hashlib.sha1(raw).hexdigest()
    )
    record: dict[str, Any] = {
        "external_id": external_id,
        "channel": "email",
        "title": parsed.subject[:300],
        "text": inbound.strip_quoted(parsed.text),
        "author_name": parsed.from_name[:200],
        "author_contact": parsed.from_address[:254],
    }
    if parsed.problems:
        record["meta.mail_problems"] = list(parsed.problems)
    if parsed.charset:
        record["meta.charset"] = parsed.charset
    at = parsed.sent_at
    if at is not None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        record["received_at"] = at.isoformat()
    return record


def read_eml(path: str) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as fh:
        raw = fh.read()
    record = record_from_bytes(raw)
    record["_line"] = 1
    yield record


def read_mbox(path: str) -> Iterator[dict[str, Any]]:
    """Each message of an mbox file, numbered from 1 (the number is its "line" in reports)."""
    import mailbox

    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), 1):
            try:
                raw = box.get_bytes(key)
            except Exception as exc:  # a truncated message: say which one
                yield {"_line": number, "_error": f"message {number} cannot be read: {exc}"}
                continue
            record = record_from_bytes(raw)
            record["_line"] = number
            yield record
    finally:
        box.close()
