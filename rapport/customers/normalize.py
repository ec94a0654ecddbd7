"""Normalising the values records bring in: email, phone, language, yes/no, numbers, dates.

Plain functions, no ORM: each returns the canonical value or raises ValueError with a message fit
for the person who sent the record. Values may be strings (CSV) or typed (JSON); both go through
the same rules, so a record means the same whichever way it came.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import phonenumbers
from django.utils.translation import gettext as _

# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mailer's job.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")

LANGUAGES = {
    "en": "en",
    "zh-hant": "zh-hant",
    "zh-hans": "zh-hans",
    "zh-tw": "zh-hant",
    "zh-hk": "zh-hant",
    "zh-mo": "zh-hant",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
}
_TRUE = {"yes", "y", "true", "t", "1", "是", "是的", "同意"}
_FALSE = {"no", "n", "false", "f", "0", "否", "不", "不同意"}


def is_blank(value: Any) -> bool:
    """Whether a record left the field out: absent, null or an empty/blank string."""
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: Any, max_length: int) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(_("expected text"))
    value = str(value).strip()
    if len(value) > max_length:
        raise ValueError(_("longer than %(n)d characters") % {"n": max_length})
    return value


def email(value: Any) -> str:
    """Lower-cased and trimmed; the whole address, as mail systems treat case alike in practice."""
    if not isinstance(value, str):
        raise ValueError(_("expected an email address as text"))
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError(_("not a valid email address: %(value)s") % {"value": value[:80]})
    return value


@lru_cache(maxsize=65536)
def _phone(value: str, region: str) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("not a valid phone number: %(value)s") % {"value": value[:40]}) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError(_("not a valid phone number: %(value)s") % {"value": value[:40]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone(value: Any, region: str) -> str:
    """E.164 ("+886912345678"); a number without country code is read in `region`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(_("expected a phone number as text"))
    return _phone(value.strip(), region)


def language(value: Any) -> str:
    """en / zh-hant / zh-hans from the spellings systems use (zh_TW, zh-CN, ZH-HK, ...)."""
    if not isinstance(value, str):
        raise ValueError(_("expected a language code as text"))
    key = value.strip().lower().replace("_", "-")
    if key in LANGUAGES:
        return LANGUAGES[key]
    raise ValueError(
        _("unknown language %(value)s; use en, zh-hant or zh-hans (zh-TW, zh-CN ... also work)")
        % {"value": value[:20]}
    )


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise ValueError(_("expected yes/no (yes, no, true, false, 1, 0, y, n, 是, 否)"))


def decimal(value: Any, places: int = 2, max_digits: int = 14) -> Decimal:
    """A plain decimal number: "1234.50" or 1234.5. Thousands separators are refused, not guessed,
    because "1,234" and "1.234" mean different numbers in different countries."""
    if isinstance(value, bool):
        raise ValueError(_("expected a number"))
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(_("expected a number"))
        number = Decimal(str(value))
    elif isinstance(value, str):
        raw = value.strip()
        if not _DECIMAL.match(raw):
            if "," in raw:
                msg = _("%(value)s: write numbers without thousands separators, e.g. 1234.50")
            else:
                msg = _("%(value)s is not a number")
            raise ValueError(msg % {"value": raw[:40]})
        number = Decimal(raw)
    elif isinstance(value, Decimal):
        number = value
    else:
        raise ValueError(_("expected a number"))
    try:
        quantised = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation as exc:
        raise ValueError(_("number too large")) from exc
    if quantised != number:
        raise ValueError(_("at most %(n)d decimal places") % {"n": places})
    if abs(quantised) >= Decimal(10) ** (max_digits - places):
        raise ValueError(_("number too large"))
    return quantised


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(_("expected a whole number"))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(_("expected a whole number"))


def date(value: Any) -> str:
    """An ISO date, kept as "YYYY-MM-DD" text (attributes live in JSON)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(_("expected a date as YYYY-MM-DD"))


def currency(value: Any) -> str:
    if isinstance(value, str) and _CURRENCY.match(value.strip()):
        return value.strip().upper()
    raise ValueError(_("expected a 3-letter ISO 4217 currency code, e.g. TWD"))


ATTRIBUTE_TYPES = {
    "string": lambda v: text(v, 1000),
    "integer": integer,
    "decimal": lambda v: format(decimal(v, places=6, max_digits=30).normalize(), "f"),
    "boolean": boolean,
    "date": date,
}


def attribute(type_: str, value: Any) -> Any:
    """A customer attribute value, typed by its definition, in a JSON-friendly form."""
    return ATTRIBUTE_TYPES[type_](value)
