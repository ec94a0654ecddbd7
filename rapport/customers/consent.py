"""Consent rules, kept apart from the ORM so that batch jobs use the same ones.

Marketing needs an explicit opt-in; surveys and service messages are allowed unless the customer
opted out. An explicit record always wins over the default.
"""

from __future__ import annotations

from collections.abc import Mapping

OPT_IN_PURPOSES = frozenset({"marketing"})


def may_contact(records: Mapping[tuple[str, str], bool], channel: str, purpose: str) -> bool:
    explicit = records.get((channel, purpose))
    if explicit is not None:
        return explicit
    return purpose not in OPT_IN_PURPOSES
