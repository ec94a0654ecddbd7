"""Validating one customer record (docs/import.md) into canonical values. No ORM.

A field left out (absent, null or empty) means "no change" for an existing customer; a field given
replaces the stored value. Attributes must be registered (AttributeDefinition) so that their type
is known: an unknown `attr.NAME` is an error naming it, never silently stored as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from django.utils.translation import gettext as _

from rapport.core.ingestion import Problem, unknown_field_message, unknown_fields
from rapport.customers import normalize

FIELDS = frozenset(
    {"external_id", "name", "email", "phone", "language", "unit", "attributes", "consent"}
)
REQUIRED_COLUMNS = ("external_id",)
ATTR_PREFIX = "attr."
CONSENT_PREFIX = "consent."
CONSENT_CHANNELS = ("email", "sms", "phone", "mail")
CONSENT_PURPOSES = ("survey", "service", "marketing")


class CustomerRecord(NamedTuple):
    external_id: str
    name: str | None
    email: str | None
    phone: str | None
    language: str | None
    unit_id: int | None
    attributes: dict[str, Any]
    consents: dict[tuple[str, str], bool]


class Lookups(NamedTuple):
    units: Mapping[str, int]
    attributes: Mapping[str, str]  # name → type
    region: str  # for phone numbers without a country code


def parse(record: Mapping[str, Any], line: int, lk: Lookups) -> CustomerRecord | list[Problem]:
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(line, field, message))

    def field(name: str, fn: Any) -> Any:
        value = record.get(name)
        if normalize.is_blank(value):
            return None
        try:
            return fn(value)
        except ValueError as exc:
            bad(name, str(exc))
            return None

    for name in unknown_fields(record, FIELDS, (ATTR_PREFIX, CONSENT_PREFIX)):
        bad(name, unknown_field_message(name))
    ext = field("external_id", lambda v: normalize.text(v, 200))
    if not ext and not any(p.field == "external_id" for p in problems):
        bad("external_id", _("required"))
    name = field("name", lambda v: normalize.text(v, 200))
    email = field("email", normalize.email)
    phone = field("phone", lambda v: normalize.phone(v, lk.region))
    language = field("language", normalize.language)
    unit_id = None
    unit = field("unit", lambda v: normalize.text(v, 64))
    if unit:
        unit_id = lk.units.get(unit)
        if unit_id is None:
            bad("unit", _("unknown unit %(code)s") % {"code": unit})

    attributes: dict[str, Any] = {}
    given = record.get("attributes")
    items = []
    if isinstance(given, dict):
        items = [(f"{ATTR_PREFIX}{k}", k, v) for k, v in given.items()]
    elif not normalize.is_blank(given):
        bad("attributes", _("expected an object of names to values"))
    items += [(k, k[len(ATTR_PREFIX) :], v) for k, v in record.items() if k.startswith(ATTR_PREFIX)]
    for column, attr, value in items:
        if normalize.is_blank(value):
            continue
        type_ = lk.attributes.get(attr)
        if type_ is None:
            bad(column, _("unknown attribute %(name)s; define it first") % {"name": attr})
            continue
        try:
            attributes[attr] = normalize.attribute(type_, value)
        except ValueError as exc:
            bad(column, str(exc))

    consents: dict[tuple[str, str], bool] = {}
    given = record.get("consent")
    items = []
    if isinstance(given, dict):
        items = [(f"{CONSENT_PREFIX}{k}", k, v) for k, v in given.items()]
    elif not normalize.is_blank(given):
        bad("consent", _('expected an object such as {"email.marketing": true}'))
    items += [
        (k, k[len(CONSENT_PREFIX) :], v) for k, v in record.items() if k.startswith(CONSENT_PREFIX)
    ]
    for column, key, value in items:
        channel, _dot, purpose = key.partition(".")
        if channel not in CONSENT_CHANNELS or purpose not in CONSENT_PURPOSES:
            bad(
                column,
                _(
                    "consent columns are consent.CHANNEL.PURPOSE: "
                    "CHANNEL one of %(c)s, PURPOSE one of %(p)s"
                )
                % {"c": ", ".join(CONSENT_CHANNELS), "p": ", ".join(CONSENT_PURPOSES)},
            )
            continue
        if normalize.is_blank(value):
            continue
        try:
            consents[(channel, purpose)] = normalize.boolean(value)
        except ValueError as exc:
            bad(column, str(exc))

    if problems:
        return problems
    return CustomerRecord(ext, name, email, phone, language, unit_id, attributes, consents)
