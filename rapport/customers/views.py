"""Customer pages: search, the Customer 360 page with its timeline, consent, merges, reviews.

Every query goes through rapport.org.scoping, so another unit's customer is a 404; the
operations themselves (merge, undo, review) live in rapport.customers.actions.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.core.views import is_htmx, staff_view
from rapport.customers import actions, normalize, timeline
from rapport.customers.forms import (
    ConsentForm,
    MergeForm,
    ReviewResolveForm,
    SearchForm,
    TimelineFilterForm,
)
from rapport.customers.models import (
    AttributeDefinition,
    Consent,
    Customer,
    CustomerIdentity,
    IdentityReview,
    Merge,
)
from rapport.org.models import OrgUnit
from rapport.org.scoping import scope
from rapport.touchpoints.models import Touchpoint

CUSTOMERS_PER_PAGE = 25
TIMELINE_PAGE_SIZE = 50
REVIEWS_PER_PAGE = 20


def visible_customers(request: HttpRequest) -> QuerySet[Customer]:
    return scope(Customer.objects.all(), request.user, "home_unit")


def search_phone(text: str) -> str | None:
    """The E.164 form of `text` when it reads as a phone number, as customers' phones are kept."""
    if sum(ch.isdigit() for ch in text) < 6:
        return None
    try:
        return normalize.phone(text, settings.RAPPORT_DEFAULT_REGION)
    except ValueError:
        return None


def search(qs: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Customers whose name contains `text`, or whose email, phone or an external id is it.

    Email and phone are compared in the normalised form ingestion stores (rapport.customers
    .normalize), so "0912 345 678" finds +886912345678."""
    text = text.strip()
    if not text:
        return qs
    match = Q(display_name__icontains=text) | Q(
        Exists(CustomerIdentity.objects.filter(customer=OuterRef("pk"), external_id=text))
    )
    if "@" in text:
        match |= Q(email=text.lower())
    if phone := search_phone(text):
        match |= Q(phone=phone)
    return qs.filter(match)


@staff_view("customers.view_customer")
def customer_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    qs = search(visible_customers(request).filter(merged_into__isnull=True), text)
    page = Paginator(qs.select_related("home_unit"), CUSTOMERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "q": text}
    if is_htmx(request, "results"):
        return render(request, "customers/_results.html", context)
    return render(request, "customers/list.html", context)


def with_first_touchpoint(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Customers with `first_touchpoint_at` (for Customer.since) read in the same query: one
    index seek per customer on (customer, occurred_at), no query of its own."""
    first = Touchpoint.objects.filter(customer=OuterRef("pk")).order_by("occurred_at")
    return customers.annotate(first_touchpoint_at=Subquery(first.values("occurred_at")[:1]))


def typed_attributes(customer: Customer) -> list[dict[str, Any]]:
    """The customer's attributes with their registered label and type (unregistered: text)."""
    definitions = {
        d.name: d for d in AttributeDefinition.objects.filter(name__in=customer.attributes)
    }
    rows = []
    for name, value in sorted(customer.attributes.items()):
        definition = definitions.get(name)
        rows.append(
            {
                "name": name,
                "label": (definition.label or name) if definition else name,
                "type": definition.get_type_display() if definition else _("Text"),
                "type_code": definition.type if definition else "string",
                "value": value,
            }
        )
    return rows


def timeline_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    form = TimelineFilterForm(request.GET or None, units=list(OrgUnit.objects.order_by("path")))
    filters = form.filters() if form.is_bound else timeline.Filters()
    before = timeline.Cursor.parse(request.GET.get("before"))
    page = timeline.page(customer, filters, before, TIMELINE_PAGE_SIZE)
    params = request.GET.copy()
    params.pop("before", None)
    next_query = ""
    if page.next_cursor is not None:
        params["before"] = str(page.next_cursor)
        next_query = params.urlencode()
        params.pop("before")
    return {
        "filter_form": form,
        "timeline": page,
        "next_query": next_query,
        "first_query": params.urlencode(),
    }


@staff_view("customers.view_customer")
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(
        with_first_touchpoint(visible_customers(request)).select_related(
            "home_unit", "merged_into"
        ),
        pk=pk,
    )
    context: dict[str, Any] = {"customer": customer, **timeline_context(request, customer)}
    if is_htmx(request, "timeline"):
        return render(request, "customers/_timeline.html", context)
    merges = list(
        Merge.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("survivor", "merged", "performed_by", "undone_by")
        .order_by("-performed_at")
    )
    context.update(
        identities=list(
            customer.identities.select_related("source").order_by("source__code", "external_id")
        ),
        attributes=typed_attributes(customer),
        consent_form=ConsentForm(customer=customer),
        consent_purposes=Consent.Purpose.choices,
        merges=merges,
        can_change=request.user.has_perm("customers.change_customer"),
        can_merge=request.user.has_perm("customers.add_merge"),
    )
    return render(request, "customers/detail.html", context)


@require_POST
@staff_view("customers.change_customer")
def consent_update(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(visible_customers(request), pk=pk)
    form = ConsentForm(request.POST, customer=customer)
    if not form.is_valid():
        messages.error(request, _("The consent could not be saved: choose yes or no."))
        return redirect("customers:detail", pk=customer.pk)
    changes = form.changes()
    with transaction.atomic():
        for (channel, purpose), granted in changes.items():
            Consent.objects.update_or_create(
                customer=customer,
                channel=channel,
                purpose=purpose,
                defaults={"granted": granted, "source": "ui"},
            )
    if changes:
        messages.success(request, _("Consent saved."))
    else:
        messages.info(request, _("Nothing changed."))
    return redirect("customers:detail", pk=customer.pk)


@staff_view("customers.view_customer", "customers.add_merge")
def merge_pick(request: HttpRequest, pk: int) -> HttpResponse:
    """Find the customer this one is to be merged into."""
    customer = get_object_or_404(visible_customers(request).filter(merged_into__isnull=True), pk=pk)
    form = SearchForm(request.GET)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    results: list[Customer] = []
    if text:
        qs = search(visible_customers(request).filter(merged_into__isnull=True), text)
        results = list(qs.exclude(pk=customer.pk).select_related("home_unit")[:20])
    return render(
        request,
        "customers/merge_pick.html",
        {"customer": customer, "form": form, "results": results, "q": text},
    )


@staff_view("customers.view_customer", "customers.add_merge")
def merge_confirm(request: HttpRequest, pk: int, into: int) -> HttpResponse:
    """Show both customers; on POST merge `pk` into `into`, which survives."""
    visible = visible_customers(request).filter(merged_into__isnull=True)
    merged = get_object_or_404(visible.select_related("home_unit"), pk=pk)
    survivor = get_object_or_404(visible.select_related("home_unit"), pk=into)
    if merged.pk == survivor.pk:
        messages.error(request, _("A customer cannot be merged into itself."))
        return redirect("customers:detail", pk=merged.pk)
    form = MergeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.merge_customers(
                survivor, merged, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ValueError as error:  # e.g. one of them was merged meanwhile
            messages.error(request, str(error))
            return redirect("customers:detail", pk=merged.pk)
        messages.success(
            request,
            _("%(merged)s was merged into %(survivor)s.")
            % {"merged": merged, "survivor": survivor},
        )
        return redirect("customers:detail", pk=survivor.pk)

    def counts(c: Customer) -> dict[str, int]:
        return {"touchpoints": c.touchpoints.count(), "identities": c.identities.count()}

    return render(
        request,
        "customers/merge_confirm.html",
        {
            "merged": merged,
            "survivor": survivor,
            "form": form,
            "merged_counts": counts(merged),
            "survivor_counts": counts(survivor),
        },
    )


@require_POST
@staff_view("customers.view_customer", "customers.add_merge")
def merge_undo(request: HttpRequest, pk: int) -> HttpResponse:
    visible = visible_customers(request)
    merge = get_object_or_404(
        Merge.objects.select_related("survivor", "merged").filter(
            survivor__in=visible, undone_at__isnull=True
        ),
        pk=pk,
    )
    try:
        actions.undo_merge(merge, user=request.user)
    except ValueError as error:  # e.g. the survivor was merged again since
        messages.error(request, str(error))
        return redirect("customers:detail", pk=merge.survivor.pk)
    messages.success(
        request,
        _("The merge of %(merged)s into %(survivor)s was undone.")
        % {"merged": merge.merged, "survivor": merge.survivor},
    )
    return redirect("customers:detail", pk=merge.merged.pk)


@staff_view("customers.view_identityreview")
def review_list(request: HttpRequest) -> HttpResponse:
    reviews = (
        IdentityReview.objects.filter(status=IdentityReview.Status.OPEN)
        .select_related("source")
        .prefetch_related("candidates__home_unit")
        .order_by("created_at", "pk")
    )
    page = Paginator(reviews, REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "can_resolve": request.user.has_perm("customers.change_identityreview"),
    }
    if is_htmx(request, "reviews"):
        return render(request, "customers/_reviews.html", context)
    return render(request, "customers/reviews.html", context)


def open_review(pk: int) -> IdentityReview:
    return get_object_or_404(
        IdentityReview.objects.filter(status=IdentityReview.Status.OPEN)
        .select_related("source")
        .prefetch_related("candidates"),
        pk=pk,
    )


@require_POST
@staff_view("customers.view_identityreview", "customers.change_identityreview")
def review_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    review = open_review(pk)
    form = ReviewResolveForm(request.POST, candidates=list(review.candidates.all()))
    if not form.is_valid():
        messages.error(request, _("Choose one of the candidates or a new customer."))
        return redirect("customers:reviews")
    try:
        customer = actions.resolve_review(review, customer=form.chosen(), user=request.user)
    except ValueError as error:  # settled by someone else meanwhile
        messages.error(request, str(error))
        return redirect("customers:reviews")
    messages.success(
        request,
        _("The record %(source)s:%(external_id)s now belongs to %(customer)s.")
        % {"source": review.source, "external_id": review.external_id, "customer": customer},
    )
    return redirect("customers:reviews")


@require_POST
@staff_view("customers.view_identityreview", "customers.change_identityreview")
def review_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    review = open_review(pk)
    try:
        actions.dismiss_review(review, user=request.user)
    except ValueError as error:
        messages.error(request, str(error))
        return redirect("customers:reviews")
    messages.success(
        request,
        _("The review of %(source)s:%(external_id)s was dismissed.")
        % {"source": review.source, "external_id": review.external_id},
    )
    return redirect("customers:reviews")
