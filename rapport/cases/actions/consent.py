"""The customer decides: an approved remedy is offered with a signed link, and the customer's
answer is recorded with the channel and the time they gave it (compensation is offered, not
imposed)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import messages, states
from rapport.cases.actions import Actor, CaseError
from rapport.cases.actions.record import lock_case, save_changes
from rapport.cases.actions.remedies import case_remedy, set_remedy_status
from rapport.cases.models import Remedy

ACCEPT_SALT = "rapport.cases.remedy-accept"
ACCEPT_MAX_AGE = 60 * 60 * 24 * 30  # an offer link works for 30 days
CONSENT_CHANNELS = ("phone", "email", "in_person", "sms", "chat", "letter", "link")


def offer_remedy(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Remedy:
    """Offer an approved remedy to the customer: a message with a link to accept it. The
    customer decides (compensation is offered, not imposed). Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        remedy = case_remedy(case, remedy_id)
        set_remedy_status(remedy, states.OFFERED, case, actor, now, offered_at=now)
        url = f"{settings.SITE_URL}/cases/accept/{accept_token(remedy)}"
        messages.queue(
            case, "remedy_offer", {"remedy": str(remedy), "accept_url": url}, actor.staff, now
        )
        save_changes(case, {}, actor, now)
        return remedy


def accept_token(remedy: Remedy) -> str:
    """The signed token of the accept link in an offer (valid ACCEPT_MAX_AGE)."""
    return signing.dumps({"r": remedy.pk, "c": remedy.case_id}, salt=ACCEPT_SALT, compress=True)


def record_consent(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    accepted: bool,
    channel: str,
    actor: Actor,
    *,
    given_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Remedy:
    """The customer's answer to an offer, with the channel and time they gave it. Locks the case."""
    now = now or timezone.now()
    if channel not in CONSENT_CHANNELS:
        raise CaseError(
            _("Say how the customer answered: %(c)s.") % {"c": ", ".join(CONSENT_CHANNELS)}
        )
    if given_at is not None and given_at > now + dt.timedelta(minutes=5):
        raise CaseError(_("The customer's answer cannot be in the future."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        remedy = case_remedy(case, remedy_id)
        set_remedy_status(
            remedy,
            states.ACCEPTED if accepted else states.DECLINED,
            case,
            actor,
            now,
            consent_channel=channel,
            consent_at=given_at or now,
            consent_recorded_by=actor.staff,
        )
        save_changes(case, {}, actor, now)
        return remedy


def remedy_for_link(token: str) -> Remedy | None:
    """The remedy an offer link is about, or None for a tampered, unknown or expired link."""
    try:
        data = signing.loads(token, salt=ACCEPT_SALT, max_age=ACCEPT_MAX_AGE)
    except signing.BadSignature:
        return None
    return Remedy.objects.filter(pk=data["r"], case_id=data["c"]).select_related("case").first()


def accept_by_link(token: str, accepted: bool = True, now: dt.datetime | None = None) -> Remedy:
    """The customer's own answer through the link of the offer."""
    try:
        data = signing.loads(token, salt=ACCEPT_SALT, max_age=ACCEPT_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise CaseError(_("This link has expired; please contact us.")) from exc
    except signing.BadSignature as exc:
        raise CaseError(_("This link is not valid.")) from exc
    return record_consent(
        data["c"], None, data["r"], accepted, "link", Actor.system("customer (link)"), now=now
    )
