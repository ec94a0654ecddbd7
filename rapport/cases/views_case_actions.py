"""The actions of the case page, one posted form each.

Thin: every change is a call to rapport.cases.actions; forms carry the case `version` so a stale
save is refused there (Conflict) and nothing is overwritten. Each action answers a plain form post
with a redirect (and works without JavaScript); an htmx post gets the case's main column back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.cases import forms, states
from rapport.cases.actions import (
    Actor,
    CaseError,
    Conflict,
    consent,
    lifecycle,
    notes,
    ownership,
    promises,
    remedies,
)
from rapport.cases.models import Case
from rapport.cases.views_access import actor_of
from rapport.cases.views_case import case_context, load_case, manual_targets, transfer_staff
from rapport.core.views import is_htmx, staff_view
from rapport.customers import views as customer_views

# Each action: (form class, call(form data, case, actor) → success message).
ActionFn = Callable[[dict[str, Any], Case, Actor], str]


def _ack(d: dict[str, Any], c: Case, a: Actor) -> str:
    lifecycle.acknowledge(c.pk, d["version"], a)
    return _("Acknowledged: the case is yours.")


def _transition(d: dict[str, Any], c: Case, a: Actor) -> str:
    case = lifecycle.transition(c.pk, d["version"], d["to"], a, note=d.get("note", ""))
    return _("The case is now %(state)s.") % {"state": states.STATES[case.state]}


def _note(d: dict[str, Any], c: Case, a: Actor) -> str:
    notes.add_note(c.pk, d["version"], d["text"], a)
    return _("Note added.")


def _reply(d: dict[str, Any], c: Case, a: Actor) -> str:
    if d["mode"] == "checking":
        notes.reply(c.pk, d["version"], a, what=d["what"], by=d["by"])
        return _("Message queued; your promise to come back is a follow-up task.")
    notes.reply(c.pk, d["version"], a, body=d["body"])
    return _("Message queued to the customer.")


def _transfer(d: dict[str, Any], c: Case, a: Actor) -> str:
    ownership.transfer(c.pk, d["version"], d["to_staff"], d["reason"], a)
    return _("Transferred to %(who)s.") % {"who": d["to_staff"]}


def _propose(d: dict[str, Any], c: Case, a: Actor) -> str:
    remedy = remedies.propose_remedy(
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
    consent.offer_remedy(c.pk, d["version"], d["remedy"], a)
    return _("Offered: the customer got a message with a link to accept.")


def _consent(d: dict[str, Any], c: Case, a: Actor) -> str:
    given = d.get("given_at")
    consent.record_consent(
        c.pk, d["version"], d["remedy"], d["accepted"], d["channel"], a, given_at=given
    )
    return _("The customer's answer is recorded.")


def _grant(d: dict[str, Any], c: Case, a: Actor) -> str:
    remedies.grant_remedy(c.pk, d["version"], d["remedy"], a)
    return _("Remedy granted.")


def _withdraw(d: dict[str, Any], c: Case, a: Actor) -> str:
    remedies.withdraw_remedy(c.pk, d["version"], d["remedy"], d.get("reason", ""), a)
    return _("Remedy withdrawn.")


def _promise(d: dict[str, Any], c: Case, a: Actor) -> str:
    promises.make_promise(c.pk, d["version"], d["text"], d["due_at"], a)
    return _("Promise recorded as a follow-up task.")


def _settle(d: dict[str, Any], c: Case, a: Actor) -> str:
    promises.settle_promise(c.pk, d["version"], d["promise"], d["kept"], a)
    return _("Promise marked kept.") if d["kept"] else _("Promise marked broken.")


def _resolve(d: dict[str, Any], c: Case, a: Actor) -> str:
    lifecycle.resolve(
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
    lifecycle.send_recovery_survey(c.pk, d["version"], a)
    return _("The recovery survey is on its way to the customer.")


def _close(d: dict[str, Any], c: Case, a: Actor) -> str:
    lifecycle.close(
        c.pk,
        d["version"],
        d["basis"],
        a,
        confirmation_channel=d.get("confirmation_channel", ""),
        note=d.get("note", ""),
    )
    return _("Case closed.")


def _reopen(d: dict[str, Any], c: Case, a: Actor) -> str:
    lifecycle.reopen(c.pk, d["version"], d["reason"], a)
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
