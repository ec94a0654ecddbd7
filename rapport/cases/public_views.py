"""The customer's side of a remedy offer: the link in the offer message (no login).

The signed token is the only authority. A GET only shows the offer (mail scanners prefetch
links); the customer's button press (POST) records consent through
rapport.cases.actions.consent.accept_by_link.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rapport.cases import states
from rapport.cases.actions import CaseError, consent


@csrf_exempt
@require_http_methods(["GET", "POST"])
def accept_offer(request: HttpRequest, token: str) -> HttpResponse:
    remedy = consent.remedy_for_link(token)
    language = remedy.case.customer.preferred_language if remedy else translation.get_language()
    answered = error = None
    if remedy is not None and request.method == "POST":
        choice = request.POST.get("answer")
        if choice in {"accept", "decline"}:
            try:
                remedy = consent.accept_by_link(token, accepted=choice == "accept")
                answered = choice
            except (CaseError, states.IllegalTransition) as exc:
                error = str(exc)
    with translation.override(language):
        return render(
            request,
            "cases/public/offer.html",
            {"remedy": remedy, "answered": answered, "error": error, "language": language},
            status=200 if remedy is not None else 404,
        )
