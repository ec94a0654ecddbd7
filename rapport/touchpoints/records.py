"""Validating one touchpoint record: the documented fields (docs/import.md) → canonical values.

No ORM here: the ingester hands in the lookups it loaded once (units, staff, kinds), so the hot
loop is dictionary look-ups. This runs for every row of a multi-million-row import: it avoids
exceptions and allocations on the good path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from django.utils.translation import gettext as _

from rapport.core.ingestion import Problem, unknown_field_message, unknown_fields
from rapport.customers import normalize
from rapport.touchpoints.kinds import CHANNELS

CUSTOMER_FIELDS = ("customer_external_id", "customer_email", "customer_phone")
FIELDS = frozenset(
    {
        "external_id",
        *CUSTOMER_FIELDS,
        "customer_name",
        "occurred_at",
        "kind",
        "channel",
        "unit",
        "staff",
        "amount",
        "margin",
        "currency",
        "context",
    }
)
REQUIRED_COLUMNS = ("occurred_at", "kind")  # and one of CUSTOMER_FIELDS
CONTEXT_PREFIX = "context."
_PLAIN_MONEY = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")
_CENT = Decimal("0.01")
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
UTC = dt.UTC


class Touchpoint(NamedTuple):
    external_id: str
    customer_external_id: str
    customer_email: str
    customer_phone: str
    customer_name: str
    occurred_at: dt.datetime  # aware, UTC
    channel: str
    kind: str
    unit_id: int | None
    staff_id: int | None
    amount: Decimal | None
    margin: Decimal | None
    currency: str
    context: dict[str, Any]


class Lookups(NamedTuple):
    """What a record's codes resolve against, loaded once per ingestion."""

    units: Mapping[str, tuple[int, dt.tzinfo]]
    staff: Mapping[str, int]
    kinds: frozenset[str]
    default_tz: dt.tzinfo  # for naive times without a unit: the enterprise's, else the setting
    latest: dt.datetime  # now + RAPPORT_MAX_FUTURE_DAYS


def _code(value: Any) -> str | None:
    if type(value) is str:
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class Parser:
    """Validates records against one set of lookups. Remembers each record shape (its keys) it
    has seen, so that the unknown-field check and the context columns cost nothing per CSV row."""

    def __init__(self, lookups: Lookups) -> None:
        self.lk = lookups
        self.shapes: dict[tuple[str, ...], tuple[list[str], list[tuple[str, str]]]] = {}

    def shape(self, record: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
        keys = tuple(record)
        found = self.shapes.get(keys)
        if found is None:
            unknown = unknown_fields(record, FIELDS, (CONTEXT_PREFIX,))
            context = [(k, k[len(CONTEXT_PREFIX) :]) for k in keys if k.startswith(CONTEXT_PREFIX)]
            found = (unknown, context)
            if len(self.shapes) < 256:
                self.shapes[keys] = found
        return found

    def parse(self, record: Mapping[str, Any], line: int) -> Touchpoint | list[Problem]:
        """The record's canonical values, or every problem in it (all at once, not the first)."""
        lk = self.lk
        get = record.get
        unknown, context_keys = self.shape(record)
        problems: list[Problem] = []

        def bad(field: str | None, message: str) -> None:
            problems.append(Problem(line, field, message))

        for name in unknown:
            bad(name, unknown_field_message(name))

        ext = get("external_id")
        ext = (
            ext.strip()
            if type(ext) is str and len(ext) <= 200
            else _id_field(ext, "external_id", bad)
        )
        cust_ext = get("customer_external_id")
        if type(cust_ext) is str and len(cust_ext) <= 200:
            cust_ext = cust_ext.strip()
        else:
            cust_ext = _id_field(cust_ext, "customer_external_id", bad)
        cust_email = get("customer_email")
        if normalize.is_blank(cust_email):
            cust_email = ""
        else:
            try:
                cust_email = normalize.email(cust_email)
            except ValueError as exc:
                bad("customer_email", str(exc))
                cust_email = ""
        cust_phone = get("customer_phone")
        if normalize.is_blank(cust_phone):
            cust_phone = ""
        elif isinstance(cust_phone, int | str) and not isinstance(cust_phone, bool):
            cust_phone = str(cust_phone).strip()  # normalised only when used to find a customer
        else:
            bad("customer_phone", _("expected a phone number as text"))
            cust_phone = ""
        cust_name = get("customer_name") or ""
        if cust_name:
            try:
                cust_name = normalize.text(cust_name, 200)
            except ValueError as exc:
                bad("customer_name", str(exc))
        if not (cust_ext or cust_email or cust_phone) and not any(
            p.field in CUSTOMER_FIELDS for p in problems
        ):
            bad(
                "customer_external_id",
                _("required: customer_external_id (or customer_email / customer_phone)"),
            )

        unit_id: int | None = None
        tz = lk.default_tz
        unit = get("unit")
        if unit:
            found = lk.units.get(unit) if type(unit) is str else None
            found = found or lk.units.get(_code(unit) or "")
            if found is None:
                bad("unit", _("unknown unit %(code)s") % {"code": str(unit)[:64]})
            else:
                unit_id, tz = found
        staff_id: int | None = None
        staff = get("staff")
        if staff:
            staff_id = lk.staff.get(staff) if type(staff) is str else None
            staff_id = staff_id or lk.staff.get(_code(staff) or "")
            if staff_id is None:
                bad("staff", _("unknown staff member %(code)s") % {"code": str(staff)[:64]})

        occurred = _occurred_at(get("occurred_at"), tz, lk.latest, bad)

        kind = get("kind")
        if type(kind) is not str or kind not in lk.kinds:
            kind = kind.strip().lower() if type(kind) is str else ""
            if kind not in lk.kinds:
                bad(
                    "kind",
                    _("unknown kind %(kind)s") % {"kind": kind[:64]} if kind else _("required"),
                )
        channel = get("channel")
        if type(channel) is not str or channel not in CHANNELS:
            if channel is None or channel == "":
                channel = "other"
            else:
                channel = channel.strip().lower() if type(channel) is str else ""
                if channel not in CHANNELS:
                    bad(
                        "channel",
                        _("unknown channel %(channel)s; use one of %(choices)s")
                        % {"channel": str(get("channel"))[:32], "choices": ", ".join(CHANNELS)},
                    )

        amount = get("amount")
        amount = None if amount is None or amount == "" else _money(amount, "amount", bad)
        margin = get("margin")
        margin = None if margin is None or margin == "" else _money(margin, "margin", bad)
        currency = get("currency")
        if currency is None or currency == "":
            currency = ""
            if amount is not None or margin is not None:
                bad("currency", _("required when amount or margin is given"))
        elif not (
            type(currency) is str
            and len(currency) == 3
            and currency.isupper()
            and currency.isalpha()
        ):
            try:
                currency = normalize.currency(currency)
            except ValueError as exc:
                bad("currency", str(exc))

        given = get("context")
        if given is None and not context_keys:
            context: dict[str, Any] = {}
        else:
            context = _context(record, given, context_keys, bad)
        if problems:
            return problems
        assert occurred is not None
        if not ext:
            ext = content_hash(
                cust_ext, cust_email, cust_phone, occurred, channel, kind, _code(unit) or "",
                _code(staff) or "", amount, margin, currency, context,
            )  # fmt: skip
        return Touchpoint(
            ext, cust_ext, cust_email, cust_phone, cust_name, occurred, channel, kind,
            unit_id, staff_id, amount, margin, currency, context,
        )  # fmt: skip


def _id_field(value: Any, field: str, bad: Any) -> str:
    if value is None or value == "":
        return ""
    code = _code(value)
    if code is None:
        bad(field, _("expected text or a whole number"))
        return ""
    if len(code) > 200:
        bad(field, _("longer than %(n)d characters") % {"n": 200})
        return ""
    return code


def _occurred_at(value: Any, tz: dt.tzinfo, latest: dt.datetime, bad: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        bad("occurred_at", _("required: an ISO 8601 date and time, e.g. 2024-05-01T14:30:00+08:00"))
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        bad(
            "occurred_at",
            _("%(value)s is not an ISO 8601 date and time, e.g. 2024-05-01T14:30:00+08:00")
            % {"value": value[:40]},
        )
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    when = when.astimezone(UTC)
    if when < EARLIEST:
        bad("occurred_at", _("%(value)s is before 1900") % {"value": value[:40]})
        return None
    if when > latest:
        bad("occurred_at", _("%(value)s is too far in the future") % {"value": value[:40]})
        return None
    return when


def _money(value: Any, field: str, bad: Any) -> Decimal | None:
    if type(value) is str and _PLAIN_MONEY.match(value):
        return Decimal(value).quantize(_CENT)  # the common case, already in the strict form
    try:
        return normalize.decimal(value)
    except ValueError as exc:
        bad(field, str(exc))
        return None


def _context(
    record: Mapping[str, Any], given: Any, columns: list[tuple[str, str]], bad: Any
) -> dict[str, Any]:
    if given is None or given == "":
        context: dict[str, Any] = {}
    elif isinstance(given, dict):
        context = dict(given)
    else:
        bad("context", _("expected an object of names to values"))
        context = {}
    for key, name in columns:
        value = record[key]
        if value is not None and value != "":
            if not name:
                bad(key, _("a context column needs a name after 'context.'"))
            else:
                context[name] = value
    return context


def content_hash(*values: Any) -> str:
    """A stable id for a record its source gave none: the same content gives the same id."""
    canonical = json.dumps(
        [v.isoformat() if isinstance(v, dt.datetime) else v for v in values],
        sort_keys=True,
        default=str,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
