"""Reusable resolutions: what fixed a problem, written by the owner on resolving and marked
reusable, found again by cause and words, and suggested beside a new case.

Knowledge is shared across the enterprise (the point is that one branch learns from another);
it shows the subject, cause, sub-cause and fix, never the customer. A link to the case itself is
offered only to those who may see that case.
"""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from rapport.cases import states
from rapport.cases.models import CHURN_CAUSES, Case

_WORD = re.compile(r"[\w']+|[\u3400-\u9fff]", re.UNICODE)
_STOP = frozenset(
    {"a", "an", "and", "are", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it",
     "my", "not", "of", "on", "or", "our", "the", "this", "to", "was", "we", "with", "you"}
)  # fmt: skip


def entries() -> QuerySet[Case]:
    """Every reusable resolution (resolved or closed, marked reusable, with a fix)."""
    return (
        Case.objects.filter(
            reusable=True, state__in=[states.RESOLVED, states.CLOSED], resolved_at__isnull=False
        )
        .exclude(fix="")
        .select_related("unit")
        .only(
            "id",
            "subject",
            "cause",
            "sub_cause",
            "fix",
            "topic",
            "resolved_at",
            "unit__name",
            "unit__path",
            "source",
        )  # fmt: skip
        .order_by("-resolved_at", "-pk")
    )


def search(query: str = "", cause: str = "") -> QuerySet[Case]:
    """Reusable resolutions matching every word of `query` (in subject, sub-cause or fix) and
    the cause."""
    qs = entries()
    if cause:
        qs = qs.filter(cause=cause)
    for word in query.split()[:8]:
        qs = qs.filter(
            Q(subject__icontains=word) | Q(sub_cause__icontains=word) | Q(fix__icontains=word)
        )
    return qs


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1 or
            "\u3400" <= w <= "\u9fff"}  # fmt: skip


def suggestions_for(case: Case, limit: int = 5) -> list[Case]:
    """Reusable resolutions to look at for this case: the same cause once it is known; before
    that, the same topic (and the same rule first). Ranked by words shared with the case's
    subject and description, then by recency; the case itself never."""
    qs = entries().exclude(pk=case.pk)
    if case.cause:
        qs = qs.filter(cause=case.cause)
    else:
        qs = qs.filter(topic=case.topic)
    candidates = list(qs.only("id", "subject", "cause", "sub_cause", "fix", "resolved_at",
                              "rule_id", "unit__name", "unit__path")[:200])  # fmt: skip
    if not candidates:
        return []
    wanted = _words(f"{case.subject} {case.description[:2000]}")

    def score(entry: Case) -> tuple[int, int, float]:
        shared = len(wanted & _words(f"{entry.subject} {entry.sub_cause} {entry.fix}"))
        same_rule = int(bool(case.rule_id) and entry.rule_id == case.rule_id)
        return (shared, same_rule, entry.resolved_at.timestamp() if entry.resolved_at else 0.0)

    return sorted(candidates, key=score, reverse=True)[:limit]


def cause_counts() -> list[tuple[str, str, int]]:
    """(cause, label, reusable resolutions) for the filter, one grouped query."""
    from django.db.models import Count

    counts = dict(entries().order_by().values_list("cause").annotate(n=Count("id")))
    return [(code, str(label), counts.get(code, 0)) for code, label in CHURN_CAUSES.items()]
