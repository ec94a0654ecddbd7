"""Survey operations, each with one home that views, API and commands call.

Definitions: a survey's latest version is either a draft (editable) or published (frozen). Every
edit goes through `draft_version`, which clones the published version into a new draft first, so a
version that may have responses never changes. `publish` freezes the draft.

Answering: `submit_page` saves one page of answers under a lock on the invitation (PostgreSQL:
SELECT ... FOR UPDATE; SQLite: the IMMEDIATE transaction), and `complete` flips the response to
completed with a conditional UPDATE, so two racing submits store one response, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.core.events import emit
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit
from rapport.surveys import library, scoring, tokens
from rapport.surveys import questions as q
from rapport.surveys.models import (
    Answer,
    Invitation,
    Question,
    Response,
    Survey,
    SurveyVersion,
)
from rapport.touchpoints.models import Touchpoint

QUESTION_FIELDS = (
    "key",
    "type",
    "texts",
    "required",
    "options",
    "scale_min",
    "scale_max",
    "low_labels",
    "high_labels",
    "condition",
    "page",
    "order",
    "role",
)
DEFAULT_VALIDITY = dt.timedelta(days=30)
_SPEC_CACHE_SIZE = 512
_spec_cache: dict[tuple[int, Any], tuple[q.QuestionSpec, ...]] = {}


class SurveyError(ValueError):
    """A survey operation that cannot be done; the message is for the user."""


# --- definitions ------------------------------------------------------------------------------


def create_survey_from_template(
    kind: str, name: str, user: Any = None, *, publish: bool = False
) -> Survey:
    """A new survey (version 1, a draft unless `publish`) from a built-in template.

    "custom" starts empty. One transaction: a failure leaves nothing behind.
    """
    if kind not in Survey.Kind.values:
        raise SurveyError(f"unknown survey kind {kind!r}")
    template = library.TEMPLATES.get(kind, {})
    with transaction.atomic():
        survey = Survey.objects.create(
            name=name,
            kind=kind,
            anonymous=kind in library.ANONYMOUS_KINDS,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        version = SurveyVersion.objects.create(
            survey=survey,
            number=1,
            title=template.get("title", {"en": name}),
            intro=template.get("intro", {}),
            thank_you=template.get("thank_you", {}),
        )
        Question.objects.bulk_create(
            Question(version=version, order=10 * (i + 1), **_question_defaults(spec))
            for i, spec in enumerate(template.get("questions", []))
        )
        if publish:
            publish_survey(survey)
    return survey


def _question_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    data = {"required": True, "page": 1, "role": "", "options": []}
    data.update({k: v for k, v in spec.items() if k in QUESTION_FIELDS})
    return data


def latest_version(survey: Survey) -> SurveyVersion | None:
    return survey.versions.order_by("-number").first()


def live_version(survey: Survey) -> SurveyVersion | None:
    """The version new invitations and public links use: the latest published one."""
    return survey.versions.filter(published_at__isnull=False).order_by("-number").first()


def draft_version(survey: Survey) -> SurveyVersion:
    """The editable version: the latest if unpublished, else a fresh copy of it.

    Locks the survey row so two editors do not both clone.
    """
    with transaction.atomic():
        Survey.objects.select_for_update().filter(pk=survey.pk).first()
        latest = latest_version(survey)
        if latest is not None and latest.published_at is None:
            return latest
        number = (latest.number if latest else 0) + 1
        draft = SurveyVersion.objects.create(
            survey=survey,
            number=number,
            title=latest.title if latest else {"en": survey.name},
            intro=latest.intro if latest else {},
            thank_you=latest.thank_you if latest else {},
        )
        if latest is not None:
            Question.objects.bulk_create(
                Question(version=draft, **{f: getattr(old, f) for f in QUESTION_FIELDS})
                for old in latest.questions.all()
            )
        return draft


def publish_survey(survey: Survey) -> SurveyVersion:
    """Freeze the draft so invitations can use it; refuses a definition with problems."""
    with transaction.atomic():
        Survey.objects.select_for_update().filter(pk=survey.pk).first()
        latest = latest_version(survey)
        if latest is None:
            raise SurveyError(_("the survey has no version"))
        if latest.published_at is not None:
            return latest
        problems = q.validate_definition(version_specs(latest))
        if problems:
            raise SurveyError(" ".join(problems))
        latest.published_at = timezone.now()
        latest.save(update_fields=["published_at"])
        return latest


def version_specs(version: SurveyVersion) -> tuple[q.QuestionSpec, ...]:
    """The version's questions as specs; cached for published versions, which never change."""
    if version.published_at is None:
        return tuple(question.spec() for question in version.questions.all())
    key = (version.pk, version.published_at)
    specs = _spec_cache.get(key)
    if specs is None:
        specs = tuple(question.spec() for question in version.questions.all())
        if len(_spec_cache) >= _SPEC_CACHE_SIZE:
            _spec_cache.clear()
        _spec_cache[key] = specs
    return specs


def save_version_texts(survey: Survey, **texts: Mapping[str, str]) -> SurveyVersion:
    """Set the draft's title, intro and/or thank-you text ({language: text} each)."""
    draft = draft_version(survey)
    for name in ("title", "intro", "thank_you"):
        if name in texts:
            setattr(draft, name, {k: v for k, v in texts[name].items() if v})
    draft.save(update_fields=["title", "intro", "thank_you"])
    return draft


def save_question(survey: Survey, key: str | None, data: Mapping[str, Any]) -> Question:
    """Add (key None) or change a question of the draft; keys survive versions, ids do not."""
    with transaction.atomic():
        draft = draft_version(survey)
        fields = {k: v for k, v in data.items() if k in QUESTION_FIELDS}
        if key is None:
            base = fields.get("key") or f"q{draft.questions.count() + 1}"
            taken = set(draft.questions.values_list("key", flat=True))
            new_key, n = base, 1
            while new_key in taken:
                n += 1
                new_key = f"{base}_{n}"
            top = draft.questions.aggregate(m=Max("order"))["m"] or 0
            fields.update(key=new_key, order=top + 10)
            return Question.objects.create(version=draft, **_question_defaults(fields))
        question = draft.questions.get(key=key)
        fields.pop("key", None)
        for name, value in fields.items():
            setattr(question, name, value)
        question.save()
        return question


def delete_question(survey: Survey, key: str) -> None:
    """Remove a question from the draft, and any condition that pointed at it."""
    with transaction.atomic():
        draft = draft_version(survey)
        draft.questions.filter(key=key).delete()
        for other in draft.questions.filter(condition__isnull=False):
            if (other.condition or {}).get("question") == key:
                other.condition = None
                other.save(update_fields=["condition"])


def move_question(survey: Survey, key: str, step: int) -> None:
    """Move a question one place up (step -1) or down (+1) in the order, across pages too."""
    with transaction.atomic():
        draft = draft_version(survey)
        ordered = list(draft.questions.order_by("page", "order", "pk"))
        index = next((i for i, item in enumerate(ordered) if item.key == key), None)
        if index is None:
            raise SurveyError(_("no such question"))
        other = index + step
        if not 0 <= other < len(ordered):
            return
        ordered[index], ordered[other] = ordered[other], ordered[index]
        # The moved question takes the page of the place it lands on.
        ordered[other].page, ordered[index].page = ordered[index].page, ordered[other].page
        for i, item in enumerate(ordered):
            item.order = 10 * (i + 1)
        Question.objects.bulk_update(ordered, ["order", "page"])


# --- invitations ------------------------------------------------------------------------------


def create_invitation(
    version: SurveyVersion,
    *,
    channel: str,
    customer: Customer | None = None,
    touchpoint: Touchpoint | None = None,
    unit: OrgUnit | None = None,
    language: str | None = None,
    status: str = Invitation.Status.SCHEDULED,
    expires_at: dt.datetime | None = None,
) -> tuple[Invitation, str]:
    """A new invitation and its token (shown once: only a hash of it is stored).

    The touchpoint's staff and unit are copied onto the invitation as the answer's context.
    """
    if version.published_at is None:
        raise SurveyError(_("only a published version can be sent"))
    secret = tokens.new_secret()
    lang = language or (customer.preferred_language if customer else q.DEFAULT_LANGUAGE)
    invitation = Invitation.objects.create(
        version=version,
        survey_id=version.survey_id,
        customer=customer,
        channel=channel,
        touchpoint=touchpoint,
        staff_id=touchpoint.staff_id if touchpoint else None,
        unit_id=touchpoint.unit_id if touchpoint else (unit.pk if unit else None),
        token_hash=tokens.hash_secret(secret),
        status=status,
        language=lang if lang in q.LANGUAGES else q.DEFAULT_LANGUAGE,
        expires_at=expires_at or timezone.now() + DEFAULT_VALIDITY,
    )
    return invitation, tokens.invitation_token(invitation.pk, secret)


def issue_token(invitation: Invitation) -> str:
    """A fresh token for an invitation (e.g. for a reminder); the previous link stops working."""
    secret = tokens.new_secret()
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=tokens.hash_secret(secret))
    invitation.token_hash = tokens.hash_secret(secret)
    return tokens.invitation_token(invitation.pk, secret)


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a genuine token names, with its version, survey and response; else None."""
    parsed = tokens.read_invitation_token(token)
    if parsed is None:
        return None
    ident, secret = parsed
    invitation = (
        Invitation.objects.select_related("version", "survey", "response", "customer")
        .filter(pk=ident)
        .first()
    )
    if invitation is None or not tokens.secret_matches(secret, invitation.token_hash):
        return None
    return invitation


def link_problem(invitation: Invitation, now: dt.datetime | None = None) -> str | None:
    """Why the link cannot be answered: "answered", "expired", "closed", or None when it can."""
    response = getattr(invitation, "response", None)
    if invitation.status == Invitation.Status.COMPLETED or (
        response is not None and response.state == Response.State.COMPLETED
    ):
        return "answered"
    if invitation.survey.archived:
        return "closed"
    if invitation.status in {Invitation.Status.EXPIRED, Invitation.Status.SUPPRESSED}:
        return "expired"
    if invitation.expires_at is not None and invitation.expires_at <= (now or timezone.now()):
        return "expired"
    return None


def mark_opened(invitation: Invitation) -> None:
    """Record the first visit (the funnel's "opened"), never moving a later status back."""
    if invitation.status in {Invitation.Status.SCHEDULED, Invitation.Status.SENT}:
        now = timezone.now()
        Invitation.objects.filter(
            pk=invitation.pk, status__in=[Invitation.Status.SCHEDULED, Invitation.Status.SENT]
        ).update(status=Invitation.Status.OPENED, opened_at=now)
        invitation.status, invitation.opened_at = Invitation.Status.OPENED, now


def set_language(invitation: Invitation, language: str) -> None:
    """Keep the respondent's language choice on the invitation and its response."""
    if language not in q.LANGUAGES or language == invitation.language:
        return
    Invitation.objects.filter(pk=invitation.pk).update(language=language)
    invitation.language = language
    response = getattr(invitation, "response", None)
    if response is not None:
        Response.objects.filter(pk=response.pk).update(language=language)
        response.language = language


def public_invitation(payload: Mapping[str, Any]) -> tuple[Survey, SurveyVersion, OrgUnit | None]:
    """The survey, live version and unit a genuine public-link payload names.

    Raises SurveyError when the survey is gone, archived or has no published version.
    """
    survey = Survey.objects.filter(pk=payload["s"], archived=False).first()
    version = live_version(survey) if survey else None
    if survey is None or version is None:
        raise SurveyError("closed")
    unit = OrgUnit.objects.filter(pk=payload["u"]).first() if payload.get("u") else None
    return survey, version, unit


# --- answering --------------------------------------------------------------------------------


@dataclass
class PageOutcome:
    """What happened to a submitted page: "next", "invalid", "completed" or "answered"."""

    status: str
    page: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    response: Response | None = None


def saved_answers(response: Response | None, specs: Sequence[q.QuestionSpec]) -> dict[str, Any]:
    """The response's stored answers by question key."""
    if response is None or response.pk is None:
        return {}
    key_of = {s.id: s.key for s in specs}
    return {
        key_of[a.question_id]: a.value
        for a in Answer.objects.filter(response=response)
        if a.question_id in key_of
    }


def current_page(
    response: Response | None, specs: Sequence[q.QuestionSpec], answers: Mapping[str, Any]
) -> int | None:
    """The page to show: the saved one for a response in progress, else the first."""
    if response is not None and q.visible_on_page(specs, response.current_page, answers):
        return response.current_page
    if response is not None:
        return q.next_page(specs, response.current_page, answers)
    return q.first_page(specs, answers)


def submit_page(
    invitation: Invitation,
    page: int,
    form: Mapping[str, Sequence[str]],
    *,
    language: str,
    back: bool = False,
) -> PageOutcome:
    """Validate and store one page of answers for an invitation; complete after the last page.

    Runs in one transaction under a lock on the invitation. A page other than the response's
    current one (a stale tab, a replayed form) changes nothing and sends the respondent to it.
    """
    specs = version_specs(invitation.version)
    with transaction.atomic():
        locked = (
            Invitation.objects.select_for_update().select_related("survey").get(pk=invitation.pk)
        )
        response = Response.objects.filter(invitation=locked).first()
        if locked.status == Invitation.Status.COMPLETED or (
            response is not None and response.state == Response.State.COMPLETED
        ):
            return PageOutcome("answered", response=response)
        answers = saved_answers(response, specs)
        expected = current_page(response, specs, answers)
        if page != expected:
            return PageOutcome("next", page=expected, response=response)
        if back:
            previous = q.previous_page(specs, page, answers)
            if response is not None and previous is not None:
                Response.objects.filter(pk=response.pk).update(current_page=previous)
            return PageOutcome("next", page=previous or page, response=response)
        values, errors = q.validate_page(specs, page, form, answers)
        if errors:
            return PageOutcome("invalid", page=page, values=values, errors=errors)
        now = timezone.now()
        if response is None:
            response = _start_response(locked, language, now)
        by_key = {s.key: s for s in specs}
        page_ids = [s.id for s in specs if s.page == page]
        Answer.objects.filter(response=response, question_id__in=page_ids).delete()
        Answer.objects.bulk_create(
            Answer(
                response=response,
                question_id=by_key[key].id,
                **Answer.columns_for(by_key[key].type, value),
            )
            for key, value in values.items()
            if value is not None
        )
        answers.update(values)
        following = q.next_page(specs, page, answers)
        if following is None:
            complete(response, specs, answers, now)
            return PageOutcome("completed", response=response)
        Response.objects.filter(pk=response.pk).update(current_page=following, language=language)
        response.current_page = following
        return PageOutcome("next", page=following, response=response)


def _start_response(invitation: Invitation, language: str, now: dt.datetime) -> Response:
    anonymous = invitation.survey.anonymous
    response = Response.objects.create(
        invitation=invitation,
        survey_id=invitation.survey_id,
        version_id=invitation.version_id,
        customer_id=None if anonymous else invitation.customer_id,
        language=language,
        channel=invitation.channel,
        touchpoint_id=None if anonymous else invitation.touchpoint_id,
        staff_id=None if anonymous else invitation.staff_id,
        unit_id=invitation.unit_id,
        started_at=now,
    )
    Invitation.objects.filter(
        pk=invitation.pk,
        status__in=[
            Invitation.Status.SCHEDULED,
            Invitation.Status.SENT,
            Invitation.Status.OPENED,
            Invitation.Status.BOUNCED,
        ],
    ).update(status=Invitation.Status.STARTED, started_at=now)
    return response


def complete(
    response: Response,
    specs: Sequence[q.QuestionSpec],
    answers: Mapping[str, Any],
    now: dt.datetime,
) -> bool:
    """Score and close a response, once: False when it was already completed.

    Answers to questions that ended up hidden are dropped, so they count nowhere. Emits
    `response.completed` in the caller's transaction.
    """
    kept = q.visible_answers(specs, answers)
    stale = [s.id for s in specs if s.key in answers and s.key not in kept]
    by_key = {s.key: s for s in specs}
    scores = scoring.response_scores(
        ((by_key[k].role, v) for k, v in kept.items()),
        tier_rules=scoring.merged_tier_rules(getattr(settings, "RAPPORT_ENGAGEMENT_TIERS", None)),
        csi_weights=scoring.merged_csi_weights(getattr(settings, "RAPPORT_CSI_WEIGHTS", None)),
    )
    survey = Survey.objects.only("name", "kind", "anonymous").get(pk=response.survey_id)
    columns = {
        **scores,
        "nps_class": scores["nps_class"] or "",
        "tier": scores["tier"] or "",
        "state": Response.State.COMPLETED,
        "completed_at": now,
        "duration_seconds": max(int((now - response.started_at).total_seconds()), 0),
    }
    done = Response.objects.filter(pk=response.pk, state=Response.State.IN_PROGRESS).update(
        **columns
    )
    if not done:
        return False
    invitation_id = response.invitation_id
    if survey.anonymous:
        # Sever the link to the invitation, which names its recipient: an anonymous answer
        # must not lead back to a person. The invitation's status still marks the link used.
        Response.objects.filter(pk=response.pk).update(invitation=None)
        response.invitation = None
    if stale:
        Answer.objects.filter(response=response, question_id__in=stale).delete()
    for name, value in columns.items():
        setattr(response, name, value)
    if invitation_id:
        Invitation.objects.filter(pk=invitation_id).update(
            status=Invitation.Status.COMPLETED, completed_at=now
        )
    emit("response.completed", [completed_payload(response, survey)])
    return True


def completed_payload(response: Response, survey: Survey) -> dict[str, Any]:
    return {
        "response_id": response.pk,
        "survey_id": survey.pk,
        "survey_name": survey.name,
        "survey_kind": survey.kind,
        "version_id": response.version_id,
        "customer_id": response.customer_id,
        "touchpoint_id": response.touchpoint_id,
        "staff_id": response.staff_id,
        "unit_id": response.unit_id,
        "channel": response.channel,
        "language": response.language,
        "completed_at": response.completed_at.isoformat() if response.completed_at else None,
        "scores": response.score_fields(),
    }


def start_public_response(
    payload: Mapping[str, Any], form: Mapping[str, Sequence[str]], *, language: str
) -> tuple[PageOutcome, str | None]:
    """First page of an anonymous (QR/link/widget) response: (outcome, token to continue with).

    Nothing is written until the first page is valid; then an invitation without a customer and
    its response are created, and the respondent continues on the invitation's own token.
    """
    survey, version, unit = public_invitation(payload)
    specs = version_specs(version)
    page = q.first_page(specs, {})
    if page is None:
        raise SurveyError("closed")
    values, errors = q.validate_page(specs, page, form, {})
    if errors:
        return PageOutcome("invalid", page=page, values=values, errors=errors), None
    with transaction.atomic():
        invitation, token = create_invitation(
            version,
            channel=payload.get("c", Invitation.Channel.LINK),
            unit=unit,
            language=language,
            status=Invitation.Status.OPENED,
        )
        invitation.survey = survey
        outcome = submit_page(invitation, page, form, language=language)
    return outcome, token
