"""Opening a case by hand (walk-in, hotline): find the customer, then describe the case; the
person who takes it owns it (one-stop service)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from rapport.cases import forms, states
from rapport.cases.actions import CaseError, opening
from rapport.cases.models import Case
from rapport.cases.views_access import actor_of
from rapport.core.views import is_htmx, staff_view
from rapport.customers import views as customer_views


@staff_view("cases.add_case", "customers.view_customer")
def create(request: HttpRequest) -> HttpResponse:
    """Walk-in or hotline: find the customer (as on the customer list), then describe the case.
    The person who takes it owns it (one-stop service)."""
    customers = customer_views.visible_customers(request).filter(merged_into__isnull=True)
    search = customer_views.SearchForm(request.GET or None)
    text = search.cleaned_data["q"] if search.is_valid() else ""
    chosen_id = request.POST.get("customer") or request.GET.get("customer")
    chosen = (
        customers.select_related("home_unit").filter(pk=chosen_id).first()
        if str(chosen_id or "").isdigit()
        else None
    )
    results = (
        list(customer_views.search(customers, text).select_related("home_unit")[:20])
        if text
        else []
    )
    form = forms.CreateCaseForm(
        request.POST or None, initial={"customer": chosen.pk if chosen else None}
    )
    error = ""
    if request.method == "POST":
        if chosen is None:
            error = _("Choose the customer first.")
        elif form.is_valid():
            d = form.cleaned_data
            channel = dict(forms.CreateCaseForm.CHANNELS)[d["channel"]]
            description = f"[{channel}] {d['description']}".strip()
            try:
                case, created = opening.create_case(
                    chosen,
                    d["subject"],
                    actor_of(request),
                    topic=d["topic"],
                    description=description,
                    remedy_wanted=d["remedy_wanted"],
                    severity=d["severity"],
                    source=Case.Source.MANUAL,
                )
            except (CaseError, states.IllegalTransition) as exc:
                error = str(exc)
            else:
                if created:
                    messages.success(request, _("Case %(ref)s opened.") % {"ref": case.ref})
                else:
                    messages.warning(
                        request,
                        _(
                            "%(customer)s already has open case %(ref)s on this topic; "
                            "the report was added to it."
                        )
                        % {"customer": chosen, "ref": case.ref},
                    )
                return redirect("cases:detail", case.pk)
    context = {
        "search": search,
        "q": text,
        "results": results,
        "chosen": chosen,
        "form": form,
        "error": error,
        "open_cases": list(
            Case.objects.filter(customer=chosen)
            .exclude(state=states.CLOSED)
            .select_related("owner")
        )
        if chosen
        else [],
    }
    if is_htmx(request, "customer-results"):
        return render(request, "cases/_customer_results.html", context)
    return render(request, "cases/create.html", context)
