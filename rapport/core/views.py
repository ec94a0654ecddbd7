"""The home page, and the decorator every page view goes through."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from rapport.customers.models import Customer, IdentityReview
from rapport.org.scoping import scope
from rapport.touchpoints.models import Touchpoint
from rapport.touchpoints.timeline import kind_labels

CHART_DAYS = 30


def viewer_time_zone(user: Any) -> zoneinfo.ZoneInfo:
    """Times are shown in the viewer's unit's time zone, else the company default."""
    staff = getattr(user, "staff", None)
    if staff is not None:
        return staff.unit.tz
    return zoneinfo.ZoneInfo(settings.RAPPORT_DEFAULT_TIME_ZONE)


def staff_view(
    *permissions: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Sign-in required, every permission required (403 otherwise), times in the viewer's zone.

    Responses are rendered inside the time-zone override, so views must return rendered
    responses (`render`), not lazy TemplateResponses.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if permissions and not request.user.has_perms(permissions):
                raise PermissionDenied
            with timezone.override(viewer_time_zone(request.user)):
                return view(request, *args, **kwargs)

        return wrapper

    return decorate


def is_htmx(request: HttpRequest, target: str | None = None) -> bool:
    """Whether htmx asked for a fragment (of the element with id `target`, when given)."""
    if request.headers.get("HX-Request") != "true":
        return False
    return target is None or request.headers.get("HX-Target") == target


def daily_counts(qs: Any, days: int, today: date) -> list[tuple[date, int]]:
    """Rows per local day for the last `days` days, with the empty days as zero."""
    first = today - timedelta(days=days - 1)
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(first, time.min), tz)
    rows = (
        qs.filter(occurred_at__gte=start)
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_day = {row["day"]: row["n"] for row in rows}
    return [
        (first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


@staff_view()
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context: dict[str, Any] = {"can_view_customers": user.has_perm("customers.view_customer")}
    if context["can_view_customers"]:
        customers = scope(Customer.objects.filter(merged_into__isnull=True), user, "home_unit")
        context["customer_count"] = customers.count()
    if user.has_perm("touchpoints.view_touchpoint"):
        touchpoints = scope(Touchpoint.objects.all(), user, "customer__home_unit")
        today = timezone.localdate()
        days = daily_counts(touchpoints, CHART_DAYS, today)
        context["touchpoint_count"] = touchpoints.count()
        context["days"] = days
        context["days_total"] = sum(n for _d, n in days)
        context["chart"] = {
            "labels": [d.isoformat() for d, _n in days],
            "values": [n for _d, n in days],
        }
        recent = list(
            touchpoints.select_related("customer", "unit").order_by("-occurred_at", "-pk")[:8]
        )
        labels = kind_labels() if recent else {}
        context["recent"] = [{"tp": tp, "kind": labels.get(tp.kind, tp.kind)} for tp in recent]
    if user.has_perm("customers.view_identityreview"):
        context["open_reviews"] = IdentityReview.objects.filter(
            status=IdentityReview.Status.OPEN
        ).count()
    return render(request, "core/home.html", context)
