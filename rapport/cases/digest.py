"""The weekly digest: feedback → resolution, circulated to the staff of every unit (seed 001:
whoever hears the customer's feedback must see what was done with it).

Per unit (its subtree) and week (Monday to Monday in the enterprise's time zone): cases opened
and resolved, their causes, the stories (what the customer said, what fixed it), notable
recoveries (a detractor who answered the re-survey as passive or promoter), promises kept and
broken, SLA breaches, transfers, and what is still open. Counted with SQL aggregates.

Sending: the hourly job sends last week's digest from Monday 08:00 on, once per unit and week —
a DigestLog row is inserted before sending (unique per unit and week), so two workers never send
the same digest twice; a failed send is recorded on the row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import states
from rapport.cases.models import CHURN_CAUSES, Case, CaseEvent, CaseSettings, DigestLog, Promise
from rapport.cases.models import Transfer as TransferRow
from rapport.core.apiutil import enterprise_tz
from rapport.org.models import OrgUnit, Staff

log = logging.getLogger(__name__)

SEND_FROM_HOUR = 8  # Monday, enterprise time
STORIES = 12
RECOVERIES = 8


class DigestError(ValueError):
    pass


@dataclass
class Digest:
    unit: OrgUnit
    week_start: dt.date
    week_end: dt.date  # exclusive
    opened: int = 0
    resolved: int = 0
    closed: int = 0
    still_open: int = 0
    breached_open: int = 0
    causes: list[tuple[str, int]] = field(default_factory=list)
    by_source: list[tuple[str, int]] = field(default_factory=list)
    stories: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    promises_kept: int = 0
    promises_broken: int = 0
    breaches: dict[str, int] = field(default_factory=dict)
    transfers: int = 0

    @property
    def empty(self) -> bool:
        """Nothing happened in the week (open cases alone are no news)."""
        return not (
            self.opened
            or self.resolved
            or self.closed
            or self.promises_kept
            or self.promises_broken
            or self.breaches
        )

    @property
    def breaches_total(self) -> int:
        return sum(self.breaches.values())


def week_of(day: dt.date) -> dt.date:
    """The Monday of the day's week."""
    return day - dt.timedelta(days=day.weekday())


def bounds(week_start: dt.date, tz: Any) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(week_start, dt.time(), tzinfo=tz)
    return start, dt.datetime.combine(week_start + dt.timedelta(days=7), dt.time(), tzinfo=tz)


def build(unit: OrgUnit, week_start: dt.date, tz: Any = None) -> Digest:
    """The digest of a unit's subtree for the week starting on `week_start` (a Monday)."""
    tz = tz or enterprise_tz()
    week_start = week_of(week_start)
    start, end = bounds(week_start, tz)
    d = Digest(unit, week_start, week_start + dt.timedelta(days=7))
    cases = Case.objects.filter(unit__path__startswith=unit.path).order_by()
    counts = cases.aggregate(
        opened=Count("id", filter=Q(opened_at__gte=start, opened_at__lt=end)),
        resolved=Count("id", filter=Q(resolved_at__gte=start, resolved_at__lt=end)),
        closed=Count("id", filter=Q(closed_at__gte=start, closed_at__lt=end)),
        still_open=Count("id", filter=~Q(state__in=[states.CLOSED, states.RESOLVED])),
        breached_open=Count(
            "id",
            filter=~Q(state__in=[states.CLOSED, states.RESOLVED])
            & (
                Q(ack_breached_at__isnull=False)
                | Q(response_breached_at__isnull=False)
                | Q(resolve_breached_at__isnull=False)
            ),
        ),
    )
    for key, value in counts.items():
        setattr(d, key, value)
    resolved = cases.filter(resolved_at__gte=start, resolved_at__lt=end)
    cause_rows = resolved.values_list("cause").annotate(n=Count("id")).order_by("-n")
    d.causes = [(str(CHURN_CAUSES.get(c, c or _("not recorded"))), n) for c, n in cause_rows]
    sources = dict(Case.Source.choices)
    source_rows = (
        cases.filter(opened_at__gte=start, opened_at__lt=end)
        .values_list("source")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    d.by_source = [(str(sources.get(s, s)), n) for s, n in source_rows]
    d.stories = [
        {
            "id": c["id"],
            "ref": f"C-{c['id']:06d}",
            "subject": c["subject"],
            "said": (c["description"] or "")[:300],
            "cause": str(CHURN_CAUSES.get(c["cause"], "")),
            "sub_cause": c["sub_cause"],
            "fix": c["fix"],
            "reusable": c["reusable"],
            "unit": c["unit__name"],
            "owner": c["owner__display_name"],
            "score_before": c["response__nps_score"],
            "score_after": c["recovery_response__nps_score"],
        }
        for c in resolved.order_by("-reusable", "-resolved_at").values(
            "id",
            "subject",
            "description",
            "cause",
            "sub_cause",
            "fix",
            "reusable",
            "unit__name",
            "owner__display_name",
            "response__nps_score",
            "recovery_response__nps_score",
        )[:STORIES]
    ]
    d.recoveries = [
        {
            "id": c["id"],
            "ref": f"C-{c['id']:06d}",
            "subject": c["subject"],
            "before": c["response__nps_score"],
            "after": c["recovery_response__nps_score"],
            "owner": c["owner__display_name"],
        }
        for c in cases.filter(
            response__nps_class="detractor",
            recovery_response__nps_class__in=["passive", "promoter"],
            recovery_response__completed_at__gte=start,
            recovery_response__completed_at__lt=end,
        )
        .order_by("-recovery_response__nps_score")
        .values(
            "id",
            "subject",
            "response__nps_score",
            "recovery_response__nps_score",
            "owner__display_name",
        )[:RECOVERIES]
    ]
    promises = (
        Promise.objects.filter(
            case__in=cases.values("pk"), settled_at__gte=start, settled_at__lt=end
        )
        .order_by()
        .aggregate(
            kept=Count("id", filter=Q(state=Promise.State.KEPT)),
            broken=Count("id", filter=Q(state=Promise.State.BROKEN)),
        )
    )
    d.promises_kept, d.promises_broken = promises["kept"], promises["broken"]
    d.breaches = dict(
        CaseEvent.objects.filter(
            case__in=cases.values("pk"), kind="sla_breach", at__gte=start, at__lt=end
        )
        .order_by()
        .values_list("field")
        .annotate(n=Count("id"))
    )
    d.transfers = TransferRow.objects.filter(
        case__in=cases.values("pk"), at__gte=start, at__lt=end
    ).count()
    return d


# --- sending ------------------------------------------------------------------------------


def recipients(unit: OrgUnit) -> list[str]:
    """The managers and staff of the unit itself who have an email address."""
    return sorted(
        set(
            Staff.objects.filter(unit=unit, active=True, user__isnull=False, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def render_email(d: Digest) -> tuple[str, str, str]:
    """(subject, text, html) of the digest email."""
    context = {"d": d, "site_url": settings.SITE_URL.rstrip("/")}
    subject = _("Feedback → resolution, %(unit)s, week of %(week)s") % {
        "unit": d.unit.name,
        "week": d.week_start.isoformat(),
    }
    text = render_to_string("cases/learning/digest_email.txt", context)
    html = render_to_string("cases/learning/digest_email.html", context)
    return subject, text, html


def send(d: Digest, to: list[str]) -> None:
    subject, text, html = render_email(d)
    message = mail.EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [], bcc=to)
    message.attach_alternative(html, "text/html")
    message.send()


def _units_with_staff() -> list[OrgUnit]:
    ids = Staff.objects.filter(active=True).values("unit_id")
    return list(OrgUnit.objects.filter(pk__in=ids).order_by("path"))


def _claim(unit: OrgUnit, week_start: dt.date, now: dt.datetime) -> DigestLog | None:
    try:
        with transaction.atomic():
            return DigestLog.objects.create(unit=unit, week_start=week_start, taken_at=now)
    except IntegrityError:
        return None


def _deliver(row: DigestLog, d: Digest, to: list[str], now: dt.datetime) -> None:
    try:
        send(d, to)
    except Exception as exc:  # keep the failure on the row; the next week goes on regardless
        log.warning("digest %s for %s not sent: %s", d.week_start, d.unit, exc)
        DigestLog.objects.filter(pk=row.pk).update(error=str(exc)[:500])
        return
    DigestLog.objects.filter(pk=row.pk).update(sent_at=now, recipients=len(to), error="")


def send_due(now: dt.datetime | None = None) -> int:
    """Send last week's digest to every unit not yet sent it, from Monday 08:00; how many."""
    if not CaseSettings.current().weekly_digest:
        return 0
    now = now or timezone.now()
    tz = enterprise_tz()
    local = now.astimezone(tz)
    this_week = week_of(local.date())
    if local < dt.datetime.combine(this_week, dt.time(SEND_FROM_HOUR), tzinfo=tz):
        this_week -= dt.timedelta(days=7)  # before Monday 08:00: the week before is due
    due = this_week - dt.timedelta(days=7)
    sent = 0
    for unit in _units_with_staff():
        if DigestLog.objects.filter(unit=unit, week_start=due).exists():
            continue
        to = recipients(unit)
        d = build(unit, due, tz)
        row = _claim(unit, due, now)
        if row is None:
            continue
        if d.empty or not to:
            continue  # claimed: nothing to say, or no one to say it to
        _deliver(row, d, to, now)
        sent += 1
    return sent


def send_week(day: dt.date | None = None, unit_code: str = "", dry_run: bool = False) -> list[str]:
    """Send (or print) a week's digest now, whether sent before or not; lines to show."""
    tz = enterprise_tz()
    now = timezone.now()
    week = week_of(day or (now.astimezone(tz).date() - dt.timedelta(days=7)))
    units = _units_with_staff()
    if unit_code:
        units = [u for u in OrgUnit.objects.filter(code=unit_code)]
        if not units:
            raise DigestError(_("No unit %(code)s.") % {"code": unit_code})
    lines = []
    for unit in units:
        d = build(unit, week, tz)
        to = recipients(unit)
        if dry_run:
            subject, text, _html = render_email(d)
            lines += [f"== {unit.code}: {subject} → {', '.join(to) or '-'}", text]
            continue
        if not to:
            lines.append(f"{unit.code}: nobody with an email address")
            continue
        row, _created = DigestLog.objects.update_or_create(
            unit=unit, week_start=week, defaults={"taken_at": now, "error": ""}
        )
        _deliver(row, d, to, now)
        row.refresh_from_db()
        lines.append(
            f"{unit.code}: sent to {len(to)}" if row.sent_at else f"{unit.code}: {row.error}"
        )
    return lines
