"""What every API endpoint shares: who is calling (API key or session), the one error shape, and
reading bulk bodies (a JSON array or NDJSON).

Errors always look like {"error": {"code", "message", "details": [{"loc", "msg"}]}}, whatever
raised them (ninja's validation, authentication, a missing object, a body too large, a bug).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader, HttpBearer, SessionAuth
from ninja.utils import check_csrf

from rapport.core.ingestion import ERROR_KEY, LINE_KEY
from rapport.org import scoping

if TYPE_CHECKING:
    from ninja import NinjaAPI

    from rapport.integrations.models import ApiKey

log = logging.getLogger(__name__)

# The Django permission a session user needs for what an API key's scope allows.
SCOPE_PERMISSIONS: dict[str, str] = {
    "customers:read": "customers.view_customer",
    "customers:write": "customers.add_customer",
    "touchpoints:read": "touchpoints.view_touchpoint",
    "touchpoints:write": "touchpoints.add_touchpoint",
    "webhooks:manage": "integrations.change_webhooksubscription",
    "surveys:read": "surveys.view_survey",
    "responses:write": "surveys.add_response",
    "cases:read": "cases.view_case",
    "cases:write": "cases.change_case",
    "feedback:read": "feedback.view_feedbackitem",
    "feedback:write": "feedback.add_feedbackitem",
}

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled",
    500: "internal_error",
}

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl"}


class ApiError(Exception):
    """An error answered in the one shape; `details` are [{"loc": [...], "msg": ...}]."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = headers or {}


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> dict:
    return {"error": {"code": code, "message": message, "details": list(details)}}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    response = JsonResponse(
        error_body(code or STATUS_CODES.get(status, "error"), message, details), status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="rapport"'
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]


def _http_error_details(exc: HttpError) -> list[dict[str, Any]]:
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return [{"loc": ["body"], "msg": f"line {cause.lineno}, column {cause.colno}: {cause.msg}"}]
    return []


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every exception the API can meet in the one error shape."""

    def handle(exc_class: type[Exception], fn: Callable[[Any], HttpResponse]) -> None:
        api.add_exception_handler(exc_class, lambda request, exc: fn(exc))

    handle(ApiError, lambda e: error_response(e.status, e.message, e.code, e.details, e.headers))
    handle(
        ValidationError,
        lambda e: error_response(
            422,
            _("The request is not valid."),
            "validation_error",
            _validation_details(e.errors),
        ),
    )
    handle(
        AuthenticationError,
        lambda e: error_response(
            401, _("Authentication required: send an API key or log in."), "not_authenticated"
        ),
    )
    handle(
        HttpError,
        lambda e: error_response(e.status_code, str(e), details=_http_error_details(e)),
    )
    handle(Http404, lambda e: error_response(404, _("Not found."), "not_found"))
    handle(ObjectDoesNotExist, lambda e: error_response(404, _("Not found."), "not_found"))
    handle(
        RequestDataTooBig,
        lambda e: error_response(413, _("The request body is too large."), "payload_too_large"),
    )

    def internal(exc: Exception) -> HttpResponse:
        log.error("API error", exc_info=exc)
        return error_response(500, _("Internal error; it has been logged."), "internal_error")

    handle(Exception, internal)


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(404, _("No such API endpoint: %(path)s") % {"path": request.path})


def with_json_405(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers a wrong method with a bare 405; give it the error shape (Allow kept)."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            return error_response(
                405,
                _("Method %(method)s not allowed here; allowed: %(allowed)s")
                % {"method": request.method, "allowed": allowed},
                headers={"Allow": allowed},
            )
        return response

    for attr in ("csrf_exempt", "__name__", "__doc__"):
        if hasattr(view, attr):
            setattr(wrapped, attr, getattr(view, attr))
    return wrapped


# ---- who is calling -------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The caller: an API key (sees the whole enterprise) or a logged-in user (scoped)."""

    key: ApiKey | None = None
    user: Any = None

    def scoped(self, qs: QuerySet, unit_field: str) -> QuerySet:
        """Limit a queryset to what the caller may see; `unit_field` leads to an OrgUnit."""
        if self.key is not None:
            return qs
        return scoping.scope(qs, self.user, unit_field)


def _key_principal(raw: str, scope: str | None) -> Principal:
    from rapport.integrations.actions import authenticate_key

    key = authenticate_key(raw.strip())
    if key is None:
        raise ApiError(401, _("The API key is not valid or has been revoked."), "not_authenticated")
    if scope is not None and scope not in key.scopes:
        raise ApiError(
            403,
            _("This API key lacks the scope %(scope)s.") % {"scope": scope},
            "forbidden",
        )
    return Principal(key=key)


class BearerKey(HttpBearer):
    """`Authorization: Bearer rk_...`"""

    def __init__(self, scope: str | None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        return _key_principal(token, self.scope)


class HeaderKey(APIKeyHeader):
    """`X-API-Key: rk_...`"""

    param_name = "X-API-Key"

    def __init__(self, scope: str | None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        if not key:
            return None
        return _key_principal(key, self.scope)


class Session(SessionAuth):
    """The UI's login. CSRF is checked for unsafe methods, after the login (so that a caller
    with neither key nor session gets 401, not a CSRF error)."""

    def __init__(self, scope: str | None) -> None:
        self.scope = scope
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Principal | None:
        user = request.user
        if not user.is_authenticated:
            return None
        if request.method not in {"GET", "HEAD", "OPTIONS", "TRACE"} and check_csrf(request):
            raise ApiError(403, _("CSRF check failed: send the X-CSRFToken header."), "csrf_failed")
        permission = SCOPE_PERMISSIONS.get(self.scope or "")
        if permission and not user.has_perm(permission):
            raise ApiError(403, _("You do not have permission to do this."), "forbidden")
        return Principal(user=user)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        return self(request)


def auth(scope: str | None) -> list:
    """The auth list of an endpoint that needs `scope` (None: any authenticated caller)."""
    return [BearerKey(scope), HeaderKey(scope), Session(scope)]


def principal(request: HttpRequest) -> Principal:
    return request.auth  # type: ignore[attr-defined, no-any-return]


def get_visible(qs: QuerySet, request: HttpRequest, unit_field: str, **lookup: Any) -> Model:
    """One object the caller may see, else 404 (never 403: another unit's data is not there)."""
    obj = principal(request).scoped(qs, unit_field).filter(**lookup).first()
    if obj is None:
        raise ApiError(404, _("Not found."), "not_found")
    return obj


# ---- query values ---------------------------------------------------------------------------


def parse_instant(value: str | None, field: str, end: bool = False) -> datetime | None:
    """An ISO datetime or date from a query parameter. A date means its midnight (for `end`, the
    next midnight, so `to=2024-05-31` includes the 31st); a time without offset is in the
    enterprise's time zone."""
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) == 10 else None  # parse_datetime takes dates too
        at = None if day else parse_datetime(value)
    except ValueError:
        at = day = None
    if at is None and day is None:
        raise ApiError(
            422,
            _("Not a date or time: %(value)s") % {"value": value[:40]},
            "validation_error",
            [{"loc": ["query", field], "msg": _("expected an ISO 8601 date or date-time")}],
        )
    if at is None:
        assert day is not None
        at = datetime.combine(day + timedelta(days=1) if end else day, time())
    if timezone.is_naive(at):
        at = timezone.make_aware(at, enterprise_tz())
    return at


def enterprise_tz() -> Any:
    from zoneinfo import ZoneInfo

    from rapport.org.models import OrgUnit

    root = OrgUnit.enterprise()
    return root.tz if root else ZoneInfo(settings.RAPPORT_DEFAULT_TIME_ZONE)


# ---- bulk bodies ----------------------------------------------------------------------------


def read_body(request: HttpRequest) -> bytes:
    """The raw body, up to RAPPORT_API_MAX_BODY_BYTES (gzip allowed with Content-Encoding);
    read from the stream, so Django's small form-upload limit does not apply."""
    limit = int(getattr(settings, "RAPPORT_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    too_large = ApiError(
        413,
        _("The request body is larger than %(mb)d MB; send fewer records per request.")
        % {"mb": limit // (1024 * 1024)},
        "payload_too_large",
    )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_large
    data = request.body if hasattr(request, "_body") else request.read(limit + 1)
    if len(data) > limit:
        raise too_large
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in {"gzip", "x-gzip"}:
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error as exc:
            raise ApiError(400, _("The body is not valid gzip: %(e)s") % {"e": exc}) from exc
        if len(data) > limit or inflater.unconsumed_tail:
            raise too_large
    elif encoding not in {"", "identity"}:
        raise ApiError(415, _("Unsupported Content-Encoding: %(e)s") % {"e": encoding})
    return data


def _too_many(limit: int) -> ApiError:
    return ApiError(
        413,
        _("Too many records: at most %(n)d per request.") % {"n": limit},
        "payload_too_large",
        [{"loc": ["body"], "msg": _("split the records into requests of %(n)d") % {"n": limit}}],
    )


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            _("The body is not UTF-8 (byte %(pos)d).") % {"pos": exc.start},
            details=[{"loc": ["body"], "msg": _("send JSON encoded as UTF-8")}],
        ) from exc


def parse_records(body: bytes, content_type: str, limit: int) -> list[dict[str, Any]]:
    """The records of a bulk body: a JSON array of objects, or NDJSON (one object a line).

    A record that cannot be read (a broken NDJSON line, a non-object) stays in the list as
    {"_line": n, "_error": why}, so the ingester rejects it in its place and the others go on.
    A body that is not an array at all is a 400; more than `limit` records a 413.
    """
    text = _text(body)
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        return _ndjson_records(text, limit)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            _("The body is not valid JSON."),
            details=[{"loc": ["body"], "msg": f"line {exc.lineno}, column {exc.colno}: {exc.msg}"}],
        ) from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ApiError(
            400,
            _("Send a JSON array of records (or NDJSON with Content-Type application/x-ndjson)."),
        )
    if len(data) > limit:
        raise _too_many(limit)
    return [
        r if isinstance(r, dict) else {ERROR_KEY: _("a record must be a JSON object")} for r in data
    ]


def _ndjson_records(text: str, limit: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(records) >= limit:
            raise _too_many(limit)
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append(
                {
                    LINE_KEY: number,
                    ERROR_KEY: _("line %(n)d is not valid JSON: %(msg)s (column %(col)d)")
                    % {"n": number, "msg": exc.msg, "col": exc.colno},
                }
            )
            continue
        if not isinstance(value, dict):
            records.append(
                {LINE_KEY: number, ERROR_KEY: _("line %(n)d is not a JSON object") % {"n": number}}
            )
            continue
        value[LINE_KEY] = number
        records.append(value)
    return records


class RecordError(Schema):
    field: str | None
    msg: str


class RecordResult(Schema):
    index: int = Field(description="0-based position of the record in the request")
    line: int | None = Field(None, description="line of an NDJSON body")
    status: str = Field(description="created | updated | duplicate | rejected | review")
    id: int | None
    errors: list[RecordError]


class BulkResult(Schema):
    source: str
    received: int
    created: int
    updated: int = Field(description="customers only: existing customers whose data changed")
    duplicates: int
    rejected: int
    review: int
    results: list[RecordResult]


BULK_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}, "maxItems": 10000}
            },
            "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def bulk_ingest(request: HttpRequest, ingest: Callable[..., Any], source: str) -> HttpResponse:
    """Read a bulk body, run `ingest` record by record (a bad record never costs the good ones)
    and answer each record's fate in input order."""
    limit = int(settings.RAPPORT_API_MAX_RECORDS)
    records = parse_records(read_body(request), request.content_type or "", limit)
    try:
        report = ingest(records, source=source, mode="per_record", keep_outcomes=True)
    except ValueError as exc:  # e.g. an invalid source name
        raise ApiError(
            400, str(exc), details=[{"loc": ["query", "source"], "msg": str(exc)}]
        ) from exc
    results = [
        {
            "index": outcome.index,
            "line": records[outcome.index].get(LINE_KEY),
            "status": outcome.status,
            "id": outcome.id,
            "errors": [{"field": p.field, "msg": p.message} for p in outcome.problems],
        }
        for outcome in report.outcomes or ()
    ]
    return JsonResponse(
        {
            "source": source,
            "received": len(records),
            "created": report.created,
            "updated": report.updated,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "review": report.review,
            "results": results,
        }
    )
