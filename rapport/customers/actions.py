"""Customer operations a person decides: merge, undo a merge, settle an identity review.

Each runs in its own transaction (nested in the caller's when there is one) and locks the rows it
changes (SELECT ... FOR UPDATE on PostgreSQL; SQLite's writer lock serialises anyway). The views,
the API and commands all call these; none of them repeats the logic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.core.events import emit
from rapport.customers import normalize
from rapport.customers.models import Consent, Customer, CustomerIdentity, IdentityReview, Merge

# The customer's history that a merge moves: (model label, foreign key to Customer). Later apps
# (survey responses, cases, ...) add theirs with register_history() in their AppConfig.ready().
HISTORY: list[tuple[str, str]] = [("touchpoints.Touchpoint", "customer")]
FILLED_FIELDS = ("display_name", "email", "phone", "home_unit_id")
CHUNK = 5000  # ids per UPDATE, under SQLite's parameter limit


def register_history(model_label: str, field: str = "customer") -> None:
    if (model_label, field) not in HISTORY:
        HISTORY.append((model_label, field))


def _locked(*pks: int) -> dict[int, Customer]:
    rows = Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    return {c.pk: c for c in rows}


def _move(model: Any, field: str, ids: list[int], src: int, dst: int) -> None:
    """Point the listed rows from src to dst (only those still on src)."""
    for start in range(0, len(ids), CHUNK):
        model.objects.filter(pk__in=ids[start : start + CHUNK], **{f"{field}_id": src}).update(
            **{f"{field}_id": dst}
        )


def _ids(qs: Iterable[Any]) -> list[int]:
    return list(qs.values_list("pk", flat=True))  # type: ignore[attr-defined]


def merge_customers(
    survivor: Customer, merged: Customer, *, user: Any = None, reason: str = ""
) -> Merge:
    """Merge `merged` into `survivor`: its history, identities, non-conflicting consents and
    review candidacies move; the survivor's empty profile fields and missing attributes are filled
    from it. Everything moved is recorded on the Merge so that undo_merge restores it exactly."""
    if survivor.pk == merged.pk:
        raise ValueError(_("A customer cannot be merged into itself."))
    with transaction.atomic():
        locked = _locked(survivor.pk, merged.pk)
        s, m = locked[survivor.pk], locked[merged.pk]
        if s.merged_into_id or m.merged_into_id:
            raise ValueError(_("Only customers that are not merged already can be merged."))
        moved: dict[str, Any] = {}
        for label, field in HISTORY:
            model = apps.get_model(label)
            ids = _ids(model.objects.filter(**{f"{field}_id": m.pk}))
            _move(model, field, ids, m.pk, s.pk)
            moved[f"{label}.{field}"] = ids
        moved["identities"] = _ids(m.identities.all())
        _move(CustomerIdentity, "customer", moved["identities"], m.pk, s.pk)
        taken = set(s.consents.values_list("channel", "purpose"))
        moved["consents"] = [c.pk for c in m.consents.all() if (c.channel, c.purpose) not in taken]
        _move(Consent, "customer", moved["consents"], m.pk, s.pk)
        moved["reviews_moved"], moved["reviews_removed"] = _move_candidacies(m.pk, s.pk)

        previous = {f: getattr(s, f) for f in FILLED_FIELDS}
        previous["attributes"] = dict(s.attributes)
        moved["fields"] = [f for f in FILLED_FIELDS if not getattr(s, f) and getattr(m, f)]
        for f in moved["fields"]:
            setattr(s, f, getattr(m, f))
        moved["attributes"] = sorted(set(m.attributes) - set(s.attributes))
        s.attributes = {**s.attributes, **{k: m.attributes[k] for k in moved["attributes"]}}
        s.save()
        m.merged_into = s
        m.save(update_fields=["merged_into", "updated_at"])
        merge = Merge.objects.create(
            survivor=s, merged=m, moved=moved, previous=previous, reason=reason[:300],
            performed_by=user,
        )  # fmt: skip
        emit("customer.merged", [_event(merge, undone=False)])
    return merge


def _move_candidacies(src: int, dst: int) -> tuple[list[int], list[int]]:
    """Reviews naming src as a candidate name dst instead; (moved, dropped as already there)."""
    through = IdentityReview.candidates.through
    reviews = set(
        through.objects.filter(customer_id=src).values_list("identityreview_id", flat=True)
    )
    both = set(
        through.objects.filter(customer_id=dst, identityreview_id__in=reviews).values_list(
            "identityreview_id", flat=True
        )
    )
    moved = sorted(reviews - both)
    through.objects.filter(customer_id=src, identityreview_id__in=moved).update(customer_id=dst)
    through.objects.filter(customer_id=src, identityreview_id__in=both).delete()
    return moved, sorted(both)


def undo_merge(merge: Merge, *, user: Any = None) -> None:
    """Move back everything the merge moved, and restore the survivor's fields it filled (unless
    someone changed them since). Records that arrived after the merge stay with the survivor."""
    with transaction.atomic():
        merge = Merge.objects.select_for_update().get(pk=merge.pk)
        if merge.undone_at is not None:
            raise ValueError(_("This merge was already undone."))
        locked = _locked(merge.survivor_id, merge.merged_id)
        s, m = locked[merge.survivor_id], locked[merge.merged_id]
        if s.merged_into_id is not None:
            raise ValueError(
                _("The surviving customer was merged again since; undo that merge first.")
            )
        moved = merge.moved
        for label, field in HISTORY:
            _move(apps.get_model(label), field, moved.get(f"{label}.{field}", []), s.pk, m.pk)
        _move(CustomerIdentity, "customer", moved.get("identities", []), s.pk, m.pk)
        _move(Consent, "customer", moved.get("consents", []), s.pk, m.pk)
        through = IdentityReview.candidates.through
        through.objects.filter(
            customer_id=s.pk, identityreview_id__in=moved.get("reviews_moved", [])
        ).update(customer_id=m.pk)
        through.objects.bulk_create(
            [
                through(identityreview_id=r, customer_id=m.pk)
                for r in moved.get("reviews_removed", [])
            ],
            ignore_conflicts=True,
        )
        for f in moved.get("fields", []):
            if getattr(s, f) == getattr(m, f):
                setattr(s, f, merge.previous[f])
        attributes = dict(s.attributes)
        for k in moved.get("attributes", []):
            if k in attributes and attributes[k] == m.attributes.get(k):
                del attributes[k]
        s.attributes = attributes
        s.save()
        m.merged_into = None
        m.save(update_fields=["merged_into", "updated_at"])
        merge.undone_at = timezone.now()
        merge.undone_by = user
        merge.save(update_fields=["undone_at", "undone_by"])
        emit("customer.merged", [_event(merge, undone=True)])


def _event(merge: Merge, *, undone: bool) -> dict[str, Any]:
    return {
        "merge_id": merge.pk,
        "survivor_id": merge.survivor_id,
        "merged_id": merge.merged_id,
        "undone": undone,
        "at": (merge.undone_at if undone else merge.performed_at).isoformat(),
    }


def resolve_review(
    review: IdentityReview, *, customer: Customer | None, user: Any = None
) -> Customer:
    """Settle a review: the record belongs to `customer` (None = a new customer made from the
    record). The identity is linked, the waiting record written (a touchpoint is created now),
    and other open reviews waiting on the same identity are settled the same way."""
    with transaction.atomic():
        review = (
            IdentityReview.objects.select_for_update().select_related("source").get(pk=review.pk)
        )
        if review.status != IdentityReview.Status.OPEN:
            raise ValueError(_("This review was already settled."))
        if customer is not None:
            customer = _live(customer)
        customer = _write_reviewed(review, customer)
        _close(review, IdentityReview.Status.RESOLVED, user, customer)
        if review.external_id:
            others = IdentityReview.objects.filter(
                source=review.source, external_id=review.external_id,
                status=IdentityReview.Status.OPEN,
            ).exclude(pk=review.pk)  # fmt: skip
            for other in others:
                _write_reviewed(other, customer)
                _close(other, IdentityReview.Status.RESOLVED, user, customer)
    return customer


def dismiss_review(review: IdentityReview, *, user: Any = None) -> None:
    """Close a review without writing its record (which stays on the review, so nothing is lost)."""
    with transaction.atomic():
        review = IdentityReview.objects.select_for_update().get(pk=review.pk)
        if review.status != IdentityReview.Status.OPEN:
            raise ValueError(_("This review was already settled."))
        _close(review, IdentityReview.Status.DISMISSED, user, None)


def _live(customer: Customer) -> Customer:
    seen = set()
    while customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def _close(review: IdentityReview, status: str, user: Any, customer: Customer | None) -> None:
    review.status = status
    review.resolved_at = timezone.now()
    review.resolved_by = user
    review.resolved_customer = customer
    review.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_customer"])


def _write_reviewed(review: IdentityReview, customer: Customer | None) -> Customer:
    from rapport.customers.ingest import ingest_customers
    from rapport.touchpoints.ingest import ingest_touchpoints

    kind = review.record.get("type")
    data = review.record.get("data") or {}
    if kind == "touchpoint":
        if customer is None:
            customer = _customer_from_touchpoint(data)
        report = ingest_touchpoints(
            [data], source=review.source.code, mode="per_record", assign=customer
        )
    elif kind == "customer":
        if customer is None:
            customer = Customer.objects.create()
        report = ingest_customers(
            [data], source=review.source.code, mode="per_record", assign=customer
        )
    else:
        raise ValueError(_("This review holds no record to write."))
    if report.rejected:
        raise ValueError(
            _("The record can no longer be written: %(problems)s")
            % {"problems": "; ".join(str(p) for p in report.problems)}
        )
    return customer


def _customer_from_touchpoint(data: dict[str, Any]) -> Customer:
    from django.conf import settings

    from rapport.org.models import OrgUnit

    phone = data.get("customer_phone") or ""
    email = data.get("customer_email") or ""
    return Customer.objects.create(
        display_name=str(data.get("customer_name") or "")[:200],
        email=normalize.email(email) if email else "",
        phone=normalize.phone(phone, settings.RAPPORT_DEFAULT_REGION) if phone else "",
        home_unit=OrgUnit.objects.filter(code=data.get("unit") or "").first(),
    )
