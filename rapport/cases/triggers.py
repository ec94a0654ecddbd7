"""Case rules on live events: `response.completed` and `touchpoint.created`.

The handlers run inside the emitter's transaction, with all the payloads of one emit (an import
emits thousands at a time).
They match payloads against the active rules in memory (rapport.cases.rules) with a few queries
per batch — the rules, unit paths only when a rule is limited to a unit, answers only for
answer rules, history only for history rules — and hand the signals to the worker in chunks
(rapport.cases.tasks.open_cases), so a respondent or an import never waits for case work.
`interested` keeps touchpoint imports on their fast path when no touchpoint rule is active.

The active rules are cached per process and trigger, keyed by the rules' stamp: a random number
in RuleVersion that every CaseRule save or delete replaces (in the same transaction, so another
process sees the new stamp exactly when it sees the new rules), together with the count and
highest id of the rules and the sum of the active ones' ids (which catch bulk inserts and
QuerySet.update(active=...) that send no signals, e.g. the defaults after a flush). Reading the
stamp is one single-row query per batch instead of loading and validating every rule. Code that
edits other rule fields with QuerySet.update() must call `rules_changed()`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_migrate, post_save

from rapport.cases import rules
from rapport.cases.rules import PastTouchpoint, RuleSpec, Signal
from rapport.core.events import live, subscribe
from rapport.org.models import OrgUnit

log = logging.getLogger(__name__)

CHUNK = 500  # signals per task


def spec_of(rule: Any) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        condition=rule.condition,
        params=dict(rule.params or {}),
        topic=rule.topic,
        severity=rule.severity,
        unit_path=rule.unit.path if rule.unit_id else "",
    )


Stamp = tuple[int, int, int, int]
_cache: dict[str, tuple[Stamp, list[RuleSpec]]] = {}


def rules_stamp() -> Stamp:
    """(version number, rule count, highest rule id, sum of the active rules' ids): changes
    whenever the rules may have — including bulk inserts and QuerySet.update(active=...)."""
    from rapport.cases.models import CaseRule, RuleVersion

    qn = connection.ops.quote_name
    rules_table, version_table = qn(CaseRule._meta.db_table), qn(RuleVersion._meta.db_table)
    rule_id, active = qn("id"), qn("active")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT {qn('number')} FROM {version_table} WHERE {rule_id} = 1), "
            f"COUNT(*), MAX({rule_id}), SUM(CASE WHEN {active} THEN {rule_id} ELSE 0 END) "
            f"FROM {rules_table}"
        )
        number, count, top, on = cursor.fetchone()
    return (number or 0, count or 0, top or 0, on or 0)


def rules_changed(**_: Any) -> None:
    """Give the rules a new stamp (signal receiver; call it after bulk rule changes)."""
    from rapport.cases.models import RuleVersion

    number = secrets.randbits(62) + 1
    with transaction.atomic():
        if not RuleVersion.objects.filter(pk=1).update(number=number):
            RuleVersion.objects.update_or_create(pk=1, defaults={"number": number})
    _cache.clear()


def _connect_signals() -> None:
    from rapport.cases.models import CaseRule

    post_save.connect(rules_changed, sender=CaseRule, dispatch_uid="cases.rules_changed.save")
    post_delete.connect(rules_changed, sender=CaseRule, dispatch_uid="cases.rules_changed.del")
    post_migrate.connect(_after_migrate, dispatch_uid="cases.rules_changed.migrate")


def _after_migrate(**_: Any) -> None:
    _cache.clear()


def active_specs(trigger: str) -> list[RuleSpec]:
    """The active, valid rules of a trigger, in order, from the cache while the rules' stamp
    is unchanged."""
    stamp = rules_stamp()
    hit = _cache.get(trigger)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    specs = load_specs(trigger)
    _cache[trigger] = (stamp, specs)
    return specs


def load_specs(trigger: str) -> list[RuleSpec]:
    """The active, valid rules of a trigger, in order (an invalid rule is logged and skipped)."""
    from rapport.cases.models import CaseRule

    found = []
    conditions = [c for c, (t, _p) in rules.CONDITIONS.items() if t == trigger]
    for rule in CaseRule.objects.filter(active=True, condition__in=conditions).select_related(
        "unit"
    ):
        problems = rules.validate(rule.condition, rule.params or {})
        if problems:
            log.warning("case rule %s skipped: %s", rule.key, "; ".join(problems))
            continue
        found.append(spec_of(rule))
    return found


def any_active(trigger: str) -> bool:
    try:
        with transaction.atomic():  # a failure must not spoil the caller's transaction
            return bool(active_specs(trigger))
    except Exception:  # e.g. before the migration ran
        log.debug("case rules not readable", exc_info=True)
        return False


def _paths(specs: Sequence[RuleSpec]) -> dict[int, str]:
    if not any(s.unit_path for s in specs):
        return {}
    return dict(OrgUnit.objects.values_list("id", "path"))


def dispatch(signals: Sequence[Signal]) -> None:
    """Hand signals to the worker, in chunks."""
    from rapport.cases.tasks import open_cases

    for start in range(0, len(signals), CHUNK):
        open_cases.enqueue([s.as_dict() for s in signals[start : start + CHUNK]])


def signals_for_responses(payloads: Sequence[Mapping[str, Any]]) -> list[Signal]:
    specs = active_specs(rules.RESPONSE)
    if not specs:
        return []
    answers: dict[int, dict[str, Any]] = {}
    if any(s.condition == "answer_is" for s in specs):
        from rapport.surveys.models import Answer

        ids = [p["response_id"] for p in payloads if p.get("customer_id")]
        rows = Answer.objects.filter(response_id__in=ids).select_related("question")
        for a in rows.only(
            "response_id", "question__key", "value_number", "value_text", "value_choices"
        ):
            answers.setdefault(a.response_id, {})[a.question.key] = a.value
    return rules.signals_for_responses(
        specs, payloads, _paths(specs), lambda rid: answers.get(rid, {})
    )


def signals_for_touchpoints(payloads: Sequence[Mapping[str, Any]]) -> list[Signal]:
    specs = active_specs(rules.TOUCHPOINT)
    if not specs:
        return []
    wanted: set[str] = set()
    for s in specs:
        if s.condition == "kind_is":
            wanted.update(s.params["kinds"])
        elif s.condition == "repeat_visit":
            wanted.add(s.params["kind"])
        elif s.params.get("kinds"):
            wanted.update(s.params["kinds"])
        else:
            wanted = set()
            break
    relevant = [
        p for p in payloads if p.get("customer_id") and (not wanted or p.get("kind") in wanted)
    ]
    if not relevant:
        return []
    history = _history(specs, relevant)
    return rules.signals_for_touchpoints(
        specs, relevant, _paths(specs), lambda cid: history.get(cid, ())
    )


def _history(
    specs: Sequence[RuleSpec], payloads: Sequence[Mapping[str, Any]]
) -> dict[int, list[PastTouchpoint]]:
    """Earlier touchpoints of the payloads' customers that the history rules need: one query."""
    days = rules.history_window(specs)
    if not days:
        return {}
    from rapport.touchpoints.models import Touchpoint

    times = [dt.datetime.fromisoformat(str(p["occurred_at"])) for p in payloads]
    qs = Touchpoint.objects.filter(
        customer_id__in={p["customer_id"] for p in payloads},
        occurred_at__gte=min(times) - dt.timedelta(days=days),
        occurred_at__lte=max(times),
    )
    kinds = rules.history_kinds(specs)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    found: dict[int, list[PastTouchpoint]] = defaultdict(list)
    for tp_id, customer_id, kind, at, context in qs.values_list(
        "id", "customer_id", "kind", "occurred_at", "context"
    ):
        found[customer_id].append(PastTouchpoint(tp_id, kind, at, context or {}))
    return found


def feedback_signal(
    customer_id: int,
    sentiment: float,
    text: str = "",
    *,
    unit_id: int | None = None,
    staff_id: int | None = None,
    touchpoint_id: int | None = None,
) -> Signal | None:
    """For [voice]: the signal an analysed piece of feedback gives under the active feedback
    rules, or None; pass it to rapport.cases.actions.opening.open_or_attach."""
    for spec in active_specs(rules.FEEDBACK):
        if rules.feedback_matches(spec, sentiment):
            return Signal(
                customer_id=customer_id,
                source="feedback",
                topic=spec.topic,
                severity=spec.severity,
                subject=spec.name,
                description=text[:2000],
                unit_id=unit_id,
                staff_id=staff_id,
                touchpoint_id=touchpoint_id,
                rule_id=spec.id,
            )
    return None


@subscribe("response.completed")
def on_responses_completed(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """Open cases for responses that fire a rule; link recovery-survey answers to their case."""
    _link_recovery(payloads)
    dispatch(signals_for_responses(payloads))


def _link_recovery(payloads: Sequence[Mapping[str, Any]]) -> None:
    """Link recovery-survey answers to their case. Runs for every completed response, so it is
    one plain SQL statement (the ORM spent more time compiling this join than the database
    spent running it)."""
    from rapport.cases.actions.lifecycle import record_recovery_response
    from rapport.cases.models import Case
    from rapport.surveys.models import Response

    ids = [int(p["response_id"]) for p in payloads if p.get("customer_id")]
    if not ids:
        return
    qn = connection.ops.quote_name
    cases, responses = qn(Case._meta.db_table), qn(Response._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.{qn('recovery_invitation_id')}, r.{qn('id')} FROM {cases} c "
            f"JOIN {responses} r ON r.{qn('invitation_id')} = c.{qn('recovery_invitation_id')} "
            f"WHERE c.{qn('recovery_response_id')} IS NULL "
            f"AND r.{qn('id')} IN ({', '.join(['%s'] * len(ids))})",
            ids,
        )
        rows = cursor.fetchall()
    for invitation_id, response_id in rows:
        record_recovery_response(response_id, invitation_id)


@subscribe("touchpoint.created", interested=lambda: any_active(rules.TOUCHPOINT))
def on_touchpoints_created(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    recent = live(payloads)
    if recent:
        dispatch(signals_for_touchpoints(recent))


@subscribe("email.received")
def on_email_received(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """New mail from a known customer opens (or joins) their case when the settings say so;
    the work goes to the worker (rapport.cases.tasks.open_case_from_email)."""
    from rapport.cases.models import CaseSettings
    from rapport.cases.tasks import open_case_from_email

    wanted = [p for p in payloads if p.get("customer_id") and p.get("inbound_id")]
    if wanted and CaseSettings.current().new_mail_opens_case:
        for p in wanted:
            open_case_from_email.enqueue(p["inbound_id"])


_connect_signals()
