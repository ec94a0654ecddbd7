"""Writing on a case: an internal note, or a message to the customer (an update, or "let me
check — I will come back by then", which is also a promise)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import messages
from rapport.cases.actions import Actor, CaseError
from rapport.cases.actions.record import local_time, lock_case, record_event, save_changes
from rapport.cases.actions.sla import with_next_check
from rapport.cases.models import Case, Promise


def add_note(
    case_id: int,
    expected_version: int | None,
    text: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Case:
    """An internal note on the case (not sent). Locks the case."""
    now = now or timezone.now()
    if not text.strip():
        raise CaseError(_("The note is empty."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        record_event(case, actor, "note", now, note=text.strip())
        return save_changes(case, {}, actor, now)


def reply(
    case_id: int,
    expected_version: int | None,
    actor: Actor,
    *,
    body: str = "",
    what: str = "",
    by: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """A message to the customer: an update (`body`), or "let me check `what` — I will come back
    by `by`" (pledge 2), which also becomes a promise with that date. The first one stops the
    first-response clock. Locks the case; the email goes out after commit."""
    now = now or timezone.now()
    if not body.strip() and not what.strip():
        raise CaseError(_("Write the message, or what you will check."))
    if what.strip() and by is None:
        raise CaseError(_("Say by when you will come back to the customer."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        if not case.is_open:
            raise CaseError(_("The case is closed; reopen it to write to the customer."))
        author = actor.staff or case.owner
        if what.strip():
            assert by is not None
            context = {"what": what.strip(), "by": local_time(by, case.unit)}
            message = messages.queue(case, "checking", context, author, now)
            Promise.objects.create(
                case=case,
                text=_("Check %(what)s and come back") % {"what": what.strip()},
                due_at=by,
                made_by=author,
                made_at=now,
            )
            record_event(
                case, actor, "promise", now, new=local_time(by, case.unit), note=what.strip()
            )
        else:
            message = messages.queue(case, "update", {"body": body.strip()}, author, now)
        record_event(case, actor, "message", now, new=message.status, note=message.subject)
        changes: dict[str, Any] = {}
        if case.first_response_at is None:
            changes["first_response_at"] = now
        return save_changes(case, with_next_check(case, changes) if changes else {}, actor, now)
