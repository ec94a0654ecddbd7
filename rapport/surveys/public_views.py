"""The public answering page, /s/<token>/: no login, no JavaScript needed, one form per page.

CSRF protection is off for these views on purpose: the unguessable token in the URL is the only
authority, and no cookie or session carries any. That also lets the page work inside a widget's
frame and under a load generator. The views stay thin: rapport.surveys.actions does the work.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rapport.surveys import actions, tokens
from rapport.surveys import questions as q
from rapport.surveys.models import SurveyVersion
from rapport.surveys.page import (
    fields_for_page,
    form_lists,
    language_links,
    pick_language,
    progress,
)

PROBLEM_STATUS = {"unknown": 404, "expired": 410, "closed": 410, "answered": 200}


def problem_page(request: HttpRequest, problem: str, language: str) -> HttpResponse:
    """A friendly page for a link that cannot be answered; says nothing about any survey."""
    with translation.override(language):
        response = render(
            request,
            "surveys/public/problem.html",
            {"problem": problem, "language": language},
            status=PROBLEM_STATUS[problem],
        )
    response["Content-Language"] = language
    return response


def render_page(
    request: HttpRequest,
    version: SurveyVersion,
    page: int,
    answers: dict[str, Any],
    shown: dict[str, Any],
    errors: dict[str, str],
    language: str,
    *,
    action: str,
    first_page: bool,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    specs = actions.version_specs(version)
    position, total = progress(specs, page)
    with translation.override(language):
        context = {
            "version": version,
            "title": q.localized(version.title, language),
            "intro": q.localized(version.intro, language) if first_page else "",
            "fields": fields_for_page(specs, page, answers, shown, errors, language),
            "errors": errors,
            "page": page,
            "position": position,
            "total": total,
            "last": position == total,
            "first": first_page,
            "language": language,
            "languages": language_links(language),
            "action": action,
            "max_text": q.MAX_TEXT_LENGTH,
            **(extra or {}),
        }
        response = render(request, "surveys/public/page.html", context)
    response["Content-Language"] = language
    return response


def _language(request: HttpRequest, *fallbacks: str | None) -> str:
    return pick_language(
        request.GET.get("lang") or request.POST.get("lang"), *fallbacks, translation.get_language()
    )


def _page_number(request: HttpRequest) -> int | None:
    raw = request.POST.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 6 else None


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    invitation = actions.invitation_for_token(token)
    if invitation is None:
        return problem_page(request, "unknown", _language(request))
    chosen = request.GET.get("lang") or request.POST.get("lang")
    language = pick_language(chosen, invitation.language)
    if chosen:
        actions.set_language(invitation, language)
    problem = actions.link_problem(invitation)
    if problem:
        return problem_page(request, problem, language)
    here = reverse("surveys_public:answer", args=[token])
    specs = actions.version_specs(invitation.version)
    if request.method == "POST":
        page = _page_number(request)
        if page is None:
            return HttpResponseRedirect(here)
        with translation.override(language):  # validation messages in the page's language
            outcome = actions.submit_page(
                invitation,
                page,
                form_lists(request.POST),
                language=language,
                back="back" in request.POST,
            )
        if outcome.status == "completed":
            return HttpResponseRedirect(reverse("surveys_public:thanks", args=[token]))
        if outcome.status == "answered":  # as when the link was used before this request came
            return problem_page(request, "answered", language)
        if outcome.status != "invalid":
            return HttpResponseRedirect(here)
        response = getattr(invitation, "response", None)
        answers = actions.saved_answers(response, specs)
        return render_page(
            request,
            invitation.version,
            page,
            answers,
            outcome.values,
            outcome.errors,
            language,
            action=here,
            first_page=q.first_page(specs, {}) == page,
        )
    actions.mark_opened(invitation)
    response = getattr(invitation, "response", None)
    answers = actions.saved_answers(response, specs)
    page = actions.current_page(response, specs, answers) or q.first_page(specs, {}) or 1
    return render_page(
        request,
        invitation.version,
        page,
        answers,
        answers,
        {},
        language,
        action=here,
        first_page=response is None,
    )


@never_cache
@require_http_methods(["GET"])
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = actions.invitation_for_token(token)
    if invitation is None:
        return problem_page(request, "unknown", _language(request))
    language = pick_language(request.GET.get("lang"), invitation.language)
    if actions.link_problem(invitation) != "answered":
        return HttpResponseRedirect(reverse("surveys_public:answer", args=[token]))
    with translation.override(language):
        response = render(
            request,
            "surveys/public/thanks.html",
            {
                "title": q.localized(invitation.version.title, language),
                "message": q.localized(invitation.version.thank_you, language),
                "language": language,
            },
        )
    response["Content-Language"] = language
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def public_link(request: HttpRequest, token: str) -> HttpResponse:
    """An anonymous response from a QR code or a shared link; nothing is stored before a POST."""
    payload = tokens.read_public_token(token)
    language = _language(request)
    if payload is None:
        return problem_page(request, "unknown", language)
    try:
        _survey, version, _unit = actions.public_invitation(payload)
    except actions.SurveyError:
        return problem_page(request, "closed", language)
    specs = actions.version_specs(version)
    page = q.first_page(specs, {})
    if page is None:
        return problem_page(request, "closed", language)
    here = reverse("surveys_public:link", args=[token])
    shown: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        with translation.override(language):
            outcome, new_token = actions.start_public_response(
                payload, form_lists(request.POST), language=language
            )
        if new_token and outcome.status == "completed":
            return HttpResponseRedirect(reverse("surveys_public:thanks", args=[new_token]))
        if new_token:
            return HttpResponseRedirect(reverse("surveys_public:answer", args=[new_token]))
        shown, errors = outcome.values, outcome.errors
    return render_page(
        request, version, page, {}, shown, errors, language, action=here, first_page=True
    )
