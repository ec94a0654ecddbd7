"""Staff pages of the case work: the agent inbox, the case page with every action, opening a case
by hand, the manager board and the approval queue.

Thin: every change is a call to rapport.cases.actions; forms carry the case `version` so a stale
save is refused there (Conflict) and nothing is overwritten. Every query is scoped through
rapport.org.scoping: another unit's case is a 404. Each action answers a plain form post with a
redirect (and works without JavaScript); an htmx post gets the case's main column back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from rapport.cases import actions, clocks, forms, knowledge, states
from rapport.cases import messages as case_messages
from rapport.cases.actions import Actor, CaseError, Conflict
from rapport.cases.models import (
    ApprovalRequest,
    AuthorityLimit,
    Case,
    CaseEvent,
    CaseSettings,
    Promise,
    Remedy,
    Transfer,
)
from rapport.core.views import is_htmx, staff_view
from rapport.customers import views as customer_views
from rapport.org.models import OrgUnit, Staff
from rapport.org.scoping import scope, unit_path

CASES_PER_PAGE = 25
MAX_PAGE = 40  # the first 1,000 cases of a view; deeper, narrow it with the filters
DUE_SOON = dt.timedelta(hours=4)
TRAIL_LIMIT = 200
TRANSFER_WINDOW_DAYS = 90
CLOCK_RANK = {"breached": 4, "warning": 3, "paused": 2, "running": 1, "missed": 0, "met": 0}
CONFIGURERS = {Staff.Role.ADMIN, Staff.Role.CX_MANAGER}
CLOCK_NAMES = {
    "ack": gettext_lazy("Acknowledge"),
    "response": gettext_lazy("First response"),
    "resolve": gettext_lazy("Resolve"),
}
CLOCK_TEXTS = {
    "breached": gettext_lazy("breached"),
    "warning": gettext_lazy("due soon"),
    "paused": gettext_lazy("paused"),
    "running": gettext_lazy("on time"),
}


# --- who is looking ------------------------------------------------------------------------------


def viewer(request: HttpRequest) -> Staff | None:
    staff = getattr(request.user, "staff", None)
    return staff if staff is not None and staff.active else None


def actor_of(request: HttpRequest) -> Actor:
    staff = viewer(request)
    return Actor(staff=staff) if staff else Actor.system(f"user:{request.user.get_username()}")


def visible_cases(request: HttpRequest) -> QuerySet[Case]:
    return scope(Case.objects.all(), request.user, "unit")


def visible_units(request: HttpRequest) -> list[OrgUnit]:
    """The units of the viewer's subtree, in tree order (one small query)."""
    prefix = unit_path(request.user)
    if prefix is None:
        return []
    return list(OrgUnit.objects.filter(path__startswith=prefix).order_by("path"))


def subtree_ids(units: list[OrgUnit], root: OrgUnit) -> list[int]:
    return [u.pk for u in units if u.path.startswith(root.path)]


def can_configure(user: Any) -> bool:
    staff = getattr(user, "staff", None)
    return bool(
        user.is_superuser or (staff is not None and staff.active and staff.role in CONFIGURERS)
    )


# --- the inbox -----------------------------------------------------------------------------------


def worst_clock(case: Case, now: dt.datetime) -> dict[str, Any] | None:
    """The clock that matters most in a list: breached, then warning, paused, running (earliest
    due first); None when every clock is done."""
    fields = {name: getattr(case, name) for name in clocks.CLOCK_FIELDS}
    rows = [
        c for c in clocks.status(fields, now, case.paused_at is not None) if CLOCK_RANK[c["state"]]
    ]
    if not rows:
        return None
    worst = max(
        rows,
        key=lambda c: (CLOCK_RANK[c["state"]], -(c["due_at"].timestamp() if c["due_at"] else 0)),
    )
    return {**worst, "name": CLOCK_NAMES[worst["target"]], "text": CLOCK_TEXTS[worst["state"]]}


def due_soon_q(now: dt.datetime) -> Q:
    """A running clock is due within DUE_SOON. `sla_next_at` (the earliest pending warning or
    due instant, partially indexed) is at or before any such due: it narrows the rows first."""
    soon = now + DUE_SOON
    return Q(sla_next_at__lte=soon, paused_at__isnull=True) & (
        Q(ack_due_at__lte=soon, acknowledged_at__isnull=True, ack_breached_at__isnull=True)
        | Q(
            response_due_at__lte=soon,
            first_response_at__isnull=True,
            response_breached_at__isnull=True,
        )
        | Q(resolve_due_at__lte=soon, resolved_at__isnull=True, resolve_breached_at__isnull=True)
    )


BREACHED_Q = (
    Q(ack_breached_at__isnull=False)
    | Q(response_breached_at__isnull=False)
    | Q(resolve_breached_at__isnull=False)
)


def page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), MAX_PAGE))
    except ValueError:
        return 1


def due_ordered_page(qs: QuerySet[Case], wanted: list[str], number: int) -> tuple[list[Case], bool]:
    """One page of `qs` in resolution-due order, and whether there is a next page.

    One narrow query per state reads (due, id) in index order — the (unit | owner, state,
    resolve due) indexes serve each one with an ordered range scan that stops at the page's end —
    the keys are merged here, and one query fetches the page's rows with customer, owner and unit
    joined in. So the first pages cost the same with 100 or 100,000 open cases."""
    need = number * CASES_PER_PAGE + 1
    keys: list[tuple[dt.datetime, int]] = []
    for state in wanted:
        # Ordered by the indexed column alone, so the index order serves (ties: see the merge).
        keys.extend(
            qs.filter(state=state)
            .order_by("resolve_due_at")
            .values_list("resolve_due_at", "pk")[:need]
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    keys.sort(key=lambda k: (k[0] or far, k[1]))
    start = (number - 1) * CASES_PER_PAGE
    chosen = [pk for _due, pk in keys[start : start + CASES_PER_PAGE]]
    rows = {
        c.pk: c
        for c in Case.objects.filter(pk__in=chosen).select_related("customer", "owner", "unit")
    }
    return [rows[pk] for pk in chosen if pk in rows], len(keys) > start + CASES_PER_PAGE


@staff_view("cases.view_case")
def inbox(request: HttpRequest) -> HttpResponse:
    """Cases of the viewer's units, earliest resolution due first, a page at a time."""
    staff = viewer(request)
    units = visible_units(request)
    owners = list(
        Staff.objects.filter(active=True, unit__in=units).exclude(role=Staff.Role.ANALYST)
    )
    form = forms.InboxFilterForm(request.GET or None, units=units, owners=owners)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    default_tab = "mine" if staff is not None and staff.role == Staff.Role.AGENT else "all"
    tab = data.get("tab") or default_tab
    now = timezone.now()
    qs = Case.objects.all()
    prefix = unit_path(request.user)
    by_owner = tab == "mine" or bool(data.get("owner"))
    if prefix and by_owner:
        # One person's cases: the (owner, state, due) index leads; the scope joins the unit.
        qs = qs.filter(unit__path__startswith=prefix)
    elif prefix:  # a subtree: the unit ids lead the (unit, state, due) index
        qs = qs.filter(unit_id__in=[u.pk for u in units])
    elif not units and not request.user.is_superuser:
        qs = qs.none()
    if data.get("unit"):
        root = next(u for u in units if str(u.pk) == data["unit"])
        if by_owner:
            qs = qs.filter(unit__path__startswith=root.path)
        else:
            qs = qs.filter(unit_id__in=subtree_ids(units, root))
    wanted = [data["state"]] if data.get("state") else sorted(states.OPEN_STATES)
    if data.get("priority"):
        qs = qs.filter(priority=data["priority"])
    if data.get("owner"):
        qs = qs.filter(owner_id=int(data["owner"]))
    if tab == "mine":
        qs = qs.filter(owner=staff) if staff is not None else qs.none()
    elif tab == "due_soon":
        qs = qs.filter(due_soon_q(now))
    elif tab == "breached":
        qs = qs.filter(BREACHED_Q)
    elif tab == "approval":
        wanted = [s for s in wanted if s == states.AWAITING_APPROVAL]
    number = page_number(request.GET.get("page"))
    cases, has_next = due_ordered_page(qs, wanted, number)
    keep = {k: v for k, v in request.GET.items() if k not in {"tab", "page"}}
    context = {
        "form": form,
        "tab": tab,
        "tabs": forms.INBOX_TABS,
        "rows": [{"case": c, "clock": worst_clock(c, now)} for c in cases],
        "number": number,
        "has_next": has_next and number < MAX_PAGE,
        "last_page": has_next and number >= MAX_PAGE,
        "page_query": {
            "previous": urlencode({**keep, "tab": tab, "page": number - 1}),
            "next": urlencode({**keep, "tab": tab, "page": number + 1}),
        },
        "tab_query": {key: urlencode({**keep, "tab": key}) for key in forms.INBOX_TABS},
        "can_add": request.user.has_perm("cases.add_case"),
        "can_approve": request.user.has_perm("cases.view_approvalrequest"),
        "is_manager": is_manager(request),
        "can_configure": can_configure(request.user),
    }
    if is_htmx(request, "inbox-results"):
        return render(request, "cases/_inbox_results.html", context)
    return render(request, "cases/inbox.html", context)


def is_manager(request: HttpRequest) -> bool:
    staff = viewer(request)
    return request.user.is_superuser or (
        staff is not None
        and staff.role in {Staff.Role.UNIT_MANAGER, *CONFIGURERS, Staff.Role.ANALYST}
    )


# --- the case page -------------------------------------------------------------------------------


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
    rows = actions.clock_status(case)
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


# Each action: (form class, call(form data, case, actor) → success message).
ActionFn = Callable[[dict[str, Any], Case, Actor], str]


def _ack(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.acknowledge(c.pk, d["version"], a)
    return _("Acknowledged: the case is yours.")


def _transition(d: dict[str, Any], c: Case, a: Actor) -> str:
    case = actions.transition(c.pk, d["version"], d["to"], a, note=d.get("note", ""))
    return _("The case is now %(state)s.") % {"state": states.STATES[case.state]}


def _note(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.add_note(c.pk, d["version"], d["text"], a)
    return _("Note added.")


def _reply(d: dict[str, Any], c: Case, a: Actor) -> str:
    if d["mode"] == "checking":
        actions.reply(c.pk, d["version"], a, what=d["what"], by=d["by"])
        return _("Message queued; your promise to come back is a follow-up task.")
    actions.reply(c.pk, d["version"], a, body=d["body"])
    return _("Message queued to the customer.")


def _transfer(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.transfer(c.pk, d["version"], d["to_staff"], d["reason"], a)
    return _("Transferred to %(who)s.") % {"who": d["to_staff"]}


def _propose(d: dict[str, Any], c: Case, a: Actor) -> str:
    remedy = actions.propose_remedy(
        c.pk,
        d["version"],
        a,
        kind=d["kind"],
        value=d["value"],
        currency=d["currency"],
        description=d.get("description", ""),
    )
    if remedy.status == states.APPROVED:
        return _("Within your authority: approved. Offer it to the customer.")
    return _("Above your authority: an approval request went to the next manager.")


def _offer(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.offer_remedy(c.pk, d["version"], d["remedy"], a)
    return _("Offered: the customer got a message with a link to accept.")


def _consent(d: dict[str, Any], c: Case, a: Actor) -> str:
    given = d.get("given_at")
    actions.record_consent(
        c.pk, d["version"], d["remedy"], d["accepted"], d["channel"], a, given_at=given
    )
    return _("The customer's answer is recorded.")


def _grant(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.grant_remedy(c.pk, d["version"], d["remedy"], a)
    return _("Remedy granted.")


def _withdraw(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.withdraw_remedy(c.pk, d["version"], d["remedy"], d.get("reason", ""), a)
    return _("Remedy withdrawn.")


def _promise(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.make_promise(c.pk, d["version"], d["text"], d["due_at"], a)
    return _("Promise recorded as a follow-up task.")


def _settle(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.settle_promise(c.pk, d["version"], d["promise"], d["kept"], a)
    return _("Promise marked kept.") if d["kept"] else _("Promise marked broken.")


def _resolve(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.resolve(
        c.pk,
        d["version"],
        a,
        cause=d["cause"],
        fix=d["fix"],
        sub_cause=d.get("sub_cause", ""),
        reusable=d.get("reusable", False),
        message=d.get("message", ""),
    )
    return _("Resolved. Close it when the customer confirms or answers the recovery survey.")


def _recovery(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.send_recovery_survey(c.pk, d["version"], a)
    return _("The recovery survey is on its way to the customer.")


def _close(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.close(
        c.pk,
        d["version"],
        d["basis"],
        a,
        confirmation_channel=d.get("confirmation_channel", ""),
        note=d.get("note", ""),
    )
    return _("Case closed.")


def _reopen(d: dict[str, Any], c: Case, a: Actor) -> str:
    actions.reopen(c.pk, d["version"], d["reason"], a)
    return _("Case reopened.")


ACTIONS: dict[str, tuple[type, ActionFn]] = {
    "acknowledge": (forms.VersionForm, _ack),
    "transition": (forms.TransitionForm, _transition),
    "note": (forms.NoteForm, _note),
    "reply": (forms.ReplyForm, _reply),
    "transfer": (forms.TransferForm, _transfer),
    "remedy": (forms.RemedyForm, _propose),
    "offer": (forms.RemedyStepForm, _offer),
    "consent": (forms.ConsentForm, _consent),
    "grant": (forms.RemedyStepForm, _grant),
    "withdraw": (forms.WithdrawForm, _withdraw),
    "promise": (forms.PromiseForm, _promise),
    "settle": (forms.SettleForm, _settle),
    "resolve": (forms.ResolveForm, _resolve),
    "recovery": (forms.VersionForm, _recovery),
    "close": (forms.CloseForm, _close),
    "reopen": (forms.ReopenForm, _reopen),
}
# Forms shown in a section of their own keep the person's input when refused.
SHOWN = {
    "transition",
    "note",
    "reply",
    "transfer",
    "remedy",
    "promise",
    "resolve",
    "close",
    "reopen",
}


def _bind(action: str, request: HttpRequest, case: Case, data: Any) -> Any:
    form_class = ACTIONS[action][0]
    if form_class is forms.TransitionForm:
        return form_class(data, targets=manual_targets(case))
    if form_class is forms.TransferForm:
        return form_class(data, staff=transfer_staff(request, case))
    return form_class(data)


@require_POST
@staff_view("cases.view_case", "cases.change_case")
def act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Run one action on the case; refusals (a stale version, an illegal step, a missing reason)
    show on the page with the person's input kept and nothing changed."""
    if action not in ACTIONS:
        raise Http404
    case = load_case(request, pk)
    form = _bind(action, request, case, request.POST)
    htmx = is_htmx(request)
    status, error = 200, ""
    if form.is_valid():
        try:
            notice = ACTIONS[action][1](form.cleaned_data, case, actor_of(request))
        except Conflict as exc:
            status, error = 409, str(exc)
            data = request.POST.copy()
            data["version"] = str(exc.current)  # the person re-applies on the fresh case knowingly
            form = _bind(action, request, case, data)
            form.is_valid()
        except (CaseError, states.IllegalTransition) as exc:
            status, error = 422, str(exc)
        else:
            if htmx:
                fresh = load_case(request, pk)
                return render(
                    request,
                    "cases/_case_body.html",
                    {**case_context(request, fresh), "notice": notice},
                )
            messages.success(request, notice)
            return redirect(reverse("cases:detail", args=[pk]) + f"#{anchor(action)}")
    else:
        status, error = 422, _("Please correct the fields marked below.")
    fresh = load_case(request, pk)
    bound = {action: form} if action in SHOWN else {}
    context = {**case_context(request, fresh, bound), "error": error, "error_action": action}
    if htmx:
        return render(request, "cases/_case_body.html", context)  # htmx swaps 200 only
    context.update(customer_views.timeline_context(request, fresh.customer))
    return render(request, "cases/detail.html", context, status=status)


def anchor(action: str) -> str:
    return {
        "offer": "remedies",
        "consent": "remedies",
        "grant": "remedies",
        "withdraw": "remedies",
        "remedy": "remedies",
        "settle": "promises",
        "promise": "promises",
        "note": "trail",
    }.get(action, "case-body")


# --- opening a case by hand ----------------------------------------------------------------------


@staff_view("cases.add_case", "customers.view_customer")
def create(request: HttpRequest) -> HttpResponse:
    """Walk-in or hotline: find the customer (as on the customer list), then describe the case.
    The person who takes it owns it (one-stop service)."""
    customers = customer_views.visible_customers(request).filter(merged_into__isnull=True)
    search = customer_views.SearchForm(request.GET or None)
    text = search.cleaned_data["q"] if search.is_valid() else ""
    chosen_id = request.POST.get("customer") or request.GET.get("customer")
    chosen = (
        customers.select_related("home_unit").filter(pk=chosen_id).first()
        if str(chosen_id or "").isdigit()
        else None
    )
    results = (
        list(customer_views.search(customers, text).select_related("home_unit")[:20])
        if text
        else []
    )
    form = forms.CreateCaseForm(
        request.POST or None, initial={"customer": chosen.pk if chosen else None}
    )
    error = ""
    if request.method == "POST":
        if chosen is None:
            error = _("Choose the customer first.")
        elif form.is_valid():
            d = form.cleaned_data
            channel = dict(forms.CreateCaseForm.CHANNELS)[d["channel"]]
            description = f"[{channel}] {d['description']}".strip()
            try:
                case, created = actions.create_case(
                    chosen,
                    d["subject"],
                    actor_of(request),
                    topic=d["topic"],
                    description=description,
                    remedy_wanted=d["remedy_wanted"],
                    severity=d["severity"],
                    source=Case.Source.MANUAL,
                )
            except (CaseError, states.IllegalTransition) as exc:
                error = str(exc)
            else:
                if created:
                    messages.success(request, _("Case %(ref)s opened.") % {"ref": case.ref})
                else:
                    messages.warning(
                        request,
                        _(
                            "%(customer)s already has open case %(ref)s on this topic; "
                            "the report was added to it."
                        )
                        % {"customer": chosen, "ref": case.ref},
                    )
                return redirect("cases:detail", case.pk)
    context = {
        "search": search,
        "q": text,
        "results": results,
        "chosen": chosen,
        "form": form,
        "error": error,
        "open_cases": list(
            Case.objects.filter(customer=chosen)
            .exclude(state=states.CLOSED)
            .select_related("owner")
        )
        if chosen
        else [],
    }
    if is_htmx(request, "customer-results"):
        return render(request, "cases/_customer_results.html", context)
    return render(request, "cases/create.html", context)


# --- the manager board ---------------------------------------------------------------------------


@staff_view("cases.view_case")
def board(request: HttpRequest) -> HttpResponse:
    """A unit's cases at a glance: by state, breached and at risk, load and transfer rate per
    person, the oldest open. Aggregates in SQL."""
    units = visible_units(request)
    if not units:
        raise Http404
    staff = viewer(request)
    default = next((u for u in units if staff is not None and u.pk == staff.unit_id), units[0])
    chosen = request.GET.get("unit", "")
    unit = next((u for u in units if str(u.pk) == chosen), default)
    ids = subtree_ids(units, unit)
    now = timezone.now()
    cases = Case.objects.filter(unit_id__in=ids)
    open_cases = cases.exclude(state=states.CLOSED)
    by_state = dict(cases.values_list("state").annotate(n=Count("pk")).order_by())
    warned = (
        Q(ack_warned_at__isnull=False, acknowledged_at__isnull=True)
        | Q(response_warned_at__isnull=False, first_response_at__isnull=True)
        | Q(resolve_warned_at__isnull=False, resolved_at__isnull=True)
    )
    totals = open_cases.aggregate(
        open=Count("pk"),
        breached=Count("pk", filter=BREACHED_Q),
        at_risk=Count("pk", filter=(warned | due_soon_q(now)) & ~BREACHED_Q),
        oldest=Min("opened_at"),
    )
    since = now - dt.timedelta(days=TRANSFER_WINDOW_DAYS)
    load = {
        row["owner"]: row
        for row in open_cases.values("owner")
        .annotate(
            open=Count("pk"), breached=Count("pk", filter=BREACHED_Q), oldest=Min("opened_at")
        )
        .order_by()
    }
    handled = dict(
        cases.filter(opened_at__gte=since).values_list("owner").annotate(n=Count("pk")).order_by()
    )
    transfers_out = dict(
        Transfer.objects.filter(from_unit_id__in=ids, at__gte=since)
        .values_list("from_staff")
        .annotate(n=Count("pk"))
        .order_by()
    )
    people_ids = set(load) | set(transfers_out) | set(handled)
    people = Staff.objects.filter(pk__in=people_ids).select_related("unit").order_by("display_name")
    rows = []
    for person in people:
        out = transfers_out.get(person.pk, 0)
        total = handled.get(person.pk, 0) + out
        row = load.get(person.pk, {})
        rows.append(
            {
                "staff": person,
                "open": row.get("open", 0),
                "breached": row.get("breached", 0),
                "oldest": row.get("oldest"),
                "transfers": out,
                "handled": total,
                "rate": (out / total) if total else None,
            }
        )
    rows.sort(key=lambda r: (-r["open"], r["staff"].display_name))
    oldest = list(open_cases.select_related("customer", "owner").order_by("opened_at", "pk")[:10])
    context = {
        "unit_choices": [(u.pk, f"{'· ' * u.depth}{u.name}") for u in units],
        "unit": unit,
        "states": [(s, states.STATES[s], by_state.get(s, 0)) for s in states.STATES],
        "totals": totals,
        "people": rows,
        "oldest": oldest,
        "window_days": TRANSFER_WINDOW_DAYS,
        "pending_approvals": ApprovalRequest.objects.filter(
            decision=ApprovalRequest.Decision.PENDING, remedy__case__unit_id__in=ids
        ).count(),
    }
    return render(request, "cases/board.html", context)


# --- the approval queue --------------------------------------------------------------------------


@staff_view("cases.view_approvalrequest")
def approvals(request: HttpRequest) -> HttpResponse:
    """Pending approval requests asked of me, and (for managers) of my units; decided recently."""
    staff = viewer(request)
    pending = scope(
        ApprovalRequest.objects.filter(decision=ApprovalRequest.Decision.PENDING),
        request.user,
        "remedy__case__unit",
    ).select_related(
        "remedy__case__customer", "remedy__case__owner", "remedy__proposed_by", "approver"
    )
    show = request.GET.get("show", "mine")
    if show != "units" and staff is not None:
        pending = pending.filter(approver=staff)
    rows = [
        {
            "request": a,
            "can_decide": staff is not None
            and (a.approver_id == staff.pk or staff.sees_whole_enterprise),
            "overdue": a.due_at <= timezone.now(),
            "form": forms.DecisionForm(prefix=f"a{a.pk}"),
        }
        for a in pending.order_by("due_at", "pk")[:200]
    ]
    recent = scope(
        ApprovalRequest.objects.exclude(decision=ApprovalRequest.Decision.PENDING),
        request.user,
        "remedy__case__unit",
    )
    if staff is not None:
        recent = recent.filter(Q(approver=staff) | Q(decided_by=staff))
    context = {
        "rows": rows,
        "show": show,
        "recent": list(
            recent.select_related("remedy__case", "decided_by").order_by("-decided_at", "-pk")[:20]
        ),
        "can_decide_any": request.user.has_perm("cases.change_approvalrequest"),
    }
    return render(request, "cases/approvals.html", context)


@require_POST
@staff_view("cases.view_approvalrequest", "cases.change_approvalrequest")
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(
        scope(ApprovalRequest.objects.all(), request.user, "remedy__case__unit").select_related(
            "remedy"
        ),
        pk=pk,
    )
    form = forms.DecisionForm(request.POST, prefix=f"a{pk}")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(f"{reverse('cases:approvals')}#a{pk}")
    d = form.cleaned_data
    try:
        decided = actions.decide_approval(found.pk, d["approve"], d["reason"], actor_of(request))
    except (CaseError, states.IllegalTransition) as exc:
        messages.error(request, str(exc))
    else:
        remedy = found.remedy
        if decided.decision == ApprovalRequest.Decision.APPROVED:
            messages.success(
                request, _("Approved %(remedy)s; the owner can offer it now.") % {"remedy": remedy}
            )
        else:
            messages.success(request, _("Refused %(remedy)s.") % {"remedy": remedy})
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/cases/") else reverse("cases:approvals"))
