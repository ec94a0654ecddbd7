"""The built-in touchpoint channels and kinds. More kinds can be registered in the database."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

CHANNELS: dict[str, str] = {
    "branch": _("Branch"),
    "phone": _("Phone"),
    "email": _("Email"),
    "web": _("Web"),
    "app": _("App"),
    "chat": _("Chat"),
    "sms": _("SMS"),
    "mail": _("Post"),
    "social": _("Social media"),
    "other": _("Other"),
}

BUILTIN_KINDS: dict[str, str] = {
    "purchase": _("Purchase"),
    "service_visit": _("Service visit"),
    "inquiry": _("Inquiry"),
    "complaint": _("Complaint"),
    "claim": _("Claim"),
    "payment": _("Payment"),
    "renewal": _("Renewal"),
    "cancellation": _("Cancellation"),
    "campaign_sent": _("Campaign sent"),
    "campaign_response": _("Campaign response"),
    "loyalty_activity": _("Loyalty activity"),
    "web_visit": _("Web visit"),
    "referral": _("Referral"),
    "other": _("Other"),
}
