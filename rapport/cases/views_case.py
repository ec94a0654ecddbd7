"""The case page: the case with its clocks, remedies, promises, messages, audit trail and the
customer's timeline, and a form for every action the viewer may take
(rapport.cases.views_case_actions runs them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rapport.cases import forms, knowledge, states
from rapport.cases import messages as case_messages
from rapport.cases.actions import sla
from rapport.cases.models import (
    ApprovalRequest,
    AuthorityLimit,
    Case,
    CaseEvent,
    CaseSettings,
    Promise,
    Remedy,
)
from rapport.cases.views_access import viewer, visible_cases
from rapport.core.views import is_htmx, staff_view
from rapport.customers import views as customer_views
from rapport.org.models import Staff
from rapport.org.scoping import scope

TRAIL_LIMIT = 200


def score_of(response: Any) -> dict[str, Any] | None:
    """The headline score of a survey response: NPS, else CSAT, else CES, else CSI, else tier."""
    if response is None:
        return None
    for label, value, kind in (
        ("NPS", response.nps_score, response.get_nps_class_display() if response.nps_class else ""),
        ("CSAT", response.csat, ""),
        ("CES", response.ces, ""),
        ("CSI", round(response.csi_index) if response.csi_index is not None else None, ""),
    ):
        if value is not None:
            return {"label": label, "value": value, "kind": kind}
    if response.tier:
        return {"label": _("Tier"), "value": response.get_tier_display(), "kind": ""}
    return None


def _pretty(value: str) -> str:
    """An audit value for people: "12:Lin" → "Lin", an ISO time → local time."""
    if not value:
        return ""
    head, sep, tail = value.partition(":")
    if sep and head.isdigit() and tail and not tail[:2].isdigit():
        return tail
    if len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if value in states.STATES:
        return str(states.STATES[value])
    return value


def trail(case: Case) -> list[dict[str, Any]]:
    events = (
        CaseEvent.objects.filter(case=case)
        .select_related("actor")
        .order_by("-at", "-pk")[:TRAIL_LIMIT]
    )
    return [
        {
            "event": e,
            "who": e.actor.display_name if e.actor else (e.actor_label or _("system")),
            "kind": EVENT_KINDS.get(e.kind, e.kind),
            "old": _pretty(e.old),
            "new": _pretty(e.new),
        }
        for e in events
    ]


def transfer_staff(request: HttpRequest, case: Case) -> list[Staff]:
    """Who the case may go to: active staff of the viewer's units who can own cases."""
    return list(
        scope(Staff.objects.filter(active=True), request.user, "unit")
        .exclude(pk=case.owner_id)
        .exclude(role=Staff.Role.ANALYST)
        .select_related("unit")
        .order_by("unit__path", "display_name")
    )


def limits_of(staff: Staff | None) -> list[dict[str, Any]]:
    """The viewer's authority limits per currency (own limit wins over the role's)."""
    if staff is None:
        return []
    found: dict[str, dict[str, Any]] = {}
    for row in AuthorityLimit.objects.filter(
        Q(staff=staff) | Q(role=staff.role, staff__isnull=True)
    ):
        if row.currency not in found or row.staff_id:
            found[row.currency] = {
                "currency": row.currency,
                "value": row.max_value,
                "own": bool(row.staff_id),
            }
    return sorted(found.values(), key=lambda r: r["currency"])


def default_currency(remedies: list[Remedy]) -> str:
    """The currency of the case's last remedy, else the installation's (RAPPORT_CURRENCY)."""
    if remedies:
        return remedies[-1].currency
    return getattr(settings, "RAPPORT_CURRENCY", "TWD")


def reply_previews(case: Case, staff: Staff | None) -> list[dict[str, str]]:
    """The two reply templates in the customer's language, placeholders filled."""
    base = case_messages.base_context(case, staff)
    out = []
    for kind, extra in (
        ("update", {"body": _("[your text]")}),
        ("checking", {"what": _("[what you will check]"), "by": _("[the date]")}),
    ):
        subject, body = case_messages.render(kind, case.language, {**base, **extra})
        out.append({"kind": kind, "subject": subject, "body": body})
    return out


def case_context(
    request: HttpRequest, case: Case, bound: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the case's main column shows; `bound` replaces the blank form of one action."""
    staff = viewer(request)
    v = {"version": case.version}
    targets = manual_targets(case)
    if case.state == states.AWAITING_APPROVAL:
        targets = []
    remedies = list(
        Remedy.objects.filter(case=case)
        .select_related("proposed_by", "approved_by", "granted_by")
        .prefetch_related(
            Prefetch(
                "approvals",
                queryset=ApprovalRequest.objects.select_related("approver", "decided_by").order_by(
                    "level", "pk"
                ),
            )
        )
        .order_by("proposed_at", "pk")
    )
    promises = list(
        Promise.objects.filter(case=case).select_related("made_by").order_by("due_at", "pk")
    )
    config = CaseSettings.current()
    can_change = request.user.has_perm("cases.change_case")
    blank: dict[str, Any] = {
        "transition": forms.TransitionForm(initial=v, targets=targets),
        "note": forms.NoteForm(initial=v),
        "reply": forms.ReplyForm(initial=v),
        "transfer": forms.TransferForm(
            initial=v, staff=transfer_staff(request, case) if can_change else []
        ),
        "remedy": forms.RemedyForm(initial={**v, "currency": default_currency(remedies)}),
        "promise": forms.PromiseForm(initial=v),
        "resolve": forms.ResolveForm(initial=v),
        "close": forms.CloseForm(initial={**v, "basis": states.CONFIRMED}),
        "reopen": forms.ReopenForm(initial=v),
        "consent": forms.ConsentForm(initial={**v, "accepted": "yes", "channel": "phone"}),
    }
    if bound:
        blank.update(bound)
    recovery_sent = case.recovery_invitation_id is not None
    return {
        "case": case,
        "version": case.version,
        "clocks": case_clocks(case),
        "targets": targets,
        "remedies": remedies,
        "promises": promises,
        "open_promises": [p for p in promises if p.state == Promise.State.OPEN],
        "case_messages": list(
            case.messages.select_related("author").order_by("-created_at", "-pk")[:50]
        ),
        "trail": trail(case),
        "forms": blank,
        "can_change": can_change,
        "can_acknowledge": case.state == states.NEW,
        "can_resolve": states.RESOLVED in states.targets(case.state),
        "can_close": case.state == states.RESOLVED,
        "can_reopen": case.state in {states.RESOLVED, states.CLOSED},
        "can_propose": case.state
        in {states.ACKNOWLEDGED, states.IN_PROGRESS, states.AWAITING_CUSTOMER},
        "can_recovery": case.state == states.RESOLVED and bool(config.recovery_survey_id),
        "recovery_sent": recovery_sent,
        "no_reply_days": config.no_reply_days,
        "limits": limits_of(staff),
        "previews": reply_previews(case, staff) if can_change and case.is_open else [],
        "suggestions": knowledge.suggestions_for(case) if case.is_open else [],
        "score_before": score_of(case.response),
        "score_after": score_of(case.recovery_response),
        "is_mine": staff is not None and case.owner_id == staff.pk,
        "state_label": states.STATES[case.state],
    }


def manual_targets(case: Case) -> list[str]:
    """The states the generic "move" offers: start, wait for the customer, resume (reopening
    has its own form, with the required reason)."""
    return [
        t
        for t in states.targets(case.state)
        if t in states.MANUAL_TARGETS and states.TRANSITIONS[(case.state, t)] != "reopen"
    ]


def case_clocks(case: Case) -> list[dict[str, Any]]:
    """The clocks as shown: a target never reached on a resolved or closed case is stopped."""
    rows = sla.clock_status(case)
    done = case.state in {states.RESOLVED, states.CLOSED}
    for row in rows:
        if done and row["state"] in {"running", "warning", "paused"}:
            row["state"] = "stopped"
    return rows


EVENT_KINDS = {
    "opened": gettext_lazy("Opened"),
    "attached": gettext_lazy("New signal attached"),
    "changed": gettext_lazy("Changed"),
    "note": gettext_lazy("Note"),
    "message": gettext_lazy("Message"),
    "transfer": gettext_lazy("Transfer"),
    "remedy": gettext_lazy("Remedy"),
    "approval": gettext_lazy("Approval"),
    "promise": gettext_lazy("Promise"),
    "sla_warning": gettext_lazy("SLA warning"),
    "sla_breach": gettext_lazy("SLA breach"),
    "escalated": gettext_lazy("Escalated"),
    "recovery": gettext_lazy("Recovery survey"),
}


def load_case(request: HttpRequest, pk: int) -> Case:
    return get_object_or_404(
        visible_cases(request).select_related(
            "customer",
            "customer__home_unit",
            "owner",
            "unit",
            "rule",
            "response",
            "recovery_response",
            "recovery_invitation",
        ),
        pk=pk,
    )


@staff_view("cases.view_case")
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = load_case(request, pk)
    timeline = customer_views.timeline_context(request, case.customer)
    if is_htmx(request, "timeline"):
        return render(request, "customers/_timeline.html", timeline)
    context = {**case_context(request, case), **timeline}
    return render(request, "cases/detail.html", context)
