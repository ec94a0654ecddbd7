"""Writing responses collected elsewhere (another survey tool, a paper form, a partner): the one
path `POST /api/v1/responses`, `rapport import responses` and the demo generator call.

A record names its survey (and version: the live one by default), its customer by external id in
the source system (resolved through rapport.customers.ingest.identity_map; never created), the
touchpoint it is about (its staff and unit become the response's context, as on the public page),
when it was completed, language, channel and the answers by question key. The answers are judged
by rapport.surveys.questions.validate_page page by page — exactly as the public page judges them,
display conditions and required questions included — and scored by rapport.surveys.scoring, like
rapport.surveys.actions.complete does. A completed response emits `response.completed`.

Idempotent by (source, external_id): each imported response gets an invitation whose token hash
is a key derived from them (results.IMPORTED_PREFIX), so sending a record again is a duplicate.
Writes go in per batch with bulk inserts; transactions per mode as in rapport.customers.ingest.
On PostgreSQL an advisory lock serialises the duplicate check between concurrent writers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from rapport.core import events
from rapport.core.fileio import FileProblem, Schema
from rapport.core.ingestion import (
    ERROR_KEY,
    LINE_KEY,
    IngestReport,
    Problem,
    RejectHook,
    Tally,
    line_of,
    read_error,
)
from rapport.customers.ingest import identity_map, run_batches, source_for
from rapport.org.models import OrgUnit
from rapport.surveys import actions, results, scoring
from rapport.surveys import questions as q
from rapport.surveys.models import Answer, Invitation, Response, Survey
from rapport.touchpoints.models import Touchpoint

__all__ = ["FIELDS", "import_schema", "ingest_responses"]

FIELDS = frozenset(
    {
        "external_id",
        "survey",
        "survey_version",
        "customer_external_id",
        "touchpoint_external_id",
        "unit",
        "completed_at",
        "started_at",
        "language",
        "channel",
        "answers",
    }
)
REQUIRED_COLUMNS = ("completed_at",)
MULTI_SEPARATOR = "|"  # a CSV cell holding several choices: "a|b"
MAX_ID = 200
_LOCK_KEY = 0x52455350  # "RESP": serialises the duplicate check on PostgreSQL
_YES = {"1", "yes", "y", "true"}
_NO = {"0", "no", "n", "false"}


@dataclass(frozen=True)
class _Version:
    id: int
    number: int
    specs: tuple[q.QuestionSpec, ...]
    by_key: dict[str, q.QuestionSpec]


@dataclass
class _Survey:
    survey: Survey
    versions: dict[int, _Version]  # published ones, by number
    live: int | None


@dataclass
class _Parsed:
    index: int
    record: Mapping[str, Any]
    line: int
    key: str
    survey: _Survey
    version: _Version
    customer_ext: str
    touchpoint_ext: str
    unit_id: int | None
    completed_at: dt.datetime
    started_at: dt.datetime
    language: str
    channel: str
    answers: dict[str, Any]
    scores: dict[str, Any] = field(default_factory=dict)


def response_key(source_id: int, external_id: str) -> str:
    """What an imported response's invitation stores in place of a token hash."""
    digest = hashlib.sha256(f"{source_id}\x00{external_id}".encode()).hexdigest()
    return results.IMPORTED_PREFIX + digest[: 64 - len(results.IMPORTED_PREFIX)]


def _load_survey(survey_id: int) -> _Survey | None:
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        return None
    versions = {
        v.number: _Version(v.pk, v.number, specs, {s.key: s for s in specs})
        for v in survey.versions.filter(published_at__isnull=False).order_by("number")
        if (specs := actions.version_specs(v)) is not None
    }
    return _Survey(survey, versions, max(versions) if versions else None)


def import_schema(survey_id: int | None) -> Schema:
    """The columns a response file may have for this survey: the fields and its question keys.

    Raises FileProblem when the survey does not exist or was never published.
    """
    found = _load_survey(survey_id) if survey_id is not None else None
    if found is None or found.live is None:
        raise FileProblem(
            _("Give --survey ID of a published survey (see the survey list).")
            if survey_id is None
            else _("Survey %(id)s does not exist or has no published version.") % {"id": survey_id}
        )
    keys = {s.key for v in found.versions.values() for s in v.specs}
    return Schema(FIELDS | keys, (), REQUIRED_COLUMNS)


def ingester(survey_id: int) -> Callable[..., IngestReport]:
    """ingest_responses for one survey: what `rapport import responses --survey ID` runs."""
    return partial(ingest_responses, survey=survey_id)


def ingest_responses(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str,
    mode: str = "all_or_nothing",
    keep_outcomes: bool = False,
    progress: Callable[[int], None] | None = None,
    emit_events: bool = True,
    on_reject: RejectHook | None = None,
    survey: int | None = None,
) -> IngestReport:
    """Validate and write completed responses from `source` (created when unknown).

    `survey` fixes the survey of every record (the import command's --survey); without it each
    record names its own. Modes as rapport.touchpoints.ingest.ingest_touchpoints.
    """
    writer = _Writer(source, keep_outcomes or mode == "per_record", emit_events, on_reject, survey)
    return run_batches(records, mode, writer.tally, writer.process, progress, writer.prepare)


class _Writer:
    def __init__(
        self,
        source: str,
        keep_outcomes: bool,
        emit_events: bool,
        on_reject: RejectHook | None,
        survey: int | None,
    ) -> None:
        self.tally = Tally(keep_outcomes, on_reject)
        self.source_code = source
        self.fixed_survey = survey
        self.surveys: dict[int, _Survey | None] = {}
        self.units = dict(OrgUnit.objects.values_list("code", "id"))
        self.tz = results.enterprise_tz()
        self.emit = emit_events
        self.tier_rules = scoring.merged_tier_rules(
            getattr(settings, "RAPPORT_ENGAGEMENT_TIERS", None)
        )
        self.csi_weights = scoring.merged_csi_weights(
            getattr(settings, "RAPPORT_CSI_WEIGHTS", None)
        )

    def prepare(self) -> None:
        """Find or create the source, inside the import's transaction when all-or-nothing."""
        self.source, self.tally.report.source_created = source_for(self.source_code)

    # --- reading one record -----------------------------------------------------------------

    def survey_info(self, survey_id: int) -> _Survey | None:
        if survey_id not in self.surveys:
            self.surveys[survey_id] = _load_survey(survey_id)
        return self.surveys[survey_id]

    def parse(self, index: int, record: Mapping[str, Any]) -> _Parsed | list[Problem]:
        line = line_of(index, record)
        problems: list[Problem] = []

        def bad(name: str | None, message: str) -> None:
            problems.append(Problem(line, name, message))

        target = self._survey(record, bad)
        version = self._version(target, record.get("survey_version"), bad) if target else None
        completed = self._instant(record.get("completed_at"), "completed_at", bad, required=True)
        started = self._instant(record.get("started_at"), "started_at", bad) or completed
        if completed and started and started > completed:
            bad("started_at", _("is after completed_at"))
        language = _text(record.get("language")).lower().replace("_", "-") or q.DEFAULT_LANGUAGE
        if language not in q.LANGUAGES:
            bad("language", _("use one of %(v)s") % {"v": ", ".join(q.LANGUAGES)})
        channel = _text(record.get("channel")) or Invitation.Channel.LINK
        if channel not in Invitation.Channel.values:
            bad("channel", _("use one of %(v)s") % {"v": ", ".join(Invitation.Channel.values)})
        unit_code = _text(record.get("unit"))
        if unit_code and unit_code not in self.units:
            bad("unit", _("no unit with the code %(code)s") % {"code": unit_code[:64]})
        external_id = _text(record.get("external_id")) or _record_hash(record)
        customer_ext = _text(record.get("customer_external_id"))
        touchpoint_ext = _text(record.get("touchpoint_external_id"))
        for name, value in (
            ("external_id", external_id),
            ("customer_external_id", customer_ext),
            ("touchpoint_external_id", touchpoint_ext),
        ):
            if len(value) > MAX_ID:
                bad(name, _("longer than %(n)d characters") % {"n": MAX_ID})
        answers = self._answers(record, version, bad) if version else {}
        if problems or target is None or version is None or completed is None:
            return problems
        assert started is not None
        parsed = _Parsed(
            index=index,
            record=record,
            line=line,
            key=response_key(self.source.pk, external_id),
            survey=target,
            version=version,
            customer_ext=customer_ext,
            touchpoint_ext=touchpoint_ext,
            unit_id=self.units.get(unit_code),
            completed_at=completed,
            started_at=started,
            language=language,
            channel=channel,
            answers=answers,
        )
        by_key = version.by_key
        parsed.scores = scoring.response_scores(
            ((by_key[k].role, v) for k, v in answers.items()),
            tier_rules=self.tier_rules,
            csi_weights=self.csi_weights,
        )
        return parsed

    def _survey(self, record: Mapping[str, Any], bad: Callable[[str | None, str], None]) -> Any:
        raw = record.get("survey")
        if self.fixed_survey is not None:
            if raw not in (None, "") and str(raw).strip() != str(self.fixed_survey):
                bad("survey", _("the file is for survey %(id)s") % {"id": self.fixed_survey})
                return None
            raw = self.fixed_survey
        survey_id = _integer(raw)
        if survey_id is None:
            bad("survey", _("required: the survey's id") if raw in (None, "") else _("not an id"))
            return None
        found = self.survey_info(survey_id)
        if found is None or found.live is None:
            bad("survey", _("no published survey %(id)s") % {"id": survey_id})
            return None
        return found

    def _version(
        self, target: _Survey, raw: Any, bad: Callable[[str | None, str], None]
    ) -> _Version | None:
        if raw in (None, ""):
            return target.versions[target.live]  # type: ignore[index]
        number = _integer(raw)
        if number is None or number not in target.versions:
            bad(
                "survey_version",
                _("survey %(id)s has no published version %(v)s")
                % {"id": target.survey.pk, "v": str(raw)[:20]},
            )
            return None
        return target.versions[number]

    def _instant(
        self,
        raw: Any,
        name: str,
        bad: Callable[[str | None, str], None],
        required: bool = False,
    ) -> dt.datetime | None:
        text = _text(raw)
        if not text:
            if required:
                bad(name, _("required"))
            return None
        try:
            at = parse_datetime(text)
        except ValueError:
            at = None
        if at is None:
            bad(name, _("not an ISO 8601 date-time: %(v)s") % {"v": text[:40]})
            return None
        if timezone.is_naive(at):
            at = at.replace(tzinfo=self.tz)
        latest = timezone.now() + dt.timedelta(days=settings.RAPPORT_MAX_FUTURE_DAYS)
        if at > latest:
            bad(name, _("is in the future"))
            return None
        return at

    def _answers(
        self,
        record: Mapping[str, Any],
        version: _Version,
        bad: Callable[[str | None, str], None],
    ) -> dict[str, Any]:
        """The typed answers that count, judged like the public page judges a form."""
        given: dict[str, Any] = {}
        nested = record.get("answers")
        if nested not in (None, ""):
            if isinstance(nested, Mapping):
                given.update(nested)
            else:
                bad("answers", _("must be an object of answers by question key"))
        for name, value in record.items():
            if name not in FIELDS and name not in (LINE_KEY, ERROR_KEY):
                if name in given:
                    bad(name, _("answered twice (as a column and in answers)"))
                given[name] = value
        by_key = version.by_key
        form: dict[str, list[str]] = {}
        for key, value in given.items():
            spec = by_key.get(key)
            if spec is None:
                bad(
                    key,
                    _("no question %(key)s in version %(v)d of this survey")
                    % {"key": str(key)[:64], "v": version.number},
                )
                continue
            form[f"q_{key}"] = _form_values(spec, value)
        answers: dict[str, Any] = {}
        for page in q.page_numbers(version.specs):
            values, errors = q.validate_page(version.specs, page, form, answers)
            for key, message in errors.items():
                bad(key, str(message))
            answers.update(values)
        kept = {k: v for k, v in q.visible_answers(version.specs, answers).items() if v is not None}
        for key in given:
            if key in by_key and key not in answers and any(v.strip() for v in form[f"q_{key}"]):
                bad(key, _("this question is not shown for these answers"))
        return kept

    # --- writing a batch --------------------------------------------------------------------

    def process(self, batch: list[tuple[int, Mapping[str, Any]]], write: bool) -> None:
        parsed: list[_Parsed] = []
        for index, record in batch:
            result = read_error(index, record) or self.parse(index, record)
            if isinstance(result, list):
                self.tally.reject(index, record, result)
            else:
                parsed.append(result)
        if write and parsed:
            self.write(parsed)

    def write(self, parsed: list[_Parsed]) -> None:
        tally = self.tally
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        customers = identity_map(self.source.pk, {p.customer_ext for p in parsed if p.customer_ext})
        touchpoints = {
            ext: (pk, customer, unit, staff)
            for ext, pk, customer, unit, staff in Touchpoint.objects.filter(
                source_id=self.source.pk,
                external_id__in=list({p.touchpoint_ext for p in parsed if p.touchpoint_ext}),
            ).values_list("external_id", "id", "customer_id", "unit_id", "staff_id")
        }
        existing = dict(
            Invitation.objects.filter(token_hash__in=[p.key for p in parsed]).values_list(
                "token_hash", "response"
            )
        )
        seen: dict[str, int] = {}  # key → position in `todo`, for repeats inside the batch
        todo: list[tuple[_Parsed, Invitation, Response]] = []
        repeats: list[tuple[_Parsed, int]] = []
        for p in parsed:
            if p.key in existing:
                tally.add(p.index, "duplicate", existing[p.key])
                continue
            if p.key in seen:
                repeats.append((p, seen[p.key]))
                continue
            built = self._build(p, customers, touchpoints)
            if isinstance(built, Problem):
                tally.reject(p.index, p.record, [built])
                continue
            seen[p.key] = len(todo)
            todo.append((p, *built))
        if todo:
            Invitation.objects.bulk_create([inv for _p, inv, _r in todo], batch_size=1000)
            for _p, inv, resp in todo:
                resp.invitation_id = inv.pk
            Response.objects.bulk_create([resp for _p, _i, resp in todo], batch_size=1000)
            self.insert_answers(
                (resp.pk, p.version.by_key[key], value)
                for p, _inv, resp in todo
                for key, value in p.answers.items()
            )
            for p, _inv, resp in todo:
                tally.add(p.index, "created", resp.pk)
            if self.emit:
                events.emit(
                    "response.completed",
                    [actions.completed_payload(resp, p.survey.survey) for p, _i, resp in todo],
                )
        for p, position in repeats:
            tally.add(p.index, "duplicate", todo[position][2].pk)

    def insert_answers(self, rows: Iterable[tuple[int, q.QuestionSpec, Any]]) -> None:
        """One raw executemany: tens of thousands of answers per batch, no ORM object each."""
        qn = connection.ops.quote_name
        postgres = connection.vendor == "postgresql"
        table = qn(Answer._meta.db_table)
        columns = ("response_id", "question_id", "value_number", "value_text", "value_choices")
        sql = (
            f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "
            f"VALUES (%s, %s, %s, %s, {'%s::jsonb' if postgres else '%s'})"
        )
        params = []
        for response_id, spec, value in rows:
            typed = Answer.columns_for(spec.type, value)
            choices = typed["value_choices"]
            params.append(
                (
                    response_id,
                    spec.id,
                    typed["value_number"],
                    typed["value_text"],
                    None if choices is None else json.dumps(choices, ensure_ascii=False),
                )
            )
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def _build(
        self,
        p: _Parsed,
        customers: Mapping[str, int],
        touchpoints: Mapping[str, tuple[int, int, int | None, int | None]],
    ) -> tuple[Invitation, Response] | Problem:
        customer_id = None
        if p.customer_ext:
            customer_id = customers.get(p.customer_ext)
            if customer_id is None:
                return Problem(
                    p.line,
                    "customer_external_id",
                    _("no customer with external id %(id)s in source %(source)s")
                    % {"id": p.customer_ext[:64], "source": self.source.code},
                )
        touchpoint_id = staff_id = None
        unit_id = p.unit_id
        if p.touchpoint_ext:
            found = touchpoints.get(p.touchpoint_ext)
            if found is None:
                return Problem(
                    p.line,
                    "touchpoint_external_id",
                    _("no touchpoint with external id %(id)s in source %(source)s")
                    % {"id": p.touchpoint_ext[:64], "source": self.source.code},
                )
            touchpoint_id, tp_customer, tp_unit, staff_id = found
            if customer_id is not None and tp_customer != customer_id:
                return Problem(
                    p.line, "touchpoint_external_id", _("the touchpoint is another customer's")
                )
            customer_id = tp_customer
            unit_id = unit_id or tp_unit
        if p.survey.survey.anonymous:  # as on the public page: no identity kept
            customer_id = touchpoint_id = staff_id = None
        invitation = Invitation(
            version_id=p.version.id,
            survey_id=p.survey.survey.pk,
            customer_id=customer_id,
            channel=p.channel,
            touchpoint_id=touchpoint_id,
            staff_id=staff_id,
            unit_id=unit_id,
            token_hash=p.key,
            status=Invitation.Status.COMPLETED,
            language=p.language,
            started_at=p.started_at,
            completed_at=p.completed_at,
        )
        scores = p.scores
        response = Response(
            survey_id=p.survey.survey.pk,
            version_id=p.version.id,
            customer_id=customer_id,
            language=p.language,
            channel=p.channel,
            touchpoint_id=touchpoint_id,
            staff_id=staff_id,
            unit_id=unit_id,
            state=Response.State.COMPLETED,
            current_page=max((s.page for s in p.version.specs), default=1),
            started_at=p.started_at,
            completed_at=p.completed_at,
            duration_seconds=int((p.completed_at - p.started_at).total_seconds()),
            **{**scores, "nps_class": scores["nps_class"] or "", "tier": scores["tier"] or ""},
        )
        return invitation, response


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if text.isdigit() else None


def _form_values(spec: q.QuestionSpec, value: Any) -> list[str]:
    """An answer as the page's form would send it, for validate_page to judge the same way."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["1" if value else "0"]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    if isinstance(value, list):
        return [_text(v) for v in value]
    text = str(value) if spec.type == q.TEXT else _text(value)
    if spec.type == q.MULTIPLE_CHOICE:
        return [part.strip() for part in text.split(MULTI_SEPARATOR) if part.strip()]
    if spec.type == q.YES_NO and text.lower() in _YES | _NO:
        return ["1" if text.lower() in _YES else "0"]
    return [text]


def _record_hash(record: Mapping[str, Any]) -> str:
    """A stable id for a record that has none, so that sending it again stays a no-op."""
    data = {k: v for k, v in record.items() if k not in (LINE_KEY, ERROR_KEY)}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[:40]
