"""Staff pages of the learning half of cases: the knowledge page, the weekly digest, the reports
(with CSV export and charts), and the received email (flagged and unmatched mail included).

Thin: the work is in rapport.cases.knowledge, digest, reports and mail_actions. Scoped to the
viewer's unit subtree (rapport.org.scoping); knowledge is shared enterprise-wide without customer
data, and links to a case only when the viewer may open it.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import digest, knowledge, reports
from rapport.cases.models import CHURN_CAUSES, Case, InboundAttachment, InboundEmail
from rapport.core.apiutil import enterprise_tz
from rapport.core.views import staff_view
from rapport.org.models import OrgUnit
from rapport.org.scoping import scope, unit_path

PER_PAGE = 25
DEFAULT_WEEKS = 12


def visible_units(request: HttpRequest) -> QuerySet[OrgUnit]:
    prefix = unit_path(request.user)
    if prefix is None:
        return OrgUnit.objects.none()
    return OrgUnit.objects.filter(path__startswith=prefix).order_by("path")


def chosen_unit(request: HttpRequest) -> OrgUnit:
    """The unit the viewer picked (?unit=code), within their subtree; else their top unit."""
    units = visible_units(request)
    code = request.GET.get("unit", "").strip()
    unit = units.filter(code=code).first() if code else None
    if code and unit is None:
        raise Http404(_("No such unit."))
    if unit is None:
        staff = getattr(request.user, "staff", None)
        mine = staff.unit if staff is not None and not staff.sees_whole_enterprise else None
        unit = mine or OrgUnit.enterprise() or units.first()
    if unit is None:
        raise Http404(_("No units."))
    return unit


def visible_case_ids(request: HttpRequest, ids: list[int]) -> set[int]:
    return set(
        scope(Case.objects.filter(pk__in=ids), request.user, "unit").values_list("pk", flat=True)
    )


# --- knowledge ------------------------------------------------------------------------------


@staff_view("cases.view_case")
def knowledge_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    cause = request.GET.get("cause", "")
    if cause not in CHURN_CAUSES:
        cause = ""
    page = Paginator(knowledge.search(q, cause), PER_PAGE).get_page(request.GET.get("page"))
    linkable = visible_case_ids(request, [c.pk for c in page])
    context = {
        "page": page,
        "q": q,
        "cause": cause,
        "causes": knowledge.cause_counts(),
        "linkable": linkable,
    }
    return render(request, "cases/learning/knowledge.html", context)


# --- digest ---------------------------------------------------------------------------------


@staff_view("cases.view_case")
def digest_page(request: HttpRequest) -> HttpResponse:
    unit = chosen_unit(request)
    tz = enterprise_tz()
    today = timezone.now().astimezone(tz).date()
    error = ""
    try:
        day = dt.date.fromisoformat(request.GET["week"]) if request.GET.get("week") else None
    except ValueError:
        day, error = None, _("The week must be a date (YYYY-MM-DD); showing last week.")
    week = digest.week_of(day or today - dt.timedelta(days=7))
    d = digest.build(unit, week, tz)
    weeks = [digest.week_of(today) - dt.timedelta(days=7 * i) for i in range(0, 26)]
    context = {
        "d": d,
        "units": visible_units(request),
        "unit": unit,
        "weeks": weeks,
        "week": week,
        "previous": week - dt.timedelta(days=7),
        "next": week + dt.timedelta(days=7) if week < digest.week_of(today) else None,
        "error": error,
        "linkable": visible_case_ids(request, [s["id"] for s in d.stories + d.recoveries]),
    }
    return render(request, "cases/learning/digest.html", context)


# --- reports --------------------------------------------------------------------------------


def _period(request: HttpRequest) -> tuple[reports.Period, dict[str, str], dict[str, str]]:
    tz = enterprise_tz()
    today = timezone.now().astimezone(tz).date()
    errors: dict[str, str] = {}
    values: dict[str, dt.date] = {}
    defaults = {"from": today - dt.timedelta(weeks=DEFAULT_WEEKS), "to": today}
    for name, default in defaults.items():
        raw = request.GET.get(name, "").strip()
        try:
            values[name] = dt.date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[name] = _("Not a date (YYYY-MM-DD): %(v)s") % {"v": raw[:20]}
            values[name] = default
    if values["from"] > values["to"]:
        errors["to"] = _("The end is before the start.")
        values["from"], values["to"] = values["to"], values["from"]
    start = dt.datetime.combine(values["from"], dt.time(), tzinfo=tz)
    end = dt.datetime.combine(values["to"] + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    shown = {k: v.isoformat() for k, v in values.items()}
    return reports.Period(start, end, tz), shown, errors


def _report_cases(request: HttpRequest, unit: OrgUnit) -> QuerySet[Case]:
    return reports.scope(scope(Case.objects.all(), request.user, "unit"), unit.path)


def _charts(tables: dict[str, reports.Table]) -> dict[str, Any]:
    volume = [r for r in tables["volume"].rows if r[1]]
    return {
        "volume": {
            "type": "bar",
            "labels": [r[0] for r in volume],
            "series": [{"label": str(_("Cases opened")), "data": [r[1] for r in volume]}],
        },
        "trend": {
            "type": "line",
            "labels": [r[0] for r in tables["trend"].rows],
            "series": [
                {"label": str(_("Cases opened")), "data": [r[1] for r in tables["trend"].rows]}
            ],
        },
        "sla": {
            "type": "bar",
            "labels": [r[0] for r in tables["sla"].rows],
            "series": [
                {"label": str(_("Met")), "data": [r[1] for r in tables["sla"].rows]},
                {"label": str(_("Missed")), "data": [r[2] for r in tables["sla"].rows]},
            ],
            "stacked": True,
        },
    }


@staff_view("cases.view_case")
def reports_page(request: HttpRequest) -> HttpResponse:
    unit = chosen_unit(request)
    period, shown, errors = _period(request)
    tables = {t.key: t for t in reports.build_all(_report_cases(request, unit), period)}
    query = f"unit={unit.code}&from={shown['from']}&to={shown['to']}"
    context = {
        "tables": list(tables.values()),
        "charts": _charts(tables),
        "units": visible_units(request),
        "unit": unit,
        "params": shown,
        "errors": errors,
        "query": query,
    }
    return render(request, "cases/learning/reports.html", context)


@staff_view("cases.view_case")
def report_csv(request: HttpRequest, key: str) -> HttpResponse:
    if key not in reports.TABLES:
        raise Http404(_("No such report."))
    unit = chosen_unit(request)
    period, shown, _errors = _period(request)
    table = reports.build(key, _report_cases(request, unit), period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"cases-{key}-{unit.code}-{shown['from']}-{shown['to']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")  # Excel opens UTF-8 (Chinese) correctly with a BOM
    writer = csv.writer(response)
    writer.writerow([str(h) for h in table.headers])
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return response


# --- received email -------------------------------------------------------------------------


def visible_mail(request: HttpRequest) -> QuerySet[InboundEmail]:
    """Mail on a case the viewer may see; mail without a case only for whole-enterprise roles."""
    prefix = unit_path(request.user)
    qs = InboundEmail.objects.all()
    if prefix is None:
        return qs.none()
    if prefix == "":
        return qs
    return qs.filter(case__unit__path__startswith=prefix)


@staff_view("cases.view_case")
def mail_list(request: HttpRequest) -> HttpResponse:
    qs = visible_mail(request).select_related("case", "customer").defer("raw", "text")
    show = request.GET.get("show", "")
    if show == "flagged":
        qs = qs.filter(flagged=True)
    elif show in InboundEmail.Status.values:
        qs = qs.filter(status=show)
    q = request.GET.get("q", "").strip()[:200]
    if q:
        qs = qs.filter(Q(subject__icontains=q) | Q(from_address__icontains=q))
    page = Paginator(qs.order_by("-received_at", "-pk"), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "show": show,
        "q": q,
        "statuses": InboundEmail.Status.choices,
    }
    return render(request, "cases/learning/mail_list.html", context)


@staff_view("cases.view_case")
def mail_detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(visible_mail(request).select_related("case", "customer"), pk=pk)
    context = {"mail": row, "attachments": list(row.attachments.defer("data"))}
    return render(request, "cases/learning/mail_detail.html", context)


@staff_view("cases.view_case")
def mail_attachment(request: HttpRequest, pk: int, attachment: int) -> HttpResponse:
    row = get_object_or_404(visible_mail(request), pk=pk)
    item = get_object_or_404(InboundAttachment, pk=attachment, email=row, stored=True)
    response = HttpResponse(bytes(item.data or b""), content_type="application/octet-stream")
    safe = (item.filename or "attachment").replace('"', "")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(safe)}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
