"""Surveys over HTTP: send responses collected elsewhere, list surveys with their funnel, read a
survey's results — the same numbers as the results page (rapport.surveys.results).

Writes go through rapport.surveys.ingest (the one path; a record sent again is a duplicate).
Reading is scoped: an API key sees the whole enterprise, a logged-in user their subtree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from rapport.core import apiutil
from rapport.core.apiutil import ApiError, auth, principal
from rapport.org import scoping
from rapport.surveys import actions, results
from rapport.surveys.ingest import ingest_responses
from rapport.surveys.models import Survey
from rapport.surveys.page import pick_language

router = Router(tags=["surveys"])


class FunnelOut(Schema):
    invited: int
    scheduled: int
    sent: int
    opened: int
    started: int
    completed: int
    bounced: int
    expired: int
    suppressed: int
    response_rate: float | None


class SurveyOut(Schema):
    id: int
    name: str
    kind: str
    anonymous: bool
    archived: bool
    live_version: int | None
    created_at: datetime
    funnel: FunnelOut


def _visible_path(request: HttpRequest) -> str:
    caller = principal(request)
    if caller.key is not None:
        return ""
    path = scoping.unit_path(caller.user)
    if path is None:
        raise ApiError(403, _("You do not have permission to do this."), "forbidden")
    return path


@router.post(
    "/responses",
    auth=auth("responses:write"),
    response={200: apiutil.BulkResult},
    openapi_extra=apiutil.BULK_OPENAPI,
    summary="Send completed survey responses (JSON array or NDJSON, up to 10,000 records)",
)
def post_responses(request: HttpRequest, source: str = "api") -> HttpResponse:
    """Each record: `survey` (id), optional `survey_version` (number; default the live one),
    `external_id` (its id in `source`: sending it again is a duplicate), `customer_external_id`
    and/or `touchpoint_external_id` (ids in `source`), `unit` (code), `completed_at` (ISO 8601),
    optional `started_at`, `language`, `channel`, and `answers` ({question key: value}). Answers
    are validated like the survey page validates them; scores are derived; every created
    response emits `response.completed`."""
    return apiutil.bulk_ingest(request, ingest_responses, source)


@router.get("/surveys", auth=auth("surveys:read"), response=list[SurveyOut])
def list_surveys(request: HttpRequest, archived: bool = False) -> list[dict[str, Any]]:
    """Every survey with its invitation funnel (sent → opened → started → completed)."""
    visible = _visible_path(request)
    surveys = list(Survey.objects.filter(archived=archived))
    live = {
        s.pk: v.number
        for s in surveys
        if (v := actions.live_version(s)) is not None  # a few surveys: one query each is fine
    }
    funnels = results.funnels([s.pk for s in surveys], visible)
    return [
        {
            "id": s.pk,
            "name": s.name,
            "kind": s.kind,
            "anonymous": s.anonymous,
            "archived": s.archived,
            "live_version": live.get(s.pk),
            "created_at": s.created_at,
            "funnel": funnels.get(s.pk, results.Funnel()).as_dict(),
        }
        for s in surveys
    ]


@router.get("/surveys/{survey_id}/results", auth=auth("surveys:read"))
def survey_results(
    request: HttpRequest,
    survey_id: int,
    unit: str = Query("", description="unit code: that unit and the units under it"),
    date_from: str = Query("", alias="from", description="completed on or after (ISO date)"),
    date_to: str = Query("", alias="to", description="completed on or before (ISO date)"),
    language: str = Query("", description="en, zh-hant or zh-hans"),
    channel: str = Query("", description="email, sms, link, qr or widget"),
    attribute: str = Query("", description="a customer attribute's name"),
    value: str = Query("", description="the attribute's value"),
    lang: str = Query("", description="language of question texts and labels"),
) -> dict[str, Any]:
    """The funnel, each score with its 95% interval and n (small samples flagged), the CSI
    factors, results by unit and the distribution of every closed question."""
    visible = _visible_path(request)
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        raise ApiError(404, _("Not found."), "not_found")
    params = {
        "unit": unit,
        "from": date_from,
        "to": date_to,
        "language": language,
        "channel": channel,
        "attribute": attribute,
        "value": value,
    }
    filters, errors = results.parse_filters(params)
    if errors:
        raise ApiError(
            422,
            _("The filters are not valid."),
            "validation_error",
            [{"loc": ["query", name], "msg": str(msg)} for name, msg in errors.items()],
        )
    text_language = pick_language(lang or None, translation.get_language())
    with translation.override(text_language):
        return results.survey_results(survey, filters, visible, text_language).as_dict()
