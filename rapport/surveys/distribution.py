"""Scheduling and sending survey invitations: the one home of these operations, called by the
event triggers, waves, [cases]' recovery surveys, the worker's periodic jobs and the commands.

Scheduling judges candidates against the contact rules (rapport.surveys.contact_rules) with a few
bulk queries, then writes one invitation per candidate: `scheduled` with its sending time moved
out of quiet hours, or `suppressed` with the rule that stopped it. A candidate that another rule
already invited for the same touchpoint gets no row at all (one invitation per touchpoint).

Sending claims each due invitation with a conditional UPDATE (still scheduled and due? then push
`next_attempt_at` a lease ahead and count the attempt), so two workers never send one twice; it
checks consent again, issues the link (only now does a working token exist), sends, and marks it
sent. A failure leaves it scheduled with a later `next_attempt_at` (backoff); after
`max_attempts` failures, or a permanent refusal, it is `bounced` with the reason. A worker that
dies between the server accepting a message and the database noting it would send again after
the lease: the one window where "never twice" rests on the lease, not on the database.

Only invitations with a `next_attempt_at` are ever sent: links and QR codes made elsewhere
(`actions.create_invitation`) are never emailed by accident.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import threading
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from rapport.customers.models import Consent, Customer
from rapport.org.models import OrgUnit
from rapport.surveys import actions, optout
from rapport.surveys import contact_rules as rules
from rapport.surveys import questions as q
from rapport.surveys.channels import SendError
from rapport.surveys.channels import email as email_channel
from rapport.surveys.channels import sms as sms_channel
from rapport.surveys.models import ContactPolicy, EventRule, Invitation, Survey, SurveyVersion
from rapport.touchpoints.models import Touchpoint

log = logging.getLogger(__name__)

S = Invitation.Status
LEASE = dt.timedelta(minutes=10)  # far longer than sending one message may take
SEND_BATCH = 500
# Invitations that count as a contact for the quarantine (a bounced one never reached anyone).
CONTACTS = (S.SCHEDULED, S.SENT, S.OPENED, S.STARTED, S.COMPLETED, S.EXPIRED)
REMINDABLE = (S.SENT, S.OPENED, S.STARTED)
ADDRESS_FIELD = {Invitation.Channel.EMAIL: "email", Invitation.Channel.SMS: "phone"}


def current_policy() -> rules.Policy:
    row = ContactPolicy.current()
    return rules.Policy(
        quarantine_days=row.quarantine_days,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        max_attempts=max(row.max_attempts, 1),
    )


def unit_zones() -> tuple[dict[int, zoneinfo.ZoneInfo], zoneinfo.ZoneInfo]:
    """Each unit's time zone, and the one for customers with no unit (the enterprise's)."""
    zones = {pk: zoneinfo.ZoneInfo(tz) for pk, tz in OrgUnit.objects.values_list("id", "time_zone")}
    root = OrgUnit.enterprise()
    default = zones.get(root.pk) if root else None
    return zones, default or zoneinfo.ZoneInfo(settings.RAPPORT_DEFAULT_TIME_ZONE)


# --- scheduling -------------------------------------------------------------------------------


@dataclass
class Candidate:
    """Someone a rule, a wave or another app wants to invite."""

    customer_id: int
    survey_id: int
    send_at: dt.datetime  # wanted time, before quiet hours
    channel: str = Invitation.Channel.EMAIL
    touchpoint_id: int | None = None
    staff_id: int | None = None
    unit_id: int | None = None
    rule_id: int | None = None
    priority: int = 100
    reason: str = ""
    reminder_days: int | None = None
    validity_days: int = 30


@dataclass
class Decision:
    candidate: Candidate
    rule: str | None  # the contact rule that suppressed it; None: invite
    send_at: dt.datetime  # after quiet hours
    language: str = q.DEFAULT_LANGUAGE

    @property
    def invited(self) -> bool:
        return self.rule is None


@dataclass
class CustomerFacts:
    language: str
    address: dict[str, bool]
    merged: bool
    home_unit_id: int | None
    opted_out: set[str] = field(default_factory=set)


def plan(
    candidates: Sequence[Candidate], now: dt.datetime, policy: rules.Policy | None = None
) -> list[Decision]:
    """Judge candidates against every contact rule with a handful of bulk queries; writes
    nothing (the dry run shows exactly this). Earlier sending times win a quarantine clash."""
    policy = policy or current_policy()
    if not candidates:
        return []
    ids = {c.customer_id for c in candidates}
    facts = _customer_facts(ids)
    zones, default_zone = unit_zones()
    first = rules.first_per_key(
        [
            (c.touchpoint_id if c.touchpoint_id else ("-", i), c.priority)
            for i, c in enumerate(candidates)
        ]
    )
    winners = set(first.values())
    tp_ids = [c.touchpoint_id for c in candidates if c.touchpoint_id]
    invited_tps = (
        set(
            Invitation.objects.filter(touchpoint_id__in=tp_ids).values_list(
                "touchpoint_id", flat=True
            )
        )
        if tp_ids
        else set()
    )

    wanted = [max(c.send_at, now) for c in candidates]
    low = min(wanted) - policy.quarantine
    high = max(wanted) + policy.quarantine + dt.timedelta(days=1)  # quiet hours may add a night
    contacts: dict[int, list[dt.datetime]] = defaultdict(list)
    for customer_id, when in Invitation.objects.filter(
        customer_id__in=ids, status__in=CONTACTS, scheduled_for__gte=low, scheduled_for__lte=high
    ).values_list("customer_id", "scheduled_for"):
        contacts[customer_id].append(when)

    decisions: list[Decision | None] = [None] * len(candidates)
    for index in sorted(range(len(candidates)), key=lambda i: wanted[i]):
        c = candidates[index]
        known = facts.get(c.customer_id)
        unit = c.unit_id or (known.home_unit_id if known else None)
        zone = zones.get(unit, default_zone) if unit else default_zone
        send_at = rules.quiet_adjusted(wanted[index], zone, policy.quiet_start, policy.quiet_end)
        judged = rules.Facts(
            merged=known is None or known.merged,
            opted_out=known is not None and c.channel in known.opted_out,
            has_address=known is not None and known.address.get(c.channel, False),
            duplicate=index not in winners or (c.touchpoint_id in invited_tps),
            contacts=contacts[c.customer_id],
        )
        rule = rules.suppressing_rule(judged, send_at, policy)
        if rule is None:
            contacts[c.customer_id].append(send_at)
        language = known.language if known else q.DEFAULT_LANGUAGE
        decisions[index] = Decision(c, rule, send_at, language)
    return [d for d in decisions if d is not None]


def _customer_facts(ids: Iterable[int]) -> dict[int, CustomerFacts]:
    facts = {
        pk: CustomerFacts(
            language=lang if lang in q.LANGUAGES else q.DEFAULT_LANGUAGE,
            address={Invitation.Channel.EMAIL: bool(email), Invitation.Channel.SMS: bool(phone)},
            merged=merged is not None,
            home_unit_id=home,
        )
        for pk, lang, email, phone, merged, home in Customer.objects.filter(pk__in=ids).values_list(
            "id", "preferred_language", "email", "phone", "merged_into_id", "home_unit_id"
        )
    }
    for customer_id, channel in Consent.objects.filter(
        customer_id__in=ids, purpose=rules.PURPOSE, granted=False
    ).values_list("customer_id", "channel"):
        if customer_id in facts:
            facts[customer_id].opted_out.add(channel)
    return facts


def schedule(candidates: Sequence[Candidate], now: dt.datetime | None = None) -> list[Invitation]:
    """Judge and write: one invitation per candidate, scheduled or suppressed (duplicates of a
    touchpoint already invited get none). One transaction; returns the rows written."""
    now = now or timezone.now()
    versions = _live_versions({c.survey_id for c in candidates})
    with transaction.atomic():
        decisions = plan(candidates, now)
        rows = [
            _invitation(d, versions[d.candidate.survey_id], now)
            for d in decisions
            if d.rule != rules.DUPLICATE and d.candidate.survey_id in versions
        ]
        return Invitation.objects.bulk_create(rows, batch_size=1000)


def _live_versions(survey_ids: Iterable[int]) -> dict[int, SurveyVersion]:
    """The published version to send of each survey; surveys without one are left out (and
    logged: a rule pointing at an unpublished or archived survey invites nobody)."""
    found = {}
    for survey in Survey.objects.filter(pk__in=set(survey_ids)):
        version = actions.live_version(survey) if not survey.archived else None
        if version is None:
            log.warning("survey %s has no published version: nobody is invited", survey.pk)
        else:
            found[survey.pk] = version
    return found


def _invitation(decision: Decision, version: SurveyVersion, now: dt.datetime) -> Invitation:
    c = decision.candidate
    invited = decision.invited
    return Invitation(
        version=version,
        survey_id=c.survey_id,
        customer_id=c.customer_id,
        channel=c.channel,
        touchpoint_id=c.touchpoint_id,
        staff_id=c.staff_id,
        unit_id=c.unit_id,
        status=S.SCHEDULED if invited else S.SUPPRESSED,
        suppressed_by="" if invited else decision.rule,
        language=decision.language,
        scheduled_for=decision.send_at,
        next_attempt_at=decision.send_at if invited else None,
        expires_at=decision.send_at + dt.timedelta(days=max(c.validity_days, 1)),
        rule_id=c.rule_id,
        reason=c.reason[:200],
        remind_after_days=c.reminder_days or None,
    )


def schedule_for_touchpoints(
    matches: Sequence[tuple[int, int]], now: dt.datetime | None = None
) -> list[Invitation]:
    """Invitations for (touchpoint id, event rule id) pairs: each rule's delay after the
    touchpoint, with its channel and reminder; one per touchpoint (best priority wins)."""
    candidates = candidates_for_touchpoints(matches)
    return schedule(candidates, now) if candidates else []


def candidates_for_touchpoints(
    matches: Sequence[tuple[int, int]], only_active: bool = True
) -> list[Candidate]:
    """A candidate per (touchpoint, rule) pair; a rule switched off since the match is skipped
    (the dry run of an inactive rule asks with only_active=False)."""
    rule_by_id = EventRule.objects.in_bulk({r for _t, r in matches})
    touchpoints = {
        row[0]: row
        for row in Touchpoint.objects.filter(pk__in={t for t, _r in matches}).values_list(
            "id", "customer_id", "occurred_at", "unit_id", "staff_id", "kind"
        )
    }
    found = []
    for tp_id, rule_id in matches:
        rule, tp = rule_by_id.get(rule_id), touchpoints.get(tp_id)
        if rule is None or tp is None or (only_active and not rule.active):
            continue
        _id, customer_id, occurred_at, unit_id, staff_id, kind = tp
        found.append(
            Candidate(
                customer_id=customer_id,
                survey_id=rule.survey_id,
                send_at=occurred_at + dt.timedelta(hours=rule.delay_hours),
                channel=rule.channel,
                touchpoint_id=tp_id,
                staff_id=staff_id,
                unit_id=unit_id,
                rule_id=rule.pk,
                priority=rule.priority,
                reason=f"{kind} → {rule.name}",
                reminder_days=rule.reminder_days,
                validity_days=rule.validity_days,
            )
        )
    return found


def invite_after_event(
    customer: Customer,
    survey: Survey,
    touchpoint: Touchpoint | None = None,
    delay: dt.timedelta = dt.timedelta(0),
    reason: str = "",
    *,
    channel: str = Invitation.Channel.EMAIL,
    reminder_days: int | None = None,
    validity_days: int = 30,
    now: dt.datetime | None = None,
) -> Invitation | None:
    """Invite a customer `delay` after now, through every contact rule — the hook other apps use
    (e.g. [cases]: a recovery survey when a case closes). Returns the invitation (scheduled, or
    suppressed with the rule), or None when this touchpoint already has one."""
    now = now or timezone.now()
    candidate = Candidate(
        customer_id=customer.pk,
        survey_id=survey.pk,
        send_at=now + delay,
        channel=channel,
        touchpoint_id=touchpoint.pk if touchpoint else None,
        staff_id=touchpoint.staff_id if touchpoint else None,
        unit_id=touchpoint.unit_id if touchpoint else None,
        reason=reason,
        reminder_days=reminder_days,
        validity_days=validity_days,
    )
    written = schedule([candidate], now)
    return written[0] if written else None


# --- sending ----------------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    bounced: int = 0
    suppressed: int = 0
    postponed: int = 0
    errors: list[str] = field(default_factory=list)


class _Sender:
    """One batch of sending: one SMTP connection, one SMS provider, the policy and zones."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.policy = current_policy()
        self.zones, self.default_zone = unit_zones()
        self.connection: Any = None
        self.sms: sms_channel.SmsProvider | None = None
        self.sms_loaded = False
        self.down: set[str] = set()  # channels that failed for a reason not tied to the message

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def deliver(self, invitation: Invitation, token: str, reminder: bool) -> None:
        customer = invitation.customer
        assert customer is not None
        link = settings.SITE_URL + reverse("surveys_public:answer", args=[token])
        unsubscribe = settings.SITE_URL + reverse(
            "surveys_public:unsubscribe",
            args=[optout.unsubscribe_token(customer.pk, invitation.channel)],
        )
        title = q.localized(invitation.version.title, invitation.language) or invitation.survey.name
        if invitation.channel == Invitation.Channel.SMS:
            if not self.sms_loaded:
                self.sms, self.sms_loaded = sms_channel.configured_provider(), True
            if self.sms is None:
                raise SendError("no SMS provider is configured")
            text = sms_channel.text(invitation.language, title, link, unsubscribe, reminder)
            self.sms.send(customer.phone, text)
            return
        letter = email_channel.Letter(
            to=customer.email,
            language=invitation.language,
            survey_title=title,
            link=link,
            unsubscribe_url=unsubscribe,
            reminder=reminder,
            expires_at=invitation.expires_at,
            invitation_id=invitation.pk,
        )
        if self.connection is None:
            self.connection = mail.get_connection(fail_silently=False)
            try:
                self.connection.open()
            except (smtplib.SMTPException, OSError) as exc:
                self.connection = None
                raise SendError(
                    f"cannot reach the mail server: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            email_channel.send(letter, self.connection)
        except SendError as exc:
            if not exc.permanent:
                self.close()  # the session may be broken; open a fresh one next time
            raise

    def send_time_rule(self, invitation: Invitation) -> str | None:
        customer = invitation.customer
        if customer is None:
            return rules.MERGED
        opted_out = Consent.objects.filter(
            customer_id=customer.pk,
            channel=invitation.channel,
            purpose=rules.PURPOSE,
            granted=False,
        ).exists()
        field_name = ADDRESS_FIELD.get(invitation.channel, "email")
        return rules.send_time_rule(
            merged=customer.merged_into_id is not None,
            opted_out=opted_out,
            has_address=bool(getattr(customer, field_name)),
        )

    def quiet_until(self, invitation: Invitation) -> dt.datetime | None:
        unit = invitation.unit_id or (
            invitation.customer.home_unit_id if invitation.customer else None
        )
        zone = self.zones.get(unit, self.default_zone) if unit else self.default_zone
        if not rules.is_quiet(self.now, zone, self.policy.quiet_start, self.policy.quiet_end):
            return None
        return rules.quiet_adjusted(self.now, zone, self.policy.quiet_start, self.policy.quiet_end)


def _load(pk: int) -> Invitation:
    return Invitation.objects.select_related("customer", "version", "survey").get(pk=pk)


def send_due(
    now: dt.datetime | None = None, limit: int = SEND_BATCH, stop: threading.Event | None = None
) -> SendReport:
    """Send the invitations that are due (first tries and retries); see the module docstring."""
    now = now or timezone.now()
    report = SendReport()
    due = list(
        Invitation.objects.filter(status=S.SCHEDULED, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "channel")[:limit]
    )
    sender = _Sender(now)
    try:
        for pk, channel in due:
            if stop is not None and stop.is_set():
                break
            if channel in sender.down:
                continue  # left due and unclaimed: the next run tries again
            claimed = Invitation.objects.filter(
                pk=pk, status=S.SCHEDULED, next_attempt_at__lte=now
            ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
            if claimed:
                _send_claimed(_load(pk), sender, report)
    finally:
        sender.close()
    return report


def _send_claimed(invitation: Invitation, sender: _Sender, report: SendReport) -> None:
    mine = Invitation.objects.filter(pk=invitation.pk, status=S.SCHEDULED)
    rule = sender.send_time_rule(invitation)
    if rule:
        mine.update(status=S.SUPPRESSED, suppressed_by=rule, next_attempt_at=None)
        report.suppressed += 1
        return
    later = sender.quiet_until(invitation)
    if later:
        mine.update(next_attempt_at=later, attempts=F("attempts") - 1)  # not a failed attempt
        report.postponed += 1
        return
    token = actions.issue_token(invitation)
    try:
        sender.deliver(invitation, token, reminder=False)
    except SendError as exc:
        _failed(invitation, mine, exc, sender, report)
        return
    days = invitation.remind_after_days
    mine.update(
        status=S.SENT,
        sent_at=sender.now,
        next_attempt_at=None,
        last_error="",
        remind_at=sender.now + dt.timedelta(days=days) if days else None,
    )
    report.sent += 1


def _failed(
    invitation: Invitation, mine: Any, exc: SendError, sender: _Sender, report: SendReport
) -> None:
    message = str(exc)[:500]
    report.errors.append(f"invitation {invitation.pk}: {message}")
    if exc.permanent or invitation.attempts >= sender.policy.max_attempts:
        mine.update(status=S.BOUNCED, last_error=message, next_attempt_at=None)
        report.bounced += 1
        return
    if not exc.permanent:
        sender.down.add(invitation.channel)
    retry_at = sender.now + rules.retry_delay(invitation.attempts)
    mine.update(next_attempt_at=retry_at, last_error=message)
    report.retrying += 1
    log.warning(
        "invitation %s not sent (attempt %s): %s", invitation.pk, invitation.attempts, message
    )


def send_reminders(
    now: dt.datetime | None = None, limit: int = SEND_BATCH, stop: threading.Event | None = None
) -> SendReport:
    """One reminder per invitation not completed `remind_after_days` after sending. The reminder
    carries a fresh link (the previous one stops working). Claimed like first sends."""
    now = now or timezone.now()
    report = SendReport()
    base = Invitation.objects.filter(
        status__in=REMINDABLE, reminded_at__isnull=True, expires_at__gt=now
    )
    due = list(
        base.filter(remind_at__lte=now)
        .order_by("remind_at", "pk")
        .values_list("pk", "channel")[:limit]
    )
    sender = _Sender(now)
    try:
        for pk, channel in due:
            if (stop is not None and stop.is_set()) or channel in sender.down:
                continue
            if not base.filter(pk=pk, remind_at__lte=now).update(remind_at=now + LEASE):
                continue
            invitation = _load(pk)
            mine = Invitation.objects.filter(pk=pk, reminded_at__isnull=True)
            if sender.send_time_rule(invitation):
                mine.update(remind_at=None)  # no reminder; the invitation itself stays as it is
                report.suppressed += 1
                continue
            later = sender.quiet_until(invitation)
            if later:
                mine.update(remind_at=later)
                report.postponed += 1
                continue
            token = actions.issue_token(invitation)
            try:
                sender.deliver(invitation, token, reminder=True)
            except SendError as exc:
                report.errors.append(f"reminder {pk}: {exc}")
                if exc.permanent:
                    mine.update(remind_at=None, last_error=str(exc)[:500])
                    report.bounced += 1
                else:
                    sender.down.add(channel)
                    mine.update(remind_at=now + rules.retry_delay(3), last_error=str(exc)[:500])
                    report.retrying += 1
                continue
            mine.update(reminded_at=now, remind_at=None)
            report.sent += 1
    finally:
        sender.close()
    return report


def expire_due(now: dt.datetime | None = None) -> int:
    """Mark invitations whose link ran out before completion as expired; how many."""
    now = now or timezone.now()
    return Invitation.objects.filter(
        status__in=(S.SCHEDULED, S.SENT, S.OPENED, S.STARTED), expires_at__lte=now
    ).update(status=S.EXPIRED, next_attempt_at=None, remind_at=None)
