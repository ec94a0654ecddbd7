"""The approval queue: pending requests asked of me (and, for managers, of my units), recent
decisions, and deciding one (rapport.cases.actions.remedies.decide_approval)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.cases import forms, states
from rapport.cases.actions import CaseError, remedies
from rapport.cases.models import ApprovalRequest
from rapport.cases.views_access import actor_of, viewer
from rapport.core.views import staff_view
from rapport.org.scoping import scope


@staff_view("cases.view_approvalrequest")
def approvals(request: HttpRequest) -> HttpResponse:
    """Pending approval requests asked of me, and (for managers) of my units; decided recently."""
    staff = viewer(request)
    pending = scope(
        ApprovalRequest.objects.filter(decision=ApprovalRequest.Decision.PENDING),
        request.user,
        "remedy__case__unit",
    ).select_related(
        "remedy__case__customer", "remedy__case__owner", "remedy__proposed_by", "approver"
    )
    show = request.GET.get("show", "mine")
    if show != "units" and staff is not None:
        pending = pending.filter(approver=staff)
    rows = [
        {
            "request": a,
            "can_decide": staff is not None
            and (a.approver_id == staff.pk or staff.sees_whole_enterprise),
            "overdue": a.due_at <= timezone.now(),
            "form": forms.DecisionForm(prefix=f"a{a.pk}"),
        }
        for a in pending.order_by("due_at", "pk")[:200]
    ]
    recent = scope(
        ApprovalRequest.objects.exclude(decision=ApprovalRequest.Decision.PENDING),
        request.user,
        "remedy__case__unit",
    )
    if staff is not None:
        recent = recent.filter(Q(approver=staff) | Q(decided_by=staff))
    context = {
        "rows": rows,
        "show": show,
        "recent": list(
            recent.select_related("remedy__case", "decided_by").order_by("-decided_at", "-pk")[:20]
        ),
        "can_decide_any": request.user.has_perm("cases.change_approvalrequest"),
    }
    return render(request, "cases/approvals.html", context)


@require_POST
@staff_view("cases.view_approvalrequest", "cases.change_approvalrequest")
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(
        scope(ApprovalRequest.objects.all(), request.user, "remedy__case__unit").select_related(
            "remedy"
        ),
        pk=pk,
    )
    form = forms.DecisionForm(request.POST, prefix=f"a{pk}")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(f"{reverse('cases:approvals')}#a{pk}")
    d = form.cleaned_data
    try:
        decided = remedies.decide_approval(found.pk, d["approve"], d["reason"], actor_of(request))
    except (CaseError, states.IllegalTransition) as exc:
        messages.error(request, str(exc))
    else:
        remedy = found.remedy
        if decided.decision == ApprovalRequest.Decision.APPROVED:
            messages.success(
                request, _("Approved %(remedy)s; the owner can offer it now.") % {"remedy": remedy}
            )
        else:
            messages.success(request, _("Refused %(remedy)s.") % {"remedy": remedy})
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/cases/") else reverse("cases:approvals"))
