"""Template context shared by every page: the navigation the signed-in person may use."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from rapport import __version__


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    permission: str | None  # None: every signed-in person; "is_staff": Django admin users
    section: str  # the first path segment that marks the item as the current one

    def allowed(self, user) -> bool:  # type: ignore[no-untyped-def]
        if self.permission is None:
            return True
        if self.permission == "is_staff":
            return bool(user.is_staff)
        return bool(user.has_perm(self.permission))


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("home", _("Home"), None, ""),
    NavItem("customers:list", _("Customers"), "customers.view_customer", "customers"),
    NavItem("customers:reviews", _("Review queue"), "customers.view_identityreview", "reviews"),
    NavItem("surveys:list", _("Surveys"), "surveys.view_survey", "surveys"),
    NavItem("cases:inbox", _("Cases"), "cases.view_case", "cases"),
    NavItem("feedback:dashboard", _("Feedback"), "feedback.view_feedbackitem", "feedback"),
    NavItem("insights:overview", _("Insights"), "insights.view_customerinsight", "insights"),
    NavItem("integrations:keys", _("API keys"), "integrations.view_apikey", "keys"),
    NavItem(
        "integrations:webhooks",
        _("Webhooks"),
        "integrations.view_webhooksubscription",
        "webhooks",
    ),
    NavItem("admin:index", _("Admin"), "is_staff", "admin"),
)


def _section(path: str) -> str:
    """The part of the path that says which area a page belongs to."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["customers", "reviews"]:
        return "reviews"
    if parts and parts[0] == "integrations":
        return parts[1] if len(parts) > 1 else "keys"
    return parts[0] if parts else ""


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    items: list[dict[str, object]] = []
    if user is not None and user.is_authenticated:
        current = _section(request.path)
        for item in NAVIGATION:
            if not item.allowed(user):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:  # an area whose app is not installed here
                continue
            items.append({"url": url, "label": item.label, "current": item.section == current})
    return {
        "rapport_version": __version__,
        "nav_items": items,
        "staff_member": getattr(user, "staff", None) if user is not None else None,
    }
