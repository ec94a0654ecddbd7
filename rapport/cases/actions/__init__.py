"""Case operations, one home each, that the API, the UI, the rules and the jobs call.

The package holds what every operation shares: who acts (`Actor`) and the refusals
(`CaseError`, `Conflict`). The operations live in modules named after what they do:
`opening` (open or attach, open by hand), `lifecycle` (acknowledge, start, wait, resolve,
close, reopen, the recovery survey), `ownership` (the owner, the managers above, transfer),
`notes` (internal notes, replies to the customer), `remedies` (proposal, approval up the tree,
grant, withdrawal), `consent` (the offer and the customer's answer), `promises`, and `sla` (the
clocks and their sweep); `record` locks, saves and audits a case for all of them.

Concurrency: every mutating operation runs in one transaction, locks the case row
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transaction locks the database) and
checks `expected_version` — the version the caller last saw. A stale version raises Conflict and
changes nothing; the save itself is a conditional UPDATE ... WHERE version = n, so even a path
that skipped the lock could not overwrite. `expected_version=None` is for the system (rules,
jobs), which works on the latest version. Every changed field is written to the audit trail.

Periodic work (SLA warnings and breaches, approval escalation, broken promises) claims each
step with a conditional UPDATE on a per-case (or per-request) field in the same transaction as
its consequences: a worker that dies mid-way leaves it unclaimed (no lost escalation), a second
worker finds it claimed (no doubled one).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from rapport.org.models import Staff


class CaseError(ValueError):
    """An operation that cannot be done; the message is for the user."""


class Conflict(CaseError):
    """Someone else changed the case since the caller read it."""

    def __init__(self, case_id: int, expected: int, current: int) -> None:
        self.case_id, self.expected, self.current = case_id, expected, current
        super().__init__(
            _(
                "The case was changed by someone else (you had version %(expected)d, it is now "
                "version %(current)d). Reload it and apply your change again; nothing was saved."
            )
            % {"expected": expected, "current": current}
        )


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member, or the system/an integration named by a label."""

    staff: Staff | None = None
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, label)

    @property
    def name(self) -> str:
        return self.label or (self.staff.code if self.staff else "system")


SYSTEM = Actor.system()
