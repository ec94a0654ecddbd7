"""Promises to the customer with a date: made, settled kept or broken, and broken by the sweep
when their date passes."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases.actions import SYSTEM, Actor, CaseError
from rapport.cases.actions.record import local_time, lock_case, record_event, save_changes
from rapport.cases.models import Case, Promise


def make_promise(
    case_id: int,
    expected_version: int | None,
    text: str,
    due_at: dt.datetime,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Promise:
    """A promise to the customer with a date: a follow-up task, kept or broken. Locks the case."""
    now = now or timezone.now()
    if not text.strip():
        raise CaseError(_("Say what you promised."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        promise = Promise.objects.create(
            case=case,
            text=text.strip()[:500],
            due_at=due_at,
            made_by=actor.staff or case.owner,
            made_at=now,
        )
        record_event(
            case, actor, "promise", now, new=local_time(due_at, case.unit), note=promise.text
        )
        save_changes(case, {}, actor, now)
        return promise


def settle_promise(
    case_id: int,
    expected_version: int | None,
    promise_id: int,
    kept: bool,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Promise:
    """Mark an open promise kept or broken. Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        state = Promise.State.KEPT if kept else Promise.State.BROKEN
        settled = Promise.objects.filter(pk=promise_id, case=case, state=Promise.State.OPEN).update(
            state=state, settled_at=now
        )
        if not settled:
            raise CaseError(_("No open promise with this id on the case."))
        record_event(
            case,
            actor,
            "promise",
            now,
            field="promise",
            old=f"{promise_id}:open",
            new=f"{promise_id}:{state}",
        )
        save_changes(case, {}, actor, now)
        return Promise.objects.get(pk=promise_id)


def break_overdue_promises(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Open promises past their date count as broken (claimed by a conditional UPDATE)."""
    now = now or timezone.now()
    count = 0
    overdue = Promise.objects.filter(state=Promise.State.OPEN, due_at__lte=now).values_list(
        "pk", "case_id"
    )
    for promise_id, case_id in list(overdue[:limit]):
        with transaction.atomic():
            if Promise.objects.filter(pk=promise_id, state=Promise.State.OPEN).update(
                state=Promise.State.BROKEN, settled_at=now
            ):
                case = Case.objects.select_related("owner").get(pk=case_id)
                record_event(
                    case,
                    SYSTEM,
                    "promise",
                    now,
                    field="promise",
                    old=f"{promise_id}:open",
                    new=f"{promise_id}:broken",
                    note=_("Not kept by its date."),
                )
                count += 1
    return count
