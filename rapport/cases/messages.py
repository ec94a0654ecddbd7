"""Messages to the customer on a case: rendered from the editable templates in the customer's
language, stored as CaseMessage, then sent by email through Django's mail backend.

A message is written in the transaction of the action that made it, and sent after the commit
(never for work that was rolled back). Sending claims the row with a conditional UPDATE on its
attempt count, so two senders never send it twice; a failure is kept with its error and retried
by the periodic job. Service messages respect consent: an explicit opt-out of service emails, or
no address, leaves the message stored as "not sent" with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.template import Context, Engine
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import defaults
from rapport.cases.models import Case, CaseMessage, MessageTemplate
from rapport.org.models import Staff

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
_ENGINE = Engine(autoescape=False)  # plain-text email


def template_for(kind: str, language: str) -> tuple[str, str]:
    """(subject, body) of a template in the language, falling back to English, then built-ins."""
    rows = {
        t.language: (t.subject, t.body)
        for t in MessageTemplate.objects.filter(kind=kind, language__in=[language, "en"])
    }
    found = rows.get(language) or rows.get("en")
    if found:
        return found
    return defaults.TEMPLATES.get((kind, language)) or defaults.TEMPLATES[(kind, "en")]


def render(kind: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
    subject, body = template_for(kind, language)
    ctx = Context(dict(context))
    return (
        _ENGINE.from_string(subject).render(ctx).strip().replace("\n", " "),
        _ENGINE.from_string(body).render(ctx),
    )


def base_context(case: Case, owner: Staff | None = None) -> dict[str, Any]:
    customer = case.customer
    return {
        "customer": customer.display_name or _("customer"),
        "case_ref": case.ref,
        "owner": (owner or case.owner).display_name,
        "subject": case.subject,
    }


def queue(
    case: Case,
    kind: str,
    context: Mapping[str, Any],
    author: Staff | None,
    now: dt.datetime,
) -> CaseMessage:
    """Store an outgoing message (call inside the action's transaction); sent after commit."""
    subject, body = render(kind, case.language, {**base_context(case, author), **context})
    customer = case.customer
    address = customer.email
    status, error = CaseMessage.Status.PENDING, ""
    if not address:
        status, error = CaseMessage.Status.SKIPPED, "the customer has no email address"
    elif not customer.may_contact("email", "service"):
        status, error = CaseMessage.Status.SKIPPED, "the customer opted out of service emails"
    message = CaseMessage.objects.create(
        case=case,
        direction=CaseMessage.Direction.OUT,
        kind=kind,
        channel="email",
        address=address,
        language=case.language,
        subject=subject,
        body=body,
        status=status,
        error=error,
        author=author,
        created_at=now,
    )
    if status == CaseMessage.Status.PENDING:
        transaction.on_commit(lambda: deliver(message.pk))
    return message


def deliver(message_id: int) -> bool:
    """Send one pending or failed message, once; True when sent now."""
    row = CaseMessage.objects.filter(pk=message_id).values("status", "attempts").first()
    if row is None or row["status"] not in {CaseMessage.Status.PENDING, CaseMessage.Status.FAILED}:
        return False
    claimed = CaseMessage.objects.filter(
        pk=message_id, status=row["status"], attempts=row["attempts"]
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        return False
    message = CaseMessage.objects.select_related("case").get(pk=message_id)
    msgid = make_msgid(domain="rapport.case")  # replies thread on it (email intake)
    headers = {"X-Rapport-Case": message.case.ref, "Message-ID": msgid}
    email = mail.EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.address],
        headers=headers,
    )
    try:
        email.send()
    except Exception as exc:  # any transport failure: keep it and retry later
        log.warning("case message %s not sent: %s", message_id, exc)
        CaseMessage.objects.filter(pk=message_id).update(
            status=CaseMessage.Status.FAILED, error=str(exc)[:500]
        )
        return False
    CaseMessage.objects.filter(pk=message_id).update(
        status=CaseMessage.Status.SENT,
        sent_at=timezone.now(),
        error="",
        message_id=msgid,
    )
    return True


def retry_failed(limit: int = 200) -> int:
    """Try the failed messages again (up to MAX_ATTEMPTS each); how many went out."""
    ids = CaseMessage.objects.filter(
        status=CaseMessage.Status.FAILED, attempts__lt=MAX_ATTEMPTS
    ).values_list("pk", flat=True)[:limit]
    return sum(deliver(pk) for pk in list(ids))


def notify_staff(staff: Staff | None, subject: str, body: str) -> None:
    """A best-effort email to a staff member (a warning, an escalation); after commit."""
    address = getattr(getattr(staff, "user", None), "email", "") if staff else ""
    if not address:
        return

    def send() -> None:
        try:
            mail.send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
        except Exception:
            log.warning("staff notification to %s failed", address, exc_info=True)

    transaction.on_commit(send)
