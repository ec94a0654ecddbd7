"""Demo cases: from the demo company's detractor responses and complaints, cases in every state.

Call after the demo's customers, touchpoints and survey responses are loaded (inside
`load_demo`'s transaction is fine):

    from rapport.cases.demo import load_cases
    summary = load_cases(seed=seed, as_of=as_of)

Deterministic for a seed and a database. Every case goes through rapport.cases.actions, so the
trail, clocks, remedies, approvals and webhook events are the real ones.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from django.utils import timezone

from rapport.cases import states
from rapport.cases.actions import Actor, CaseError, consent, lifecycle, notes, opening, remedies
from rapport.cases.models import Case, CaseMessage
from rapport.cases.rules import Signal

ORDER = (
    states.NEW,
    states.ACKNOWLEDGED,
    states.IN_PROGRESS,
    states.AWAITING_CUSTOMER,
    states.AWAITING_APPROVAL,
    states.RESOLVED,
    states.CLOSED,
)
CAUSES = ("service_encounter", "inconvenience", "core_failure", "response_failure", "price")


@dataclass
class CaseSummary:
    opened: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _signals(rng: random.Random, wanted: int) -> list[tuple[Signal, dt.datetime]]:
    from rapport.surveys.models import Response
    from rapport.touchpoints.models import Touchpoint

    found: list[tuple[Signal, dt.datetime]] = []
    for r in Response.objects.filter(nps_class="detractor", customer__isnull=False).order_by("pk")[
        :5000
    ]:
        found.append(
            (
                Signal(
                    customer_id=r.customer_id,
                    source="survey",
                    severity="medium",
                    subject=f"NPS detractor ({r.nps_score})",
                    unit_id=r.unit_id,
                    staff_id=r.staff_id,
                    response_id=r.pk,
                    touchpoint_id=r.touchpoint_id,
                ),
                r.completed_at or r.started_at,
            )
        )
    for t in Touchpoint.objects.filter(kind="complaint").order_by("pk")[:5000]:
        note = (t.context or {}).get("note", "")
        found.append(
            (
                Signal(
                    customer_id=t.customer_id,
                    source="complaint",
                    severity="high",
                    subject=f"Complaint {t.external_id}",
                    description=str(note)[:2000],
                    unit_id=t.unit_id,
                    staff_id=t.staff_id,
                    touchpoint_id=t.pk,
                ),
                t.occurred_at,
            )
        )
    rng.shuffle(found)
    seen: set[int] = set()
    unique = []
    for signal, at in found:  # one case per customer: attaching would hide a state
        if signal.customer_id not in seen:
            seen.add(signal.customer_id)
            unique.append((signal, at))
    return unique[:wanted]


def load_cases(seed: int = 1, per_state: int = 6, as_of: dt.datetime | None = None) -> CaseSummary:
    """Open `per_state` cases in each state (fewer when the demo has fewer signals)."""
    rng = random.Random(seed)
    as_of = as_of or timezone.now()
    summary = CaseSummary()
    opened: list[int] = []
    for i, (signal, at) in enumerate(_signals(rng, per_state * len(ORDER))):
        target = ORDER[i % len(ORDER)]
        start = min(at, as_of - dt.timedelta(days=rng.randint(1, 12)))
        try:
            case, _created = opening.open_or_attach(signal, Actor.system("demo"), now=start)
            opened.append(case.pk)
            _drive(case, target, start, rng)
        except CaseError as exc:
            summary.skipped.append(f"{signal.subject}: {exc}")
            continue
        summary.opened += 1
        summary.by_state[target] = summary.by_state.get(target, 0) + 1
    # Demo customers are made up: their messages are kept on the cases but never emailed.
    CaseMessage.objects.filter(status=CaseMessage.Status.PENDING, case_id__in=opened).update(
        status=CaseMessage.Status.SKIPPED, error="demo data: not sent"
    )
    return summary


def _drive(case: Case, target: str, start: dt.datetime, rng: random.Random) -> None:
    """Take a new case to `target` the way an owner would, at plausible times after `start`."""
    if target == states.NEW:
        return
    me = Actor(staff=case.owner)
    clock = iter(start + dt.timedelta(hours=h) for h in range(1, 100))
    case = lifecycle.acknowledge(case.pk, case.version, me, now=next(clock))
    if target == states.ACKNOWLEDGED:
        return
    case = lifecycle.transition(case.pk, case.version, states.IN_PROGRESS, me, now=next(clock))
    case = notes.add_note(
        case.pk,
        case.version,
        "Called the customer; checking with the workshop.",
        me,
        now=next(clock),
    )
    if target == states.IN_PROGRESS:
        return
    if target == states.AWAITING_CUSTOMER:
        at = next(clock)
        case = notes.reply(
            case.pk,
            case.version,
            me,
            what="the repair record",
            by=at + dt.timedelta(days=2),
            now=at,
        )
        lifecycle.transition(case.pk, case.version, states.AWAITING_CUSTOMER, me, now=next(clock))
        return
    if target == states.AWAITING_APPROVAL:
        remedies.propose_remedy(
            case.pk,
            case.version,
            me,
            kind="refund",
            value=rng.choice([8000, 12000, 20000]),
            currency="TWD",
            description="Refund of the repeat labour",
            now=next(clock),
        )
        return
    remedy = remedies.propose_remedy(
        case.pk,
        case.version,
        me,
        kind="voucher",
        value=500,
        currency="TWD",
        description="Service voucher",
        now=next(clock),
    )
    case.refresh_from_db()
    consent.offer_remedy(case.pk, case.version, remedy.pk, me, now=next(clock))
    case.refresh_from_db()
    consent.record_consent(case.pk, case.version, remedy.pk, True, "phone", me, now=next(clock))
    case.refresh_from_db()
    remedies.grant_remedy(case.pk, case.version, remedy.pk, me, now=next(clock))
    case.refresh_from_db()
    case = lifecycle.resolve(
        case.pk,
        case.version,
        me,
        cause=rng.choice(CAUSES),
        fix="Apologised and fixed it",
        reusable=rng.random() < 0.3,
        message="It is fixed; thank you for telling us.",
        now=next(clock),
    )
    if target == states.CLOSED:
        lifecycle.close(
            case.pk,
            case.version,
            states.CONFIRMED,
            me,
            confirmation_channel="phone",
            now=next(clock),
        )
