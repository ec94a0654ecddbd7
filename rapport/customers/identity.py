"""Identity resolution rules: which customer a record belongs to, or that a person must decide.

Plain logic over ids the caller has looked up. Order: (source, external id), then normalised
email, then phone. Whenever the evidence points at more than one customer the answer is
"ambiguous" — never a guess — and the record goes to the review queue.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

MATCH, NEW, AMBIGUOUS = "match", "new", "ambiguous"


@dataclass(frozen=True)
class Resolution:
    kind: str  # MATCH | NEW | AMBIGUOUS
    customer_id: int | None = None
    by: str = ""  # "external_id" | "email" | "phone" for a match
    candidates: tuple[int, ...] = ()
    reason: str = ""


def resolve(
    by_identity: int | None,
    by_email: Collection[int] = (),
    by_phone: Collection[int] = (),
) -> Resolution:
    """Decide from the live (not merged) customers each key points at.

    A known (source, external id) settles it. Otherwise one email match wins when the phone
    agrees or says nothing; one phone match wins when no email matched.
    """
    if by_identity is not None:
        return Resolution(MATCH, by_identity, "external_id")
    emails, phones = set(by_email), set(by_phone)
    if len(emails) > 1:
        return _ambiguous(emails | phones, _("several customers share this email address"))
    if len(emails) == 1:
        (match,) = emails
        if phones and match not in phones:
            return _ambiguous(
                emails | phones, _("the email matches one customer and the phone another")
            )
        return Resolution(MATCH, match, "email")
    if len(phones) > 1:
        return _ambiguous(phones, _("several customers share this phone number"))
    if len(phones) == 1:
        (match,) = phones
        return Resolution(MATCH, match, "phone")
    return Resolution(NEW)


def _ambiguous(candidates: set[int], reason: str) -> Resolution:
    return Resolution(AMBIGUOUS, None, "", tuple(sorted(candidates)), reason)


def follow_merges(customer_id: int, merged_into: Mapping[int, int | None]) -> int:
    """The live customer at the end of a merge chain (a merged customer is never matched)."""
    seen = {customer_id}
    while (nxt := merged_into.get(customer_id)) is not None:
        if nxt in seen:  # a cycle would be a bug elsewhere; stop rather than spin
            break
        seen.add(nxt)
        customer_id = nxt
    return customer_id
