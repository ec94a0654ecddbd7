"""Feedback operations, one home each: recording (every channel), correcting, themes.

`record_feedback` is the one intake path: the public form, the widget, mail, the import command,
the API and open-text survey answers all call it. Per batch it resolves customers (one query per
key type, rules of rapport.customers.identity — an unknown or ambiguous sender is kept as author
name/contact, never guessed), analyses all texts in one call, inserts the items and their labels,
and hands negative feedback above the severity threshold to the case rules (rapport.cases). The
timeline shows items through rapport.feedback.timeline. Idempotent on (source, external_id).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.core import events
from rapport.core.ingestion import IngestReport, Problem, RejectHook, Tally, line_of, read_error
from rapport.customers import identity, normalize
from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.feedback import analyzing
from rapport.feedback.analysis import CAUSES, Analysis
from rapport.feedback.models import Correction, FeedbackItem, FeedbackLabel, Theme
from rapport.feedback.records import FeedbackInput, clean_text, parse
from rapport.org.models import OrgUnit, Staff

log = logging.getLogger(__name__)

# Negative feedback at least this severe (0 … 1) is offered to the case rules.
DEFAULT_CASE_SEVERITY = 0.5


def case_severity_threshold() -> float:
    return float(getattr(settings, "RAPPORT_FEEDBACK_CASE_SEVERITY", DEFAULT_CASE_SEVERITY))


@dataclass
class Recorded:
    """What became of one input: created (id), duplicate (id of the existing item)."""

    status: str
    id: int | None
    problems: list[Problem] = field(default_factory=list)


# --- recording ------------------------------------------------------------------------------


def record_feedback(
    items: Sequence[FeedbackInput],
    *,
    source: str = "api",
    now: dt.datetime | None = None,
    open_cases: bool = True,
) -> list[Recorded]:
    """Store a batch of feedback, analysed, in one transaction; one Recorded per input, in order.

    Sending the same (source, external_id) again changes nothing and answers "duplicate".
    """
    now = now or timezone.now()
    source = (source or "api")[:64]
    if not items:
        return []
    with transaction.atomic():
        return _store(list(items), source, now, open_cases)


def _store(
    items: list[FeedbackInput], source: str, now: dt.datetime, open_cases: bool
) -> list[Recorded]:
    results: list[Recorded | None] = [None] * len(items)
    # Duplicates: already stored, or earlier in this batch.
    wanted = {i.external_id for i in items if i.external_id}
    existing = dict(
        FeedbackItem.objects.filter(source=source, external_id__in=list(wanted)).values_list(
            "external_id", "id"
        )
        if wanted
        else ()
    )
    fresh: list[int] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.external_id and item.external_id in existing:
            results[index] = Recorded("duplicate", existing[item.external_id])
        elif item.external_id and item.external_id in seen:
            results[index] = Recorded("duplicate", None)
        else:
            if item.external_id:
                seen.add(item.external_id)
            fresh.append(index)
    if not fresh:
        return [r for r in results if r is not None]
    batch = [items[i] for i in fresh]
    for i in batch:  # whatever the caller passed, only storable text goes further
        i.text, i.title = clean_text(i.text), clean_text(i.title)
    customers = _resolve_customers(batch, source)
    units, staff, campaigns = _lookups(batch)
    home_units = dict(
        Customer.objects.filter(pk__in={c for c in customers if c}).values_list("id", "home_unit")
    )
    analyses, version = analyzing.analyze([i.text for i in batch])
    rows = []
    for item, customer_id, analysis in zip(batch, customers, analyses, strict=True):
        unit_id = item.unit_id or units.get(item.unit_code) or home_units.get(customer_id)
        rows.append(
            FeedbackItem(
                text=item.text,
                title=item.title[:300],
                channel=item.channel,
                customer_id=customer_id,
                touchpoint_id=item.touchpoint_id,
                unit_id=unit_id,
                staff_id=item.staff_id or staff.get(item.staff_code),
                campaign_id=campaigns.get(item.campaign_key),
                language=item.language or analysis.language,
                received_at=item.received_at or now,
                source=source,
                external_id=item.external_id[:200],
                rating=item.rating,
                author_name=item.author_name[:200],
                author_contact=item.author_contact[:254],
                meta=item.meta or {},
                client_hash=item.client_hash,
                **analysis_fields(analysis, version, now),
            )
        )
    FeedbackItem.objects.bulk_create(rows, batch_size=500)
    FeedbackLabel.objects.bulk_create(
        [label for row in rows for label in labels_of(row)], batch_size=2000
    )
    for index, row in zip(fresh, rows, strict=True):
        results[index] = Recorded("created", row.pk)
    events.emit("feedback.received", [_payload(row) for row in rows])
    if open_cases:
        _offer_to_case_rules(rows, now)
    return [r for r in results if r is not None]


def _payload(row: FeedbackItem) -> dict[str, Any]:
    """The `feedback.received` event: what was said, by whom, and what the analysis read in it."""
    return {
        "id": row.pk,
        "customer_id": row.customer_id,
        "unit_id": row.unit_id,
        "channel": row.channel,
        "source": row.source,
        "external_id": row.external_id,
        "language": row.language,
        "received_at": row.received_at.isoformat(),
        "sentiment": row.sentiment,
        "sentiment_score": row.sentiment_score,
        "severity": row.severity,
        "causes": row.causes,
        "themes": row.themes,
    }


def analysis_fields(analysis: Analysis, version: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "sentiment": analysis.sentiment,
        "sentiment_score": float(analysis.sentiment_score),
        "causes": [[c, round(float(p), 4)] for c, p in analysis.causes],
        "themes": [[t, round(float(p), 4)] for t, p in analysis.themes],
        "severity": float(analysis.severity),
        "analyzed_at": now,
        "model_version": version,
    }


def labels_of(item: FeedbackItem) -> list[FeedbackLabel]:
    out = []
    for kind, pairs in (("cause", item.causes), ("theme", item.themes)):
        seen = set()
        for pair in pairs or ():
            key = str(pair[0])[:64]
            if key in seen:
                continue
            seen.add(key)
            out.append(FeedbackLabel(item=item, kind=kind, key=key, confidence=float(pair[1])))
    return out


def _lookups(batch: Sequence[FeedbackInput]) -> tuple[dict, dict, dict]:
    from rapport.feedback.models import Campaign

    unit_codes = {i.unit_code for i in batch if i.unit_code}
    staff_codes = {i.staff_code for i in batch if i.staff_code}
    keys = {i.campaign_key for i in batch if i.campaign_key}
    units = dict(OrgUnit.objects.filter(code__in=unit_codes).values_list("code", "id"))
    staff = dict(Staff.objects.filter(code__in=staff_codes).values_list("code", "id"))
    campaigns = dict(Campaign.objects.filter(key__in=keys).values_list("key", "id"))
    return units, staff, campaigns


def _live(pairs: Iterable[tuple[Any, int, int | None]]) -> dict[Any, set[int]]:
    found: dict[Any, set[int]] = defaultdict(set)
    chain: dict[int, int | None] | None = None
    for key, customer_id, merged_into in pairs:
        if merged_into is None:
            found[key].add(customer_id)
            continue
        if chain is None:
            chain = dict(
                Customer.objects.filter(merged_into__isnull=False).values_list(
                    "id", "merged_into_id"
                )
            )
        found[key].add(identity.follow_merges(customer_id, chain))
    return found


def _resolve_customers(batch: Sequence[FeedbackInput], source: str) -> list[int | None]:
    """The customer of each input, or None (unknown or ambiguous: the author is kept instead)."""
    region = settings.RAPPORT_DEFAULT_REGION
    emails: list[str] = []
    phones: list[str] = []
    for item in batch:
        email = item.customer_email or (item.author_contact if "@" in item.author_contact else "")
        phone = item.customer_phone or (
            item.author_contact if item.author_contact and "@" not in item.author_contact else ""
        )
        try:
            emails.append(normalize.email(email) if email else "")
        except ValueError:
            emails.append("")
        try:
            phones.append(normalize.phone(phone, region) if phone else "")
        except ValueError:
            phones.append("")
    ids = {i.customer_id for i in batch if i.customer_id}
    by_id = _live(Customer.objects.filter(pk__in=ids).values_list("id", "id", "merged_into_id"))
    exts = {i.customer_external_id for i in batch if i.customer_external_id}
    by_ext: dict[Any, set[int]] = {}
    if exts:
        source_id = SourceSystem.objects.filter(code=source).values_list("id", flat=True).first()
        if source_id is not None:
            by_ext = _live(
                CustomerIdentity.objects.filter(
                    source_id=source_id, external_id__in=list(exts)
                ).values_list("external_id", "customer_id", "customer__merged_into_id")
            )
    by_email = _live(
        Customer.objects.filter(email__in={e for e in emails if e}).values_list(
            "email", "id", "merged_into_id"
        )
    )
    by_phone = _live(
        Customer.objects.filter(phone__in={p for p in phones if p}).values_list(
            "phone", "id", "merged_into_id"
        )
    )
    out: list[int | None] = []
    for item, email, phone in zip(batch, emails, phones, strict=True):
        known = by_id.get(item.customer_id) or by_ext.get(item.customer_external_id)
        decision = identity.resolve(
            next(iter(known)) if known else None,
            by_email.get(email, ()) if email else (),
            by_phone.get(phone, ()) if phone else (),
        )
        out.append(decision.customer_id if decision.kind == identity.MATCH else None)
    return out


def _offer_to_case_rules(rows: Sequence[FeedbackItem], now: dt.datetime) -> None:
    """Negative feedback at least as severe as the threshold, from a known customer and recent
    enough to act on (an import of last year's reviews opens nothing), goes to the active
    `feedback` case rules (rapport.cases.rules: sentiment_at_most); their signals are handed to
    the worker, which opens or attaches cases (rapport.cases.actions.opening.open_or_attach)."""
    threshold = case_severity_threshold()
    oldest = now - dt.timedelta(days=settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS)
    candidates = [
        r
        for r in rows
        if r.customer_id
        and r.sentiment == "negative"
        and r.severity >= threshold
        and r.received_at >= oldest
    ]
    if not candidates:
        return
    from rapport.cases import rules, triggers

    specs = triggers.active_specs(rules.FEEDBACK)
    if not specs:
        return
    paths = (
        dict(OrgUnit.objects.values_list("id", "path")) if any(s.unit_path for s in specs) else {}
    )
    signals = []
    for row in candidates:
        for spec in specs:
            if spec.unit_path and not paths.get(row.unit_id or 0, "").startswith(spec.unit_path):
                continue
            if rules.feedback_matches(spec, row.sentiment_score):
                signals.append(
                    rules.Signal(
                        customer_id=row.customer_id,  # type: ignore[arg-type]
                        source="feedback",
                        topic=spec.topic,
                        severity=spec.severity,
                        subject=(row.title or spec.name)[:300],
                        description=row.text[:2000],
                        unit_id=row.unit_id,
                        staff_id=row.staff_id,
                        touchpoint_id=row.touchpoint_id,
                        rule_id=spec.id,
                        language=_case_language(row.language),
                    )
                )
                break
    if signals:
        triggers.dispatch(signals)


def _case_language(language: str) -> str:
    return {"en": "en", "zh-Hant": "zh-hant", "zh-Hans": "zh-hans"}.get(language, "")


# --- bulk records (API, CSV import) ------------------------------------------------------------


def default_tz() -> dt.tzinfo:
    root = OrgUnit.enterprise()
    return zoneinfo.ZoneInfo(root.time_zone if root else settings.RAPPORT_DEFAULT_TIME_ZONE)


def ingest_feedback(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str = "api",
    mode: str = "all_or_nothing",
    keep_outcomes: bool = False,
    progress: Callable[[int], None] | None = None,
    on_reject: RejectHook | None = None,
    default_channel: str = "",
) -> IngestReport:
    """Records as documented (docs/guide/feedback.md) → feedback items, with the report shape
    of every ingestion (rapport.core.ingestion): per record created / duplicate / rejected."""
    from rapport.customers.ingest import run_batches

    if not source or len(source) > 64 or not source.replace("-", "").replace("_", "").isalnum():
        raise ValueError(
            _("invalid source %(code)r: use letters, digits, - and _ (at most 64)")
            % {"code": source}
        )
    channel = default_channel or ("api" if source == "api" else "import")
    tally = Tally(keep_outcomes, on_reject)
    tz = default_tz()
    latest = timezone.now() + dt.timedelta(days=settings.RAPPORT_MAX_FUTURE_DAYS)

    def process(batch: list[tuple[int, Mapping[str, Any]]], write: bool) -> None:
        valid: list[tuple[int, FeedbackInput]] = []
        for index, record in batch:
            line = line_of(index, record)
            problems = read_error(index, record)
            if problems is None:
                parsed = parse(record, line, default_channel=channel, default_tz=tz, latest=latest)
                if isinstance(parsed, list):
                    problems = parsed
                else:
                    valid.append((index, parsed))
            if problems:
                tally.reject(index, record, problems)
        if not write or not valid:
            return
        done = _store([v for _i, v in valid], source, timezone.now(), True)
        for (index, _item), result in zip(valid, done, strict=True):
            tally.add(index, result.status, result.id)

    return run_batches(records, mode, tally, process, progress, lambda: None)


# --- corrections --------------------------------------------------------------------------------


class CorrectionError(ValueError):
    """A correction that cannot be applied; the message names the field."""


def correct(
    item: FeedbackItem,
    user: Any,
    *,
    sentiment: str | None = None,
    causes: Sequence[str] | None = None,
    themes: Sequence[str] | None = None,
) -> list[Correction]:
    """Relabel an item (a person's word beats the model's): the labels are replaced and each
    change is kept as a Correction, the training data of `rapport feedback train`."""
    from rapport.feedback.models import SENTIMENTS

    made: list[Correction] = []
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise CorrectionError(_("sentiment: unknown value %(v)r") % {"v": sentiment})
    if causes is not None:
        unknown = sorted(set(causes) - set(CAUSES))
        if unknown:
            raise CorrectionError(_("cause: unknown %(v)s") % {"v": ", ".join(unknown)})
    if themes is not None:
        known = set(Theme.objects.filter(key__in=list(themes)).values_list("key", flat=True))
        unknown = sorted(set(themes) - known)
        if unknown:
            raise CorrectionError(_("theme: unknown %(v)s") % {"v": ", ".join(unknown)})
    by = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        if sentiment is not None and sentiment != item.sentiment:
            item.sentiment = sentiment
            if item.sentiment_score is not None:
                score = item.sentiment_score
                if (sentiment == "negative" and score >= 0) or (
                    sentiment == "positive" and score <= 0
                ):
                    item.sentiment_score = -0.5 if sentiment == "negative" else 0.5
                elif sentiment == "neutral":
                    item.sentiment_score = 0.0
            made.append(Correction(item=item, field="sentiment", value=sentiment, by=by))
        for name, wanted, kind in (("cause", causes, "cause"), ("theme", themes, "theme")):
            if wanted is None:
                continue
            current = [str(p[0]) for p in getattr(item, f"{name}s") or ()]
            ordered = list(dict.fromkeys(wanted))
            if sorted(current) == sorted(ordered):
                continue
            setattr(item, f"{name}s", [[k, 1.0] for k in ordered])
            FeedbackLabel.objects.filter(item=item, kind=kind).delete()
            FeedbackLabel.objects.bulk_create(
                [FeedbackLabel(item=item, kind=kind, key=k, confidence=1.0) for k in ordered]
            )
            for key in ordered or ["none"]:
                made.append(Correction(item=item, field=name, value=key, by=by))
        if made:
            item.corrected_at = timezone.now()
            item.save(
                update_fields=[
                    "sentiment",
                    "sentiment_score",
                    "causes",
                    "themes",
                    "corrected_at",
                ]
            )
            Correction.objects.bulk_create(made)
    return made


# --- themes -------------------------------------------------------------------------------------


def promote_cluster(
    *,
    key: str,
    name: str,
    keywords: Sequence[str],
    examples: Sequence[str],
    cluster: Mapping[str, Any],
    user: Any,
) -> Theme:
    """A manager turns an emerging cluster into a theme: the analyser uses it from the next
    intake on (existing items are not relabelled: their analysis stays as it was)."""
    by = user if getattr(user, "is_authenticated", False) else None
    return Theme.objects.create(
        key=key,
        name=name,
        keywords=[k for k in dict.fromkeys(k.strip() for k in keywords) if k],
        examples=[e[:500] for e in examples if e.strip()][:5],
        promoted_from_cluster=dict(cluster),
        created_by=by,
    )
