"""Email intake: the one home of receiving a customer's email, whatever brought it (an MTA pipe
to `rapport cases receive-mail`, a maildir or mbox, IMAP polling, or the API).

Order of work, so that nothing is ever lost: the raw bytes are stored first (capped, with a
digest so that the same mail fetched twice is stored once), then parsed (rapport.cases.inbound,
which never raises), then routed in a savepoint — a routing bug leaves the stored mail flagged,
never a crash. Routing:

1. A reply threads into its case by In-Reply-To/References matching the Message-ID of a message
   we sent on the case (or of an earlier inbound mail on it) — unguessable ids, so trusted.
2. Else by a case reference in the subject ("C-000123", "[#123]") or a plus address of the inbox
   (case+123@…), but only when the sender is that case's customer: a guessed number cannot put
   mail into someone else's case.
3. Else it is new mail: the sender is identified by the foundation's identity rules; an unknown
   address becomes a new customer, or stays unmatched (CaseSettings); then `email.received` is
   emitted, and the cases subscriber opens (or joins) the customer's case when CaseSettings says
   new mail opens a case. A reply to a closed case counts as new mail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import imaplib
import logging
import mailbox
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import inbound, states
from rapport.cases.actions import Actor, lifecycle, opening, record, sla
from rapport.cases.models import (
    Case,
    CaseMessage,
    CaseSettings,
    InboundAttachment,
    InboundEmail,
)
from rapport.cases.rules import DEFAULT_TOPIC, Signal
from rapport.core.events import emit
from rapport.customers import identity
from rapport.customers.ingest import _matches, lock_identities
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit

log = logging.getLogger(__name__)

MB = 1024 * 1024
RAW_KEEP_BYTES = 10 * MB  # raw bytes kept per mail (the rest is cut and the mail flagged)
ATTACHMENT_MAX_BYTES = 5 * MB  # an attachment above this is listed, not stored
ATTACHMENTS_TOTAL_BYTES = 15 * MB  # stored attachments per mail
EVENT_TEXT_CHARS = 5000
BENIGN = frozenset({"header:charset_guessed", "body:charset_guessed"})
EMAIL_ACTOR = Actor.system("email")
ROUTED_FIELDS = ["status", "case", "customer", "problems", "flagged"]  # what routing may change


class MailError(ValueError):
    """A problem with a mail source (a missing file, an unreachable IMAP server)."""


@dataclass
class IntakeReport:
    received: int = 0
    duplicates: int = 0
    threaded: int = 0
    opened: int = 0
    unmatched: int = 0
    flagged: int = 0
    ids: list[int] = field(default_factory=list)

    def add(self, row: InboundEmail, duplicate: bool) -> None:
        self.ids.append(row.pk)
        if duplicate:
            self.duplicates += 1
            return
        self.received += 1
        self.threaded += row.status == InboundEmail.Status.THREADED
        self.opened += row.status == InboundEmail.Status.OPENED
        self.unmatched += row.status == InboundEmail.Status.UNMATCHED
        self.flagged += row.flagged

    def summary(self) -> str:
        return (
            f"received {self.received}, duplicates {self.duplicates}, threaded {self.threaded}, "
            f"opened or joined a case {self.opened}, unmatched {self.unmatched}, "
            f"flagged {self.flagged}"
        )


# --- receiving ----------------------------------------------------------------------------


def receive(raw: bytes, source: str, now: dt.datetime | None = None) -> tuple[InboundEmail, bool]:
    """Store and route one RFC 822 message: (the stored mail, whether it was already stored).
    Never raises for anything in the mail itself."""
    now = now or timezone.now()
    digest = hashlib.sha256(raw).hexdigest()
    existing = InboundEmail.objects.filter(digest=digest).defer("raw").first()
    if existing is not None:
        return existing, True
    config = CaseSettings.current()
    parsed = inbound.parse(raw, config.inbound_max_mb * MB)
    try:
        with transaction.atomic():
            row = _store(raw, digest, parsed, source, now)
            try:
                with transaction.atomic():
                    _route(row, parsed, config, now)
            except Exception as exc:  # a bug in routing must not lose the mail
                log.exception("routing inbound email %s failed", row.pk)
                row.problems = [*row.problems, f"routing_failed:{type(exc).__name__}"]
                row.flagged = True
                row.status = InboundEmail.Status.FAILED
                row.case = row.customer = None  # whatever routing made was rolled back
            row.save(update_fields=ROUTED_FIELDS)
    except IntegrityError:  # the same mail, stored by a concurrent receiver just now
        again = InboundEmail.objects.filter(digest=digest).defer("raw").first()
        if again is None:
            raise
        return again, True
    return row, False


def _store(
    raw: bytes, digest: str, parsed: inbound.ParsedMail, source: str, now: dt.datetime
) -> InboundEmail:
    problems = list(parsed.problems)
    if len(raw) > RAW_KEEP_BYTES:
        problems.append("raw_truncated")
    row = InboundEmail.objects.create(
        received_at=now,
        source=source[:16],
        digest=digest,
        size=len(raw),
        raw=raw[:RAW_KEEP_BYTES],
        raw_truncated=len(raw) > RAW_KEEP_BYTES,
        message_id=parsed.message_id[:300],
        in_reply_to=parsed.in_reply_to[:300],
        references=" ".join(parsed.references),
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to_addresses=", ".join(parsed.to_addresses),
        subject=parsed.subject,
        text=parsed.text,
        sent_at=parsed.sent_at,
        charset=parsed.charset[:40],
        problems=problems,
        flagged=any(p not in BENIGN for p in problems),
    )
    kept = 0
    files = []
    for item in parsed.attachments:
        store = len(item.data) <= ATTACHMENT_MAX_BYTES and kept + len(item.data) <= (
            ATTACHMENTS_TOTAL_BYTES
        )
        kept += len(item.data) if store else 0
        files.append(
            InboundAttachment(
                email=row,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.data),
                data=item.data if store else None,
                stored=store,
            )
        )
    InboundAttachment.objects.bulk_create(files)
    return row


def _route(
    row: InboundEmail, parsed: inbound.ParsedMail, config: CaseSettings, now: dt.datetime
) -> None:
    case = thread_case(parsed.thread_ids)
    customer: Customer | None = None
    if case is None and parsed.from_address:
        customer, why = identify(parsed, config)
        if why:
            row.problems = [*row.problems, why]
        case = _case_by_reference(parsed, config, customer)
    if case is not None and case.state != states.CLOSED:
        add_to_case(case, row, parsed, now)
        row.status = InboundEmail.Status.THREADED
        row.case, row.customer = case, case.customer
        return
    if case is not None and customer is None and parsed.from_address:  # a closed case's reply
        customer, _why = identify(parsed, config)
    row.customer = customer
    if customer is None:
        row.status = InboundEmail.Status.UNMATCHED
        row.flagged = True
    else:
        row.status = InboundEmail.Status.STORED
    if not parsed.from_address:
        return
    row.save(update_fields=ROUTED_FIELDS)
    emit(
        "email.received",
        [
            {
                "inbound_id": row.pk,
                "customer_id": customer.pk if customer else None,
                "from": parsed.from_address,
                "subject": parsed.subject,
                "text": inbound.strip_quoted(parsed.text)[:EVENT_TEXT_CHARS],
                "language": inbound.language_hint(parsed.charset, parsed.text),
                "received_at": now.isoformat(),
                "reply_to_case_id": case.pk if case is not None else None,
            }
        ],
    )
    row.refresh_from_db(fields=["status", "case", "customer"])


def thread_case(ids: Iterable[str]) -> Case | None:
    """The case a mail answers, by the Message-IDs it names: ours (outgoing case messages) or an
    earlier inbound mail of the case."""
    ids = [i for i in ids if i]
    if not ids:
        return None
    forms = ids + [i.strip("<>") for i in ids]
    found = (
        CaseMessage.objects.filter(message_id__in=forms)
        .order_by("-created_at")
        .values_list("case_id", flat=True)
        .first()
    )
    if found is None:
        found = (
            InboundEmail.objects.filter(message_id__in=forms, case__isnull=False)
            .order_by("-received_at")
            .values_list("case_id", flat=True)
            .first()
        )
    if found is None:
        return None
    return Case.objects.select_related("customer").filter(pk=found).first()


def _case_by_reference(
    parsed: inbound.ParsedMail, config: CaseSettings, customer: Customer | None
) -> Case | None:
    if customer is None:
        return None
    numbers = inbound.case_ids(parsed.subject, parsed.to_addresses, config.inbox_address)
    if not numbers:
        return None
    return (
        Case.objects.select_related("customer")
        .filter(pk__in=numbers, customer=customer)
        .order_by("-opened_at")
        .first()
    )


def identify(parsed: inbound.ParsedMail, config: CaseSettings) -> tuple[Customer | None, str]:
    """The customer who wrote, by the foundation's identity rules on the From address:
    (customer, "") or (None, why not). An unknown address becomes a customer when the
    settings say so."""
    address = parsed.from_address
    decision = identity.resolve(None, _matches("email", {address}).get(address, ()))
    if decision.kind == identity.MATCH:
        return Customer.objects.get(pk=int(decision.customer_id or 0)), ""
    if decision.kind == identity.AMBIGUOUS:
        return None, "sender_ambiguous"
    if not config.unknown_sender_creates_customer:
        return None, "sender_unknown"
    lock_identities()
    again = identity.resolve(None, _matches("email", {address}).get(address, ()))
    if again.kind == identity.MATCH:
        return Customer.objects.get(pk=int(again.customer_id or 0)), ""
    customer = Customer.objects.create(
        display_name=(parsed.from_name or address)[:200],
        email=address,
        preferred_language=inbound.language_hint(parsed.charset, parsed.text),
    )
    return customer, ""


def add_to_case(
    case: Case, row: InboundEmail, parsed: inbound.ParsedMail, now: dt.datetime
) -> CaseMessage:
    """The customer's mail on the case: an incoming message, in the audit trail; a case waiting
    for the customer goes back to work (its SLA clock resumes). Locks the case."""
    locked = record.lock_case(case.pk, None)
    message = CaseMessage.objects.create(
        case=locked,
        direction=CaseMessage.Direction.IN,
        kind="email",
        channel="email",
        address=parsed.from_address,
        language=locked.language,
        subject=parsed.subject[:300],
        body=inbound.strip_quoted(parsed.text) or parsed.text,
        status=CaseMessage.Status.RECEIVED,
        message_id=parsed.message_id[:300],
        in_reply_to=parsed.in_reply_to[:300],
        created_at=now,
    )
    note = _("Email from %(who)s: %(subject)s") % {
        "who": parsed.from_address or _("unknown sender"),
        "subject": parsed.subject or _("(no subject)"),
    }
    record.record_event(locked, EMAIL_ACTOR, "message", now, new="received", note=note)
    changes: dict = {}
    if locked.state == states.AWAITING_CUSTOMER:
        changes = sla.with_next_check(
            locked, lifecycle.state_change(locked, states.IN_PROGRESS, now)
        )
    record.save_changes(locked, changes, EMAIL_ACTOR, now, note=_("The customer replied by email."))
    return message


def open_case_for(inbound_id: int, now: dt.datetime | None = None) -> Case | None:
    """Open (or join) the customer's case for a new mail, as source "email"; the mail becomes
    the case's first incoming message. Once per mail (the mail row is locked and checked)."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            InboundEmail.objects.select_for_update()
            .filter(pk=inbound_id, case__isnull=True, customer__isnull=False)
            .first()
        )
        if row is None:
            return None
        config = CaseSettings.current()
        customer = Customer.objects.select_related("home_unit").get(pk=int(row.customer_id or 0))
        unit = customer.home_unit or config.email_unit or OrgUnit.enterprise()
        text = inbound.strip_quoted(row.text) or row.text
        signal = Signal(
            customer_id=customer.pk,
            source=Case.Source.EMAIL,
            topic=DEFAULT_TOPIC,
            severity="medium",
            subject=row.subject or _("Email from %(who)s") % {"who": row.from_address},
            description=text[:4000],
            unit_id=unit.pk if unit else None,
            language=customer.preferred_language,
        )
        case, _created = opening.open_or_attach(signal, EMAIL_ACTOR, now)
        parsed = inbound.ParsedMail(
            message_id=row.message_id,
            in_reply_to=row.in_reply_to,
            from_address=row.from_address,
            subject=row.subject,
            text=row.text,
        )
        add_to_case(case, row, parsed, now)
        InboundEmail.objects.filter(pk=row.pk).update(case=case, status=InboundEmail.Status.OPENED)
        return case


# --- sources ------------------------------------------------------------------------------


def receive_many(messages: Iterable[bytes], source: str) -> IntakeReport:
    report = IntakeReport()
    for raw in messages:
        row, duplicate = receive(raw, source)
        report.add(row, duplicate)
    return report


def read_maildir(path: str | Path) -> Iterator[bytes]:
    """The messages of a maildir (new/ and cur/), oldest file name first."""
    root = Path(path)
    if not (root / "new").is_dir() and not (root / "cur").is_dir():
        raise MailError(_("%(path)s is not a maildir (no new/ or cur/ folder).") % {"path": root})
    for sub in ("new", "cur"):
        folder = root / sub
        if folder.is_dir():
            for item in sorted(folder.iterdir()):
                if item.is_file():
                    yield item.read_bytes()


def read_mbox(path: str | Path) -> Iterator[bytes]:
    """The messages of an mbox file."""
    file = Path(path)
    if not file.is_file():
        raise MailError(_("No such mbox file: %(path)s") % {"path": file})
    box = mailbox.mbox(file, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    ssl: bool
    user: str
    password: str
    folder: str


def imap_config(config: CaseSettings | None = None) -> ImapConfig | None:
    """IMAP settings: environment (RAPPORT_IMAP_HOST, _PORT, _SSL, _USER, _FOLDER) over
    CaseSettings; the password only from RAPPORT_IMAP_PASSWORD. None when no host is set."""
    config = config or CaseSettings.current()
    env = os.environ
    host = env.get("RAPPORT_IMAP_HOST", config.imap_host).strip()
    if not host:
        return None
    return ImapConfig(
        host=host,
        port=int(env.get("RAPPORT_IMAP_PORT", config.imap_port)),
        ssl=env.get("RAPPORT_IMAP_SSL", "1" if config.imap_ssl else "0").lower()
        in {"1", "true", "yes", "on"},
        user=env.get("RAPPORT_IMAP_USER", config.imap_user),
        password=env.get("RAPPORT_IMAP_PASSWORD", ""),
        folder=env.get("RAPPORT_IMAP_FOLDER", config.imap_folder) or "INBOX",
    )


def fetch_imap(cfg: ImapConfig, limit: int = 200) -> IntakeReport:
    """Receive the unseen mail of the IMAP folder; each one is marked seen only after it is
    stored (a crash in between fetches it again, and the digest stores it once)."""
    report = IntakeReport()
    try:
        conn: imaplib.IMAP4 = (
            imaplib.IMAP4_SSL(cfg.host, cfg.port) if cfg.ssl else imaplib.IMAP4(cfg.host, cfg.port)
        )
    except OSError as exc:
        raise MailError(
            _("Cannot reach the IMAP server %(host)s:%(port)s: %(e)s")
            % {"host": cfg.host, "port": cfg.port, "e": exc}
        ) from exc
    try:
        try:
            conn.login(cfg.user, cfg.password)
        except imaplib.IMAP4.error as exc:
            raise MailError(
                _("IMAP login failed for %(user)s: %(e)s") % {"user": cfg.user, "e": exc}
            ) from exc
        status, _data = conn.select(cfg.folder)
        if status != "OK":
            raise MailError(_("No IMAP folder %(f)s.") % {"f": cfg.folder})
        status, data = conn.uid("search", "UNSEEN")
        uids = data[0].split()[:limit] if status == "OK" and data and data[0] else []
        for uid in uids:
            status, parts = conn.uid("fetch", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts or () if isinstance(p, tuple)), None)
            if status != "OK" or raw is None:
                continue
            row, duplicate = receive(bytes(raw), "imap")
            report.add(row, duplicate)
            conn.uid("store", uid, "+FLAGS", "(\\Seen)")
    finally:
        try:
            conn.logout()
        except Exception:
            log.debug("IMAP logout failed", exc_info=True)
    return report
