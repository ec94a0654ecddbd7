"""Configuration of case handling for CX managers and administrators: case rules, SLA policies,
business calendars, authority limits, message templates and the case settings.

Validated Django forms over the models; the rules' parameters are checked by
rapport.cases.rules.validate and the calendars by rapport.cases.business_time, so what is saved
here always works where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from rapport.cases import forms
from rapport.cases.models import (
    AuthorityLimit,
    BusinessCalendar,
    CaseRule,
    CaseSettings,
    MessageTemplate,
    SlaPolicy,
)
from rapport.cases.views_access import can_configure
from rapport.core.views import staff_view


@dataclass(frozen=True)
class Section:
    model: type[Model]
    form: type[Any]
    title: Any
    help: Any
    columns: Callable[[Any], list[Any]]
    headers: tuple[Any, ...]
    deletable: bool = True
    related: tuple[str, ...] = ()


def _rule_row(r: CaseRule) -> list[Any]:
    return [
        r.name,
        forms.describe_condition(r.condition, r.params),
        r.get_severity_display(),
        r.unit or _("all units"),
        _("active") if r.active else _("off"),
    ]


SECTIONS: dict[str, Section] = {
    "rules": Section(
        CaseRule,
        forms.CaseRuleForm,
        gettext_lazy("Case rules"),
        gettext_lazy("Which survey answers and touchpoints open a case, in order."),
        _rule_row,
        (
            gettext_lazy("Name"),
            gettext_lazy("Condition"),
            gettext_lazy("Severity"),
            gettext_lazy("Unit"),
            gettext_lazy("Status"),
        ),
        related=("unit",),
    ),
    "sla": Section(
        SlaPolicy,
        forms.SlaPolicyForm,
        gettext_lazy("SLA policies"),
        gettext_lazy("Targets per priority in business minutes of the case's unit."),
        lambda p: [
            p.get_priority_display(),
            p.acknowledge_minutes,
            p.first_response_minutes,
            p.resolve_minutes,
        ],
        (
            gettext_lazy("Priority"),
            gettext_lazy("Acknowledge"),
            gettext_lazy("First response"),
            gettext_lazy("Resolve"),
        ),
    ),
    "calendars": Section(
        BusinessCalendar,
        forms.BusinessCalendarForm,
        gettext_lazy("Business calendars"),
        gettext_lazy(
            "Opening hours and closed days per unit; a unit without one uses its nearest "
            "parent's, else the default."
        ),
        lambda c: [
            c.unit or _("Everyone (default)"),
            "; ".join(
                f"{d} {' '.join('-'.join(s) for s in spans)}"
                for d, spans in c.hours.items()
                if spans
            ),
            " ".join(x for x in (c.holiday_country, c.holiday_subdivision) if x) or "—",
            len(c.closed_dates or []),
        ],
        (
            gettext_lazy("Unit"),
            gettext_lazy("Hours"),
            gettext_lazy("Holidays"),
            gettext_lazy("Other closed days"),
        ),
        related=("unit",),
    ),
    "limits": Section(
        AuthorityLimit,
        forms.AuthorityLimitForm,
        gettext_lazy("Authority limits"),
        gettext_lazy(
            "The remedy value someone may grant alone; above it, a manager approves. A person's "
            "own limit wins over their role's."
        ),
        lambda a: [
            a.staff or a.get_role_display(),
            a.currency,
            f"{a.max_value:,.2f}",
        ],
        (gettext_lazy("Who"), gettext_lazy("Currency"), gettext_lazy("Maximum")),
        related=("staff",),
    ),
    "templates": Section(
        MessageTemplate,
        forms.MessageTemplateForm,
        gettext_lazy("Message templates"),
        gettext_lazy(
            "Messages to the customer per kind and language. Placeholders: {{ customer }}, "
            "{{ case_ref }}, {{ owner }}, {{ subject }}, {{ what }}, {{ by }}, {{ body }}, "
            "{{ remedy }}, {{ accept_url }}."
        ),
        lambda t: [t.get_kind_display(), t.get_language_display(), t.subject],
        (gettext_lazy("Kind"), gettext_lazy("Language"), gettext_lazy("Subject")),
    ),
}


def configurer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CX managers and administrators only (403 for everyone else)."""

    @staff_view()
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_configure(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def section(kind: str) -> Section:
    if kind not in SECTIONS:
        raise Http404
    return SECTIONS[kind]


@configurer
def index(request: HttpRequest) -> HttpResponse:
    summary = [
        {"kind": kind, "section": s, "count": s.model.objects.count()}
        for kind, s in SECTIONS.items()
    ]
    return render(request, "cases/config/index.html", {"sections": summary})


@configurer
def config_list(request: HttpRequest, kind: str) -> HttpResponse:
    s = section(kind)
    rows = s.model.objects.all()
    if s.related:
        rows = rows.select_related(*s.related)
    context = {
        "kind": kind,
        "section": s,
        "rows": [{"pk": row.pk, "cells": s.columns(row)} for row in rows],
        "conditions": forms.condition_help() if kind == "rules" else [],
    }
    return render(request, "cases/config/list.html", context)


@configurer
def edit(request: HttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
    s = section(kind)
    instance = get_object_or_404(s.model, pk=pk) if pk is not None else None
    form = s.form(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("cases:config_list", kind)
    status = 422 if request.method == "POST" else 200
    context = {
        "kind": kind,
        "section": s,
        "form": form,
        "instance": instance,
        "conditions": forms.condition_help() if kind == "rules" else [],
    }
    return render(request, "cases/config/edit.html", context, status=status)


@require_POST
@configurer
def delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    s = section(kind)
    row = get_object_or_404(s.model, pk=pk)
    row.delete()
    messages.success(request, _("Deleted."))
    return redirect("cases:config_list", kind)


@configurer
def case_settings(request: HttpRequest) -> HttpResponse:
    row = CaseSettings.current()
    form = forms.CaseSettingsForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("cases:config")
    status = 422 if request.method == "POST" else 200
    return render(request, "cases/config/settings.html", {"form": form}, status=status)
