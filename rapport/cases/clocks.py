"""SLA clocks of a case: arming, pausing, what is due, and how each clock stands. Plain code.

A case has three clocks (acknowledge, first response, resolve), each with a due instant and a
warning instant computed in business time of the case's unit. Values are passed in and returned
as dicts of the Case fields (`ack_due_at`, `ack_warn_at`, ...), so this module needs no ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from rapport.cases.business_time import Calendar

TARGETS = ("ack", "response", "resolve")
DONE_FIELD = {"ack": "acknowledged_at", "response": "first_response_at", "resolve": "resolved_at"}
LABELS = {"ack": "acknowledge", "response": "first response", "resolve": "resolve"}


def armed(
    opened_at: dt.datetime,
    minutes: Mapping[str, int],
    warn_percent: int,
    calendar: Calendar,
) -> dict[str, dt.datetime]:
    """Due and warning instants of each target, counted from `opened_at` in business time."""
    out = {}
    for target in TARGETS:
        total = minutes[target]
        out[f"{target}_due_at"] = calendar.add_minutes(opened_at, total)
        out[f"{target}_warn_at"] = calendar.add_minutes(opened_at, total * warn_percent / 100)
    return out


def shifted(
    fields: Mapping[str, Any], paused_at: dt.datetime, now: dt.datetime, calendar: Calendar
) -> tuple[dict[str, dt.datetime], float]:
    """The due and warning instants of the clocks still running, moved later by the business time
    the case spent waiting for the customer; and that time in minutes."""
    pause = calendar.between(paused_at, now)
    out: dict[str, dt.datetime] = {}
    if pause <= dt.timedelta(0):
        return out, 0.0
    for target in TARGETS:
        if fields.get(DONE_FIELD[target]) is not None:
            continue
        for kind in ("due", "warn"):
            name = f"{target}_{kind}_at"
            if fields.get(name) is not None:
                out[name] = calendar.add(fields[name], pause)
    return out, pause.total_seconds() / 60


def due_actions(fields: Mapping[str, Any], now: dt.datetime) -> list[tuple[str, str]]:
    """(target, "warn" | "breach") pairs that are due and not yet done, in that order."""
    found = []
    for target in TARGETS:
        if fields.get(DONE_FIELD[target]) is not None:
            continue
        due, warn = fields.get(f"{target}_due_at"), fields.get(f"{target}_warn_at")
        warned = fields.get(f"{target}_warned_at") is not None
        # A breach supersedes its own warning.
        if warn is not None and warn <= now and not warned and (due is None or due > now):
            found.append((target, "warn"))
        if due is not None and due <= now and fields.get(f"{target}_breached_at") is None:
            found.append((target, "breach"))
    return found


def next_check(fields: Mapping[str, Any], paused: bool) -> dt.datetime | None:
    """The earliest pending warning or breach instant; None while paused or when nothing is left."""
    if paused:
        return None
    moments = []
    for target in TARGETS:
        if fields.get(DONE_FIELD[target]) is not None:
            continue
        if fields.get(f"{target}_breached_at") is None and fields.get(f"{target}_due_at"):
            moments.append(fields[f"{target}_due_at"])
            if fields.get(f"{target}_warned_at") is None and fields.get(f"{target}_warn_at"):
                moments.append(fields[f"{target}_warn_at"])
    return min(moments) if moments else None


def status(fields: Mapping[str, Any], now: dt.datetime, paused: bool) -> list[dict[str, Any]]:
    """Each clock as shown on the case: due, done, and one of met, missed, paused, breached,
    warning, running."""
    out = []
    for target in TARGETS:
        due, done = fields.get(f"{target}_due_at"), fields.get(DONE_FIELD[target])
        if done is not None:
            state = "met" if due is None or done <= due else "missed"
        elif paused:
            state = "paused"
        elif due is not None and due <= now:
            state = "breached"
        elif fields.get(f"{target}_warn_at") is not None and fields[f"{target}_warn_at"] <= now:
            state = "warning"
        else:
            state = "running"
        out.append(
            {
                "target": target,
                "label": LABELS[target],
                "due_at": due,
                "done_at": done,
                "state": state,
                "breached_at": fields.get(f"{target}_breached_at"),
            }
        )
    return out


CLOCK_FIELDS = tuple(
    f"{t}_{k}" for t in TARGETS for k in ("due_at", "warn_at", "warned_at", "breached_at")
) + tuple(DONE_FIELD.values())
