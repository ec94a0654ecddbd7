"""The results page of a survey and its CSV export.

Thin: the numbers come from rapport.surveys.results (the same function the API calls), limited to
the viewer's subtree (rapport.org.scoping). Reading needs surveys.view_survey.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils import translation
from django.utils.translation import gettext as _

from rapport.customers.models import AttributeDefinition
from rapport.org import scoping
from rapport.surveys import results
from rapport.surveys.models import Invitation, Survey
from rapport.surveys.page import LANGUAGE_NAMES, pick_language

can_view = permission_required("surveys.view_survey", raise_exception=True)


def display(value: float, kind: str) -> str:
    """A score as people read it: NPS in signed points, shares in %, means, a 0–1000 index."""
    if kind == "points":
        return f"{value:+.1f}"
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "index":
        return f"{value:.0f}"
    return f"{value:.2f}"


def score_view(score: results.Score) -> dict[str, Any]:
    i = score.interval
    return {
        "key": score.key,
        "label": score.label,
        "value": display(i.estimate, score.kind),
        "low": display(i.low, score.kind),
        "high": display(i.high, score.kind),
        "n": i.n,
        "small": i.small_sample,
    }


def _visible_path(request: HttpRequest) -> str:
    path = scoping.unit_path(request.user)
    if path is None:
        raise PermissionDenied
    return path


def _results(request: HttpRequest, survey: Survey) -> tuple[results.SurveyResults, dict, list]:
    visible = _visible_path(request)
    filters, errors = results.parse_filters(request.GET)
    units = results.unit_rows()
    language = pick_language(translation.get_language())
    data = results.survey_results(survey, filters, visible, language, units=units)
    return data, errors, [u for u in units if u["path"].startswith(visible)]


@login_required
@can_view
def survey_results(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    data, errors, units = _results(request, survey)
    funnel = data.funnel
    stages = [
        (_("Sent"), funnel.sent),
        (_("Opened"), funnel.opened),
        (_("Started"), funnel.started),
        (_("Completed"), funnel.completed),
    ]
    text_keys = [key for key, _text, _ids in data.text_questions]
    chosen_text = request.GET.get("text", "")
    shown_keys = [chosen_text] if chosen_text in text_keys else text_keys
    question_ids = [i for key, _t, ids in data.text_questions if key in shown_keys for i in ids]
    texts = Paginator(
        results.open_text(survey.pk, data.filters, _visible_path(request), question_ids)
        if question_ids
        else [],
        results.OPEN_TEXT_PAGE,
    ).get_page(request.GET.get("page"))
    texts.object_list = list(texts.object_list)
    channel_names = dict(Invitation.Channel.choices)
    for row in texts.object_list:  # codes in words, in the active language
        row["channel_label"] = channel_names.get(row["response__channel"], row["response__channel"])
        row["language_label"] = LANGUAGE_NAMES.get(
            row["response__language"], row["response__language"]
        )
    keep = QueryDict(mutable=True)
    keep.update(data.filters.query())
    if chosen_text in text_keys:
        keep["text"] = chosen_text
    score_keys = [s.key for s in data.scores if not s.key.startswith("tier.")]
    return render(
        request,
        "surveys/results/page.html",
        {
            "survey": survey,
            "data": data,
            "errors": errors,
            "params": request.GET,
            "query": data.filters.query(),
            "query_string": keep.urlencode(),
            "stages": [
                {
                    "label": label,
                    "count": count,
                    "width": round(100 * count / funnel.sent, 1) if funnel.sent else 0,
                }
                for label, count in stages
            ],
            "rate": display(funnel.response_rate, "share") if funnel.response_rate else None,
            "scores": [score_view(s) for s in data.scores if not s.key.startswith("tier.")],
            "tiers": [score_view(s) for s in data.scores if s.key.startswith("tier.")],
            "factors": [
                (dict(csi_factor_labels()).get(f, f), f"{score:.0f}", n)
                for f, score, n in data.factors
            ],
            "unit_columns": [
                (key, results.score_labels()[key])
                for key in score_keys
                if key in {"nps", "csat", "ces", "csi", "loyalty"}
            ],
            "unit_rows": [
                {
                    "row": row,
                    "cells": [
                        score_view(row.scores[key]) if key in row.scores else None
                        for key in score_keys
                        if key in {"nps", "csat", "ces", "csi", "loyalty"}
                    ],
                }
                for row in data.units
            ],
            "questions": [
                {
                    "d": d,
                    "mean": display(d.mean.estimate, "mean") if d.mean else None,
                    "mean_low": display(d.mean.low, "mean") if d.mean else None,
                    "mean_high": display(d.mean.high, "mean") if d.mean else None,
                    "chart_id": f"chart-{number}",
                    "chart": {
                        "labels": [b.label for b in d.bars],
                        "counts": [b.count for b in d.bars],
                    },
                    "bars": [
                        {"b": b, "width": round(100 * b.share, 1), "pct": f"{100 * b.share:.0f}%"}
                        for b in d.bars
                    ],
                }
                for number, d in enumerate(data.distributions, start=1)
            ],
            "texts": texts,
            "text_questions": [(key, text) for key, text, _ids in data.text_questions],
            "chosen_text": chosen_text if chosen_text in text_keys else "",
            "units": units,
            "attributes": list(AttributeDefinition.objects.values_list("name", "label")),
            "languages": list(LANGUAGE_NAMES.items()),
            "channels": Invitation.Channel.choices,
            "small_sample": results.stats.SMALL_SAMPLE,
            "can_edit": request.user.has_perm("surveys.change_survey"),
        },
    )


def csi_factor_labels() -> list[tuple[str, str]]:
    return [
        ("service_initiation", _("Service initiation")),
        ("service_advisor", _("Service advisor")),
        ("service_facility", _("Service facility")),
        ("vehicle_pickup", _("Vehicle pick-up")),
        ("service_quality", _("Service quality")),
    ]


@login_required
@can_view
def survey_results_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's tables as one CSV: scores, the funnel, results by unit, every distribution."""
    survey = get_object_or_404(Survey, pk=pk)
    data, _errors, _units = _results(request, survey)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="survey-{survey.pk}-results.csv"'
    response.write("\ufeff")  # Excel reads the Chinese texts right with a BOM
    out = csv.writer(response)
    out.writerow(["section", "unit", "item", "value", "estimate", "ci_low", "ci_high", "n",
                  "small_sample"])  # fmt: skip
    for stage, count in data.funnel.as_dict().items():
        out.writerow(["funnel", "", stage, "", _cell(count), "", "", "", ""])
    for s in data.scores:
        i = s.interval
        out.writerow(["score", "", s.key, "", _cell(i.estimate), _cell(i.low), _cell(i.high),
                      i.n, i.small_sample])  # fmt: skip
    for f, score, n in data.factors:
        out.writerow(["csi_factor", "", f, "", _cell(score), "", "", n, ""])
    for row in data.units:
        for s in row.scores.values():
            i = s.interval
            out.writerow(["unit", _safe(row.code or row.name), s.key, "", _cell(i.estimate),
                          _cell(i.low), _cell(i.high), i.n, i.small_sample])  # fmt: skip
    for d in data.distributions:
        for b in d.bars:
            out.writerow(["question", "", d.key, _safe(b.label), b.count, "", "", d.n, ""])
    return response


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _safe(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text
