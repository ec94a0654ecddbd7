"""Survey operations, each with one home that views, API and commands call.

Definitions: a survey's latest version is either a draft (editable) or published (frozen). Every
edit goes through `draft_version`, which clones the published version into a new draft first, so a
version that may have responses never changes. `publish` freezes the draft.

Answering: `submit_page` saves one page of answers under a lock on the invitation (PostgreSQL:
SELECT ... FOR UPDATE; SQLite: the IMMEDIATE transaction, taken in turn through
rapport.surveys.writer, which also commits the submits that arrive together in one transaction),
and `complete` flips the response to completed with a conditional UPDATE, so two racing submits
store one response, once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from rapport.customers.models import Customer
from rapport.org.models import OrgUnit
from rapport.surveys import library, scoring, tokens, writer
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
ModelT = TypeVar("ModelT", bound=models.Model)
_SPEC_CACHE_SIZE = 512
_spec_cache: dict[tuple[int, Any], tuple[q.QuestionSpec, ...]] = {}
_version_cache: dict[tuple[int, dt.datetime], SurveyVersion] = {}


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
    """The invitation a genuine token names, with its version, survey and response; else None.

    The answering page's hot path: one lean query (no ORM compilation), the survey's few fields
    the page needs, and the published version from the in-process cache. Fields not read here
    are deferred, so touching one still loads it.
    """
    parsed = tokens.read_invitation_token(token)
    if parsed is None:
        return None
    ident, secret = parsed
    with connection.cursor() as cursor:
        cursor.execute(_INVITATION_SQL, [ident])
        row = cursor.fetchone()
    if row is None:
        return None
    n, m = len(_INVITATION_COLUMNS), len(_INVITATION_COLUMNS) + len(_SURVEY_COLUMNS)
    invitation = _from_row(Invitation, _INVITATION_COLUMNS, row[:n])
    if not tokens.secret_matches(secret, invitation.token_hash):
        return None
    invitation.survey = _from_row(Survey, _SURVEY_COLUMNS, row[n:m])
    invitation.version = published_version(invitation.version_id, _aware(row[m]))
    if row[m + 1] is None:
        Invitation._meta.get_field("response").set_cached_value(invitation, None)
    else:
        invitation.response = _from_row(Response, _RESPONSE_COLUMNS, row[m + 1 :])
    return invitation


_INVITATION_COLUMNS = [
    "id",
    "version_id",
    "survey_id",
    "customer_id",
    "channel",
    "status",
    "token_hash",
    "language",
    "touchpoint_id",
    "staff_id",
    "unit_id",
    "opened_at",
    "expires_at",
]
_SURVEY_COLUMNS = ["id", "name", "kind", "anonymous", "archived"]
# What answering reads of a response, and what `complete`'s event payload needs.
_RESPONSE_COLUMNS = [
    "id",
    "invitation_id",
    "survey_id",
    "version_id",
    "customer_id",
    "language",
    "channel",
    "touchpoint_id",
    "staff_id",
    "unit_id",
    "state",
    "current_page",
    "started_at",
]
_INVITATION_SQL = (
    "SELECT "
    + ", ".join(f"i.{c}" for c in _INVITATION_COLUMNS)
    + ", "
    + ", ".join(f"s.{c}" for c in _SURVEY_COLUMNS)
    + ", v.published_at, "
    + ", ".join(f"r.{c}" for c in _RESPONSE_COLUMNS)
    + " FROM surveys_invitation i"
    " JOIN surveys_survey s ON s.id = i.survey_id"
    " JOIN surveys_surveyversion v ON v.id = i.version_id"
    " LEFT JOIN surveys_response r ON r.invitation_id = i.id"
    " WHERE i.id = %s"
)


def _from_row(model: type[ModelT], columns: Sequence[str], values: Sequence[Any]) -> ModelT:
    """An instance from some columns read with a plain cursor, typed as the ORM would type them
    (aware datetimes, booleans); the fields not read are deferred and load when touched."""
    by_name = dict(zip(columns, values, strict=True))
    names, typed = [], []
    for attname, kind in _field_kinds(model):
        if attname in by_name:
            value = by_name[attname]
            if kind == "DateTimeField":
                value = _aware(value)
            elif kind == "BooleanField" and value is not None:
                value = bool(value)
            names.append(attname)
            typed.append(value)
    return model.from_db(connection.alias, names, typed)


@functools.cache
def _field_kinds(model: type[models.Model]) -> tuple[tuple[str, str], ...]:
    """(attname, internal type) of the model's columns, in the order Model.from_db expects."""
    return tuple((f.attname, f.get_internal_type()) for f in model._meta.concrete_fields)


def _aware(value: Any) -> dt.datetime | None:
    """A datetime column read with a plain cursor, as the ORM would give it (aware, in UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def _db_datetime(value: dt.datetime) -> Any:
    """A datetime as a plain cursor's parameter, stored as the ORM stores it."""
    return connection.ops.adapt_datetimefield_value(value)


def _execute(sql: str, params: Sequence[Any]) -> int:
    """Run one statement on the default connection; returns the rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def published_version(version_id: int, published_at: dt.datetime | None) -> SurveyVersion:
    """The version, from an in-process cache when published (a published version never changes;
    the key includes published_at so a reused id after a deletion is not mistaken for it)."""
    if published_at is None:
        return SurveyVersion.objects.get(pk=version_id)
    key = (version_id, published_at)
    version = _version_cache.get(key)
    if version is None:
        version = SurveyVersion.objects.get(pk=version_id)
        if len(_version_cache) >= _SPEC_CACHE_SIZE:
            _version_cache.clear()
        _version_cache[key] = version
    return version


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
        with writer.answering_write():
            _execute(
                "UPDATE surveys_invitation SET status = %s, opened_at = %s"
                " WHERE id = %s AND status IN (%s, %s)",
                [
                    Invitation.Status.OPENED,
                    _db_datetime(now),
                    invitation.pk,
                    Invitation.Status.SCHEDULED,
                    Invitation.Status.SENT,
                ],
            )
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
    """The response's stored answers by question key (as Answer.value reads them)."""
    if response is None or response.pk is None:
        return {}
    key_of = {s.id: s.key for s in specs}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT question_id, value_number, value_text, value_choices"
            " FROM surveys_answer WHERE response_id = %s",
            [response.pk],
        )
        rows = cursor.fetchall()
    answers = {}
    for question_id, number, text, choices in rows:
        if question_id not in key_of:
            continue
        if isinstance(choices, str):
            choices = json.loads(choices)
        if choices is not None:
            answers[key_of[question_id]] = list(choices)
        elif number is not None:
            answers[key_of[question_id]] = number
        else:
            answers[key_of[question_id]] = text or None
    return answers


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
    The hot path of the public page, a response whose first page is also its last, is made
    ready before the write lock (validated, scored, its rows built) and stored completed with a
    few lean statements under it. On SQLite the submits that arrive together are committed
    together (rapport.surveys.writer); each returns once its COMMIT is done.
    """
    submitted = _Submitted(
        invitation, version_specs(invitation.version), page, form, language, back
    )
    ready = _prepare_at_once(submitted)
    return writer.submit(
        functools.partial(_submit_locked, submitted, ready),
        bulk=None if ready is None else _store_many_at_once,
        item=(invitation.pk, ready),
    )


class _Submitted(NamedTuple):
    """A page as `submit_page` got it, with its version's questions."""

    invitation: Invitation
    specs: Sequence[q.QuestionSpec]
    page: int
    form: Mapping[str, Sequence[str]]
    language: str
    back: bool


@dataclass
class _AtOnce:
    """A one-page response made ready outside the write lock: the response, the context it was
    built with, and the INSERT parameters of its row and of its answers' rows (their response
    id left to fill in). Building these was a quarter of the CPU spent under the lock."""

    response: Response
    context: dict[str, Any]
    row: list[Any]
    answer_rows: list[list[Any]]
    has_text: bool


def _at_once(
    invitation: Invitation,
    specs: Sequence[q.QuestionSpec],
    kept: Mapping[str, Any],
    language: str,
    now: dt.datetime,
) -> _AtOnce:
    context = _at_once_context(invitation, language, now)
    response = Response(**context, **_completion_columns(specs, kept, now, now))
    return _AtOnce(
        response,
        context,
        _row_params(response),
        [_row_params(answer) for answer in _answer_rows(response, specs, kept)],
        _has_text(specs, kept),
    )


def _at_once_context(invitation: Invitation, language: str, now: dt.datetime) -> dict[str, Any]:
    context = _response_context(invitation, language, now)
    if invitation.survey.anonymous:
        context["invitation_id"] = None  # see `complete`
    return context


def _prepare_at_once(submitted: _Submitted) -> _AtOnce | None:
    """The completed response a valid first-and-last page makes, as far as it can be built from
    the invitation read before the lock; None for any other submit. `_submit_locked` uses it
    only if, under the lock, the invitation still has no response (so nothing here can differ
    from what the lock would have seen)."""
    invitation, specs, page, form, language, back = submitted
    if back or getattr(invitation, "response", None) is not None:
        return None
    if page != q.first_page(specs, {}):
        return None
    values, errors = q.validate_page(specs, page, form, {})
    if errors or q.next_page(specs, page, values) is not None:
        return None
    return _at_once(invitation, specs, q.visible_answers(specs, values), language, timezone.now())


def _submit_locked(submitted: _Submitted, ready: _AtOnce | None) -> PageOutcome:
    """`submit_page`'s reads and writes, in the caller's write transaction."""
    invitation, specs, page, form, language, back = submitted
    locked = _lock_invitation(invitation.pk)
    response = _response_for(invitation.pk)
    if locked.status == Invitation.Status.COMPLETED or (
        response is not None and response.state == Response.State.COMPLETED
    ):
        return PageOutcome("answered", response=response)
    if ready is not None and response is None:
        return PageOutcome("completed", response=_store_at_once(locked, ready))
    answers = saved_answers(response, specs)
    expected = current_page(response, specs, answers)
    if page != expected:
        return PageOutcome("next", page=expected, response=response)
    if back:
        previous = q.previous_page(specs, page, answers)
        if response is not None and previous is not None:
            _execute(
                "UPDATE surveys_response SET current_page = %s WHERE id = %s",
                [previous, response.pk],
            )
        return PageOutcome("next", page=previous or page, response=response)
    values, errors = q.validate_page(specs, page, form, answers)
    if errors:
        return PageOutcome("invalid", page=page, values=values, errors=errors)
    now = timezone.now()
    answers.update(values)
    following = q.next_page(specs, page, answers)
    if response is None and following is None:
        ready = _at_once(locked, specs, q.visible_answers(specs, answers), language, now)
        return PageOutcome("completed", response=_store_at_once(locked, ready))
    if response is None:
        response = _start_response(locked, language, now)
    else:
        page_ids = [s.id for s in specs if s.page == page]
        _execute(
            "DELETE FROM surveys_answer WHERE response_id = %s AND question_id IN ("
            + ", ".join(["%s"] * len(page_ids))
            + ")",
            [response.pk, *page_ids],
        )
    _insert_rows(_answer_rows(response, specs, values))
    if following is None:
        complete(response, specs, answers, now, survey=locked.survey)
        return PageOutcome("completed", response=response)
    _execute(
        "UPDATE surveys_response SET current_page = %s, language = %s WHERE id = %s",
        [following, language, response.pk],
    )
    response.current_page = following
    return PageOutcome("next", page=following, response=response)


_LOCK_COLUMNS = [
    "id",
    "version_id",
    "survey_id",
    "customer_id",
    "channel",
    "status",
    "touchpoint_id",
    "staff_id",
    "unit_id",
]
_LOCK_FIELDS = ", ".join([*(f"i.{c}" for c in _LOCK_COLUMNS), *(f"s.{c}" for c in _SURVEY_COLUMNS)])
_LOCK_SQL = (
    f"SELECT {_LOCK_FIELDS} FROM surveys_invitation i"
    " JOIN surveys_survey s ON s.id = i.survey_id WHERE i.id = %s"
)
# Many invitations as `_LOCK_SQL` reads one, and whether each has a response (SQLite: under the
# IMMEDIATE transaction's lock, so the join is as current as the invitation).
_MANY_SQL = (
    f"SELECT {_LOCK_FIELDS}, r.id FROM surveys_invitation i"
    " JOIN surveys_survey s ON s.id = i.survey_id"
    " LEFT JOIN surveys_response r ON r.invitation_id = i.id"
)
_STARTABLE = (
    Invitation.Status.SCHEDULED,
    Invitation.Status.SENT,
    Invitation.Status.OPENED,
    Invitation.Status.BOUNCED,
)


def _lock_invitation(invitation_id: int) -> Invitation:
    """The invitation as it is now, with its survey, locked until the transaction ends
    (PostgreSQL: FOR UPDATE; SQLite: the IMMEDIATE transaction already holds the write lock)."""
    sql = _LOCK_SQL
    if connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF i"
    elif connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [invitation_id])
        row = cursor.fetchone()
    if row is None:
        raise Invitation.DoesNotExist(f"invitation {invitation_id}")
    invitation = _from_row(Invitation, _LOCK_COLUMNS, row[: len(_LOCK_COLUMNS)])
    invitation.survey = _from_row(Survey, _SURVEY_COLUMNS, row[len(_LOCK_COLUMNS) :])
    return invitation


def _response_for(invitation_id: int) -> Response | None:
    """The invitation's response (the fields answering reads; the rest load when touched)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(_RESPONSE_COLUMNS) + " FROM surveys_response"
            " WHERE invitation_id = %s",
            [invitation_id],
        )
        row = cursor.fetchone()
    return None if row is None else _from_row(Response, _RESPONSE_COLUMNS, row)


def _answer_rows(
    response: Response, specs: Sequence[q.QuestionSpec], values: Mapping[str, Any]
) -> list[Answer]:
    by_key = {s.key: s for s in specs}
    return [
        Answer(
            response=response,
            question_id=by_key[key].id,
            **Answer.columns_for(by_key[key].type, value),
        )
        for key, value in values.items()
        if value is not None
    ]


def _insert_rows(rows: Sequence[models.Model]) -> None:
    """INSERT instances of one model in one statement and set their ids. The answering path's
    inserts: the ORM spent more CPU building each INSERT than the database spent on it, inside
    the write lock that every submit waits for."""
    if not rows:
        return
    ids = _insert_params(type(rows[0]), [_row_params(obj) for obj in rows])
    for obj, pk in zip(rows, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def _row_params(obj: models.Model) -> list[Any]:
    """An instance's INSERT parameters, in `_insert_fields` order."""
    return [
        f.get_db_prep_save(f.pre_save(obj, True), connection) for f in _insert_fields(type(obj))
    ]


def _insert_params(model: type[models.Model], rows: Sequence[Sequence[Any]]) -> list[int]:
    """INSERT rows of parameters (see `_row_params`) in one statement; their new ids, in order."""
    if not rows:
        return []
    fields = _insert_fields(model)
    qn = connection.ops.quote_name
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        if not connection.features.can_return_rows_from_bulk_insert:  # SQLite before 3.35
            ids = []
            for params in rows:
                cursor.execute(f"{sql} VALUES {row}", params)
                ids.append(cursor.lastrowid)
            return ids
        cursor.execute(
            f"{sql} VALUES {', '.join([row] * len(rows))} RETURNING {qn(model._meta.pk.column)}",
            [value for params in rows for value in params],
        )
        return [r[0] for r in cursor.fetchall()]


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


_ANSWER_RESPONSE = _insert_fields(Answer).index(Answer._meta.get_field("response"))


def _response_context(invitation: Invitation, language: str, now: dt.datetime) -> dict[str, Any]:
    """A new response's columns from its invitation (no identity for an anonymous survey)."""
    anonymous = invitation.survey.anonymous
    return {
        "invitation_id": invitation.pk,
        "survey_id": invitation.survey_id,
        "version_id": invitation.version_id,
        "customer_id": None if anonymous else invitation.customer_id,
        "language": language,
        "channel": invitation.channel,
        "touchpoint_id": None if anonymous else invitation.touchpoint_id,
        "staff_id": None if anonymous else invitation.staff_id,
        "unit_id": invitation.unit_id,
        "started_at": now,
    }


def _start_response(invitation: Invitation, language: str, now: dt.datetime) -> Response:
    response = Response(**_response_context(invitation, language, now))
    _insert_rows([response])
    _execute(
        "UPDATE surveys_invitation SET status = %s, started_at = %s"
        " WHERE id = %s AND status IN (%s, %s, %s, %s)",
        [Invitation.Status.STARTED, _db_datetime(now), invitation.pk, *_STARTABLE],
    )
    return response


def _store_at_once(invitation: Invitation, ready: _AtOnce) -> Response:
    """Store a response whose first page is its last, completed, with its scores, at once.

    `invitation` is the one read under the lock: its context columns are taken again from it.
    Ends where `_start_response` + `complete` would: the same rows, the same event."""
    response = ready.response
    survey = invitation.survey
    now = response.completed_at
    _take_context(invitation, ready)
    _insert_ready([ready])
    _execute(
        "UPDATE surveys_invitation SET status = %s, completed_at = %s,"
        " started_at = CASE WHEN status IN (%s, %s, %s, %s) THEN %s ELSE started_at END"
        " WHERE id = %s",
        [
            Invitation.Status.COMPLETED,
            _db_datetime(now),
            *_STARTABLE,
            _db_datetime(now),
            invitation.pk,
        ],
    )
    writer.emit_completed(
        "response.completed", [completed_payload(response, survey, ready.has_text)]
    )
    return response


def _store_many_at_once(items: Sequence[tuple[int, _AtOnce]]) -> list[Any]:
    """`_store_at_once` for the one-page responses of a batch (writer.submit's `bulk`): one read
    of their invitations under the lock, one INSERT of the responses, one of the answers, one
    UPDATE of the invitations, one event. An invitation that is not plainly unanswered (it has a
    response, it is used, it is gone, it comes twice in the batch) is left to the submit's own
    path (writer.AGAIN), which runs after this in the same transaction and so sees it."""
    ids = sorted({invitation_id for invitation_id, _ready in items})
    with connection.cursor() as cursor:
        cursor.execute(
            _MANY_SQL + " WHERE i.id IN (" + ", ".join(["%s"] * len(ids)) + ")",
            ids,
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    n = len(_LOCK_COLUMNS)
    out: list[Any] = []
    taken: dict[int, tuple[Invitation, _AtOnce]] = {}
    for invitation_id, ready in items:
        row = rows.get(invitation_id)
        if row is None or invitation_id in taken or row[-1] is not None:  # gone, twice, begun
            out.append(writer.AGAIN)
            continue
        invitation = _from_row(Invitation, _LOCK_COLUMNS, row[:n])
        if invitation.status not in _STARTABLE:  # used, expired…: the plain path says so
            out.append(writer.AGAIN)
            continue
        invitation.survey = _from_row(Survey, _SURVEY_COLUMNS, row[n:-1])
        _take_context(invitation, ready)
        taken[invitation_id] = (invitation, ready)
        out.append(PageOutcome("completed", response=ready.response))
    if not taken:
        return out
    chosen = list(taken.values())
    _insert_ready([ready for _invitation, ready in chosen])
    when = " ".join(["WHEN %s THEN %s"] * len(chosen))
    times = [
        value
        for invitation, ready in chosen
        for value in (invitation.pk, _db_datetime(ready.response.completed_at))
    ]
    _execute(
        f"UPDATE surveys_invitation SET status = %s, completed_at = CASE id {when} END,"
        f" started_at = CASE WHEN status IN (%s, %s, %s, %s) THEN CASE id {when} END"
        " ELSE started_at END"
        " WHERE id IN (" + ", ".join(["%s"] * len(chosen)) + ")",
        [
            Invitation.Status.COMPLETED,
            *times,
            *_STARTABLE,
            *times,
            *(invitation.pk for invitation, _ready in chosen),
        ],
    )
    writer.emit_completed(
        "response.completed",
        [
            completed_payload(ready.response, invitation.survey, ready.has_text)
            for invitation, ready in chosen
        ],
    )
    return out


def _take_context(invitation: Invitation, ready: _AtOnce) -> None:
    """Take a prepared response's context columns from its invitation as read under the lock
    (the same as read before it, unless, say, a customer merge moved the invitation)."""
    response = ready.response
    context = _at_once_context(invitation, response.language, response.started_at)
    if context != ready.context:
        for name, value in context.items():
            setattr(response, name, value)
        ready.context, ready.row = context, _row_params(response)


def _insert_ready(batch: Sequence[_AtOnce]) -> None:
    """INSERT prepared responses, then their answers: two statements however many."""
    ids = _insert_params(Response, [ready.row for ready in batch])
    answer_rows = []
    for ready, pk in zip(batch, ids, strict=True):
        ready.response.pk = pk
        ready.response._state.adding = False
        ready.response._state.db = connection.alias
        for row in ready.answer_rows:
            row[_ANSWER_RESPONSE] = pk
            answer_rows.append(row)
    _insert_params(Answer, answer_rows)


def _has_text(specs: Sequence[q.QuestionSpec], kept: Mapping[str, Any]) -> bool:
    texts = {s.key for s in specs if s.type == q.TEXT}
    return any(isinstance(v, str) and v.strip() for k, v in kept.items() if k in texts)


def _completion_columns(
    specs: Sequence[q.QuestionSpec],
    kept: Mapping[str, Any],
    started_at: dt.datetime,
    now: dt.datetime,
) -> dict[str, Any]:
    """The columns a completed response gets: its scores, state and timing."""
    by_key = {s.key: s for s in specs}
    scores = scoring.response_scores(
        ((by_key[k].role, v) for k, v in kept.items()),
        tier_rules=scoring.merged_tier_rules(getattr(settings, "RAPPORT_ENGAGEMENT_TIERS", None)),
        csi_weights=scoring.merged_csi_weights(getattr(settings, "RAPPORT_CSI_WEIGHTS", None)),
    )
    return {
        **scores,
        "nps_class": scores["nps_class"] or "",
        "tier": scores["tier"] or "",
        "state": Response.State.COMPLETED,
        "completed_at": now,
        "duration_seconds": max(int((now - started_at).total_seconds()), 0),
    }


def complete(
    response: Response,
    specs: Sequence[q.QuestionSpec],
    answers: Mapping[str, Any],
    now: dt.datetime,
    *,
    survey: Survey | None = None,
) -> bool:
    """Score and close a response, once: False when it was already completed.

    Answers to questions that ended up hidden are dropped, so they count nowhere. Emits
    `response.completed` in the caller's transaction. `survey` (name, kind, anonymous) saves
    a query when the caller has it.
    """
    kept = q.visible_answers(specs, answers)
    stale = [s.id for s in specs if s.key in answers and s.key not in kept]
    if survey is None:
        survey = Survey.objects.only("name", "kind", "anonymous").get(pk=response.survey_id)
    columns = _completion_columns(specs, kept, response.started_at, now)
    invitation_id = response.invitation_id
    # Sever an anonymous answer's link to the invitation, which names its recipient: it must
    # not lead back to a person. The invitation's status still marks the link used.
    severed = {"invitation": None} if survey.anonymous else {}
    done = Response.objects.filter(pk=response.pk, state=Response.State.IN_PROGRESS).update(
        **columns, **severed
    )
    if not done:
        return False
    if survey.anonymous:
        response.invitation = None
    if stale:
        Answer.objects.filter(response=response, question_id__in=stale).delete()
    for name, value in columns.items():
        setattr(response, name, value)
    if invitation_id:
        _execute(
            "UPDATE surveys_invitation SET status = %s, completed_at = %s WHERE id = %s",
            [Invitation.Status.COMPLETED, _db_datetime(now), invitation_id],
        )
    writer.emit_completed(
        "response.completed", [completed_payload(response, survey, _has_text(specs, kept))]
    )
    return True


def completed_payload(
    response: Response, survey: Survey, has_text: bool | None = None
) -> dict[str, Any]:
    """The `response.completed` event. `has_text`: whether an open-text answer was given (None:
    not known here), so listeners that read open text can skip the rest cheaply."""
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
        "has_text": has_text,
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
    with writer.answering_write():
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
