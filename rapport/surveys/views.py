"""Staff pages: the survey list and the builder (texts, questions, preview, publish).

Thin: every change goes through rapport.surveys.actions. Editing needs surveys.change_survey
(CX managers and admins); reading the list needs surveys.view_survey.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.org import scoping
from rapport.surveys import actions, library, results
from rapport.surveys import questions as q
from rapport.surveys.forms import NewSurveyForm, QuestionForm, VersionTextsForm
from rapport.surveys.models import Response, Survey
from rapport.surveys.page import form_lists, pick_language
from rapport.surveys.public_views import render_page

can_view = permission_required("surveys.view_survey", raise_exception=True)
can_edit = permission_required("surveys.change_survey", raise_exception=True)


@login_required
@can_view
def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = list(
        Survey.objects.filter(archived=False).annotate(
            completed=Count("responses", filter=Q(responses__state=Response.State.COMPLETED))
        )
    )
    visible = scoping.unit_path(request.user)
    funnels = results.funnels([s.pk for s in surveys], visible) if visible is not None else {}
    for survey in surveys:
        survey.funnel = funnels.get(survey.pk, results.Funnel())  # type: ignore[attr-defined]
    return render(
        request,
        "surveys/staff/list.html",
        {
            "surveys": surveys,
            "form": NewSurveyForm(),
            "templates": [(k, label) for k, label in Survey.Kind.choices],
            "can_edit": request.user.has_perm("surveys.add_survey"),
        },
    )


@login_required
@permission_required("surveys.add_survey", raise_exception=True)
@require_POST
def survey_new(request: HttpRequest) -> HttpResponse:
    form = NewSurveyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a template and give the survey a name."))
        return HttpResponseRedirect(reverse("surveys:list"))
    survey = actions.create_survey_from_template(
        form.cleaned_data["kind"], form.cleaned_data["name"], request.user
    )
    messages.success(request, _("Survey created. Check the texts, preview it, then publish."))
    return HttpResponseRedirect(reverse("surveys:edit", args=[survey.pk]))


@login_required
@can_edit
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    latest = actions.latest_version(survey)
    if request.method == "POST":
        form = VersionTextsForm(request.POST)
        if form.is_valid():
            actions.save_version_texts(survey, **form.texts())
            messages.success(request, _("Texts saved."))
            return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))
    else:
        form = VersionTextsForm(initial=VersionTextsForm.initial_for(latest))
    specs = actions.version_specs(latest) if latest else ()
    live = actions.live_version(survey)
    return render(
        request,
        "surveys/staff/edit.html",
        {
            "survey": survey,
            "version": latest,
            "live": live,
            "form": form,
            "questions": sorted(specs, key=lambda s: (s.page, s.order, s.key)),
            "problems": q.validate_definition(specs) if latest and not latest.published_at else [],
            "types": list(q.QUESTION_TYPES.items()),
            "responses": latest.responses.count() if latest else 0,
        },
    )


@login_required
@can_edit
@require_POST
def question_add(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    kind = request.POST.get("type", q.TEXT)
    if kind not in q.QUESTION_TYPES:
        kind = q.TEXT
    last_page = max(
        (s.page for s in actions.version_specs(actions.draft_version(survey))), default=1
    )
    data: dict[str, Any] = {"type": kind, "page": last_page, "texts": {"en": _("New question")}}
    if kind == q.AGREEMENT:
        data["options"] = library.AGREEMENT_POINTS
    elif kind == q.NPS:
        data.update(low_labels=library.NPS_LOW, high_labels=library.NPS_HIGH)
    elif kind == q.RATING:
        data.update(
            scale_min=1, scale_max=5, low_labels=library.SAT_LOW, high_labels=library.SAT_HIGH
        )
    elif kind in q.CHOICE_TYPES:
        data["options"] = [
            {"value": "1", "labels": {"en": _("Option 1")}},
            {"value": "2", "labels": {"en": _("Option 2")}},
        ]
    question = actions.save_question(survey, None, data)
    return HttpResponseRedirect(reverse("surveys:question", args=[pk, question.key]))


@login_required
@can_edit
def question_edit(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    latest = actions.latest_version(survey)
    question = get_object_or_404(latest.questions, key=key) if latest else None
    if question is None:
        return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))
    earlier = [o for o in latest.questions.all() if o.page < question.page and o.key != key]
    if request.method == "POST":
        form = QuestionForm(request.POST, earlier=earlier, question=question)
        if form.is_valid():
            actions.save_question(survey, key, form.question_data())
            messages.success(request, _("Question saved."))
            return HttpResponseRedirect(reverse("surveys:edit", args=[pk]) + f"#q-{key}")
    else:
        form = QuestionForm(
            initial=QuestionForm.initial_for(question), earlier=earlier, question=question
        )
    languages = [("en", "English"), ("zh_hant", "繁體中文"), ("zh_hans", "简体中文")]
    return render(
        request,
        "surveys/staff/question.html",
        {
            "survey": survey,
            "question": question,
            "form": form,
            "by_language": [
                {
                    "name": name,
                    "text": form[f"text_{code}"],
                    "options": form[f"options_{code}"],
                    "low": form[f"low_{code}"],
                    "high": form[f"high_{code}"],
                }
                for code, name in languages
            ],
        },
    )


@login_required
@can_edit
@require_POST
def question_delete(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    actions.delete_question(survey, key)
    messages.success(request, _("Question removed."))
    return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))


@login_required
@can_edit
@require_POST
def question_move(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    with contextlib.suppress(actions.SurveyError):
        actions.move_question(survey, key, -1 if request.POST.get("direction") == "up" else 1)
    return HttpResponseRedirect(reverse("surveys:edit", args=[pk]) + f"#q-{key}")


@login_required
@can_edit
@require_POST
def survey_publish(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    try:
        version = actions.publish_survey(survey)
    except actions.SurveyError as exc:
        messages.error(request, _("Not published: %(why)s") % {"why": exc})
    else:
        messages.success(request, _("Version %(n)s is live.") % {"n": version.number})
    return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))


@login_required
@can_edit
def survey_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The public page for the latest version, answered in memory: nothing is saved.

    The answers so far travel in a hidden field, so conditions and validation behave as live.
    """
    survey = get_object_or_404(Survey, pk=pk)
    version = actions.latest_version(survey)
    if version is None:
        return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))
    specs = actions.version_specs(version)
    language = pick_language(request.GET.get("lang") or request.POST.get("lang"))
    try:
        answers = json.loads(request.POST.get("preview_answers", "{}"))
        answers = answers if isinstance(answers, dict) else {}
    except ValueError:
        answers = {}
    page = q.first_page(specs, {})
    shown: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if page is None:
        messages.error(request, _("Add a question first."))
        return HttpResponseRedirect(reverse("surveys:edit", args=[pk]))
    if request.method == "POST":
        posted = request.POST.get("page", "")
        page = int(posted) if posted.isdigit() else page
        if "back" in request.POST:
            page = q.previous_page(specs, page, answers) or page
            shown = answers
        else:
            with translation.override(language):
                values, errors = q.validate_page(specs, page, form_lists(request.POST), answers)
            if errors:
                shown = values
            else:
                answers.update(values)
                following = q.next_page(specs, page, answers)
                if following is None:
                    return render(
                        request,
                        "surveys/public/thanks.html",
                        {
                            "message": q.localized(version.thank_you, language),
                            "language": language,
                            "preview_back": reverse("surveys:edit", args=[pk]),
                        },
                    )
                page, shown = following, answers
    here = reverse("surveys:preview", args=[pk])
    return render_page(
        request,
        version,
        page,
        answers,
        shown,
        errors,
        language,
        action=f"{here}?lang={language}",
        first_page=page == q.first_page(specs, {}),
        extra={
            "preview": True,
            "preview_back": reverse("surveys:edit", args=[pk]),
            "hidden_fields": [("preview_answers", json.dumps(answers, ensure_ascii=False))],
        },
    )
