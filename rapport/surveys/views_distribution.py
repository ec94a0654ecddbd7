"""Distribution pages: event rules, waves (with dry runs), the contact policy and SMS provider,
QR codes and the widget snippet — and two public endpoints: the unsubscribe page and widget.js.

Thin: the work is in rapport.surveys.{distribution,triggers,waves,qr,widget,optout}. Reading needs
surveys.view_survey; changing anything needs surveys.change_survey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from rapport.org.models import OrgUnit
from rapport.surveys import optout, qr, triggers, waves, widget
from rapport.surveys.contact_rules import RULE_LABELS
from rapport.surveys.forms_distribution import (
    ContactPolicyForm,
    EventRuleForm,
    SmsProviderForm,
    WaveForm,
)
from rapport.surveys.models import (
    ContactPolicy,
    EventRule,
    Invitation,
    SmsProviderConfig,
    Survey,
    Wave,
)
from rapport.surveys.page import pick_language

can_view = permission_required("surveys.view_survey", raise_exception=True)
can_edit = permission_required("surveys.change_survey", raise_exception=True)
WIDGET_JS = Path(__file__).parent / "static" / "surveys" / "widget.js"


@login_required
@can_view
def overview(request: HttpRequest) -> HttpResponse:
    statuses = dict(
        Invitation.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return render(
        request,
        "surveys/distribution/overview.html",
        {
            "rules": EventRule.objects.select_related("survey", "unit"),
            "waves": Wave.objects.select_related("survey", "unit"),
            "policy": ContactPolicy.current(),
            "statuses": [
                (label, statuses.get(value, 0)) for value, label in Invitation.Status.choices
            ],
            "surveys": Survey.objects.filter(archived=False).order_by("name"),
            "can_edit": request.user.has_perm("surveys.change_survey"),
        },
    )


def _edit(
    request: HttpRequest, form_class: Any, instance: Any, template: str, url_name: str
) -> HttpResponse:
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse(url_name, args=[saved.pk]))
    return render(request, template, {"form": form, "object": instance})


@login_required
@can_edit
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(EventRule, pk=pk) if pk else None
    return _edit(request, EventRuleForm, rule, "surveys/distribution/rule.html", "surveys:rule")


@login_required
@can_edit
def wave_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    wave = get_object_or_404(Wave, pk=pk) if pk else None
    return _edit(request, WaveForm, wave, "surveys/distribution/wave.html", "surveys:wave")


@login_required
@can_view
@require_POST
def rule_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EventRule, pk=pk)
    days = request.POST.get("days", "7")
    report = triggers.dry_run_rule(rule, days=int(days) if days.isdigit() else 7)
    return _dry_run_page(request, rule, report.as_dict(), "rule")


@login_required
@can_view
@require_POST
def wave_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    wave = get_object_or_404(Wave.objects.select_related("survey", "unit"), pk=pk)
    report = waves.schedule_wave(wave, dry_run=True)
    return _dry_run_page(request, wave, report.as_dict(), "wave")


def _dry_run_page(request: HttpRequest, obj: Any, report: dict, kind: str) -> HttpResponse:
    suppressed = [
        (RULE_LABELS.get(rule, rule), count, report["suppressed_sample"].get(rule, []))
        for rule, count in report["suppressed"].items()
    ]
    return render(
        request,
        "surveys/distribution/dry_run.html",
        {"object": obj, "report": report, "suppressed": suppressed, "kind": kind},
    )


@login_required
@can_edit
@require_POST
def wave_launch(request: HttpRequest, pk: int) -> HttpResponse:
    from rapport.surveys.tasks import run_wave

    wave = get_object_or_404(Wave, pk=pk)
    run_wave.enqueue(wave.pk)
    messages.success(request, _("The wave is queued; the worker schedules its invitations."))
    return HttpResponseRedirect(reverse("surveys:wave", args=[wave.pk]))


@login_required
@can_edit
def policy_edit(request: HttpRequest) -> HttpResponse:
    policy = ContactPolicy.current()
    sms = SmsProviderConfig.objects.order_by("-updated_at").first()
    post = request.POST if request.method == "POST" else None
    which = request.POST.get("form") if post else None
    policy_form = ContactPolicyForm(post if which == "policy" else None, instance=policy)
    sms_form = SmsProviderForm(post if which == "sms" else None, instance=sms, prefix="sms")
    form = policy_form if which == "policy" else sms_form if which == "sms" else None
    if form is not None and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("surveys:policy"))
    return render(
        request,
        "surveys/distribution/policy.html",
        {"policy_form": policy_form, "sms_form": sms_form},
    )


def _unit(request: HttpRequest) -> OrgUnit | None:
    raw = request.GET.get("unit", "")
    return get_object_or_404(OrgUnit, pk=int(raw)) if raw.isdigit() else None


@login_required
@can_view
def qr_page(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk, archived=False)
    unit = _unit(request)
    return render(
        request,
        "surveys/distribution/qr.html",
        {
            "survey": survey,
            "unit": unit,
            "units": OrgUnit.objects.exclude(kind=OrgUnit.Kind.TEAM),
            "url": qr.public_url(survey.pk, unit.pk if unit else None),
            "query": f"?unit={unit.pk}" if unit else "",
        },
    )


@login_required
@can_view
def qr_image(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk, archived=False)
    unit = _unit(request)
    url = qr.public_url(survey.pk, unit.pk if unit else None)
    name = f"survey-{survey.pk}" + (f"-{unit.code}" if unit else "")
    if fmt == "svg":
        response = HttpResponse(qr.svg(url, title=survey.name), content_type="image/svg+xml")
    elif fmt == "png":
        response = HttpResponse(qr.png(url), content_type="image/png")
    else:
        raise Http404
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@login_required
@can_view
def widget_page(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk, archived=False)
    unit = _unit(request)
    return render(
        request,
        "surveys/distribution/widget.html",
        {
            "survey": survey,
            "unit": unit,
            "units": OrgUnit.objects.exclude(kind=OrgUnit.Kind.TEAM),
            "snippet": widget.snippet(survey.pk, unit.pk if unit else None),
        },
    )


# --- public -----------------------------------------------------------------------------------


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no cookie or token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows one button (link scanners prefetch GETs, so a GET alone changes nothing);
    POST — the button, or the mail client's one-click — records the opt-out."""
    language = pick_language(request.GET.get("lang"), translation.get_language())
    payload = optout.read_unsubscribe_token(token)
    done = False
    if payload is not None and request.method == "POST":
        done = optout.record_opt_out(payload["c"], payload["ch"])
    with translation.override(language):
        response = render(
            request,
            "surveys/distribution/unsubscribe.html",
            {"valid": payload is not None, "done": done, "language": language},
            status=200 if payload is not None else 404,
        )
    return response


def widget_js(request: HttpRequest) -> HttpResponse:
    """The widget script, for any site to load (cached for an hour)."""
    response = HttpResponse(WIDGET_JS.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
