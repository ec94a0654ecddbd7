"""Roles are Django groups with permissions; a staff member's role decides their group.

Admins, CX managers and analysts see the whole enterprise; unit managers and agents see only
their unit's subtree (rapport.org.scoping). Analysts only read.
"""

from __future__ import annotations

from typing import Any

# Permission codenames per role, as "app_label.codename". Later apps add theirs here.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "admin": {"*"},
    "cx_manager": {
        "feedback.view_feedbackitem",
        "feedback.add_feedbackitem",
        "feedback.change_feedbackitem",
        "feedback.add_correction",
        "feedback.view_correction",
        "feedback.view_theme",
        "feedback.add_theme",
        "feedback.change_theme",
        "feedback.view_campaign",
        "feedback.add_campaign",
        "feedback.change_campaign",
        "cases.view_case",
        "cases.add_case",
        "cases.change_case",
        "cases.view_approvalrequest",
        "cases.change_approvalrequest",
        "cases.view_caserule",
        "cases.add_caserule",
        "cases.change_caserule",
        "cases.view_slapolicy",
        "cases.change_slapolicy",
        "cases.view_authoritylimit",
        "cases.add_authoritylimit",
        "cases.change_authoritylimit",
        "cases.view_businesscalendar",
        "cases.add_businesscalendar",
        "cases.change_businesscalendar",
        "cases.view_messagetemplate",
        "cases.change_messagetemplate",
        "customers.view_customer",
        "customers.change_customer",
        "customers.add_customer",
        "customers.view_identityreview",
        "customers.change_identityreview",
        "customers.add_merge",
        "customers.view_merge",
        "touchpoints.view_touchpoint",
        "touchpoints.add_touchpoint",
        "integrations.view_apikey",
        "integrations.add_apikey",
        "integrations.change_apikey",
        "integrations.view_webhookdelivery",
        "integrations.view_webhooksubscription",
        "integrations.add_webhooksubscription",
        "integrations.change_webhooksubscription",
        "org.view_orgunit",
        "org.view_staff",
        "surveys.view_survey",
        "surveys.add_survey",
        "surveys.change_survey",
        "insights.view_customerinsight",
        "insights.add_competitorbenchmark",
        "insights.change_competitorbenchmark",
        "insights.delete_competitorbenchmark",
    },
    "unit_manager": {
        "feedback.view_feedbackitem",
        "feedback.add_correction",
        "feedback.view_theme",
        "feedback.view_campaign",
        "cases.view_case",
        "cases.add_case",
        "cases.change_case",
        "cases.view_approvalrequest",
        "cases.change_approvalrequest",
        "customers.view_customer",
        "customers.change_customer",
        "customers.add_customer",
        "touchpoints.view_touchpoint",
        "touchpoints.add_touchpoint",
        "org.view_orgunit",
        "org.view_staff",
        "surveys.view_survey",
        "insights.view_customerinsight",
    },
    "agent": {
        "feedback.view_feedbackitem",
        "feedback.add_correction",
        "cases.view_case",
        "cases.add_case",
        "cases.change_case",
        "customers.view_customer",
        "customers.change_customer",
        "touchpoints.view_touchpoint",
        "touchpoints.add_touchpoint",
        "org.view_orgunit",
        "surveys.view_survey",
    },
    "analyst": {
        "feedback.view_feedbackitem",
        "feedback.view_correction",
        "feedback.view_theme",
        "feedback.view_campaign",
        "cases.view_case",
        "cases.view_approvalrequest",
        "customers.view_customer",
        "customers.view_identityreview",
        "customers.view_merge",
        "touchpoints.view_touchpoint",
        "org.view_orgunit",
        "org.view_staff",
        "integrations.view_webhookdelivery",
        "surveys.view_survey",
        "insights.view_customerinsight",
    },
}


def sync_role_groups(**_: Any) -> None:
    """Create or update one group per role with its permissions (run after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    every = Permission.objects.select_related("content_type")
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in every}
    for role, wanted in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        perms = (
            list(by_name.values())
            if "*" in wanted
            else [by_name[n] for n in sorted(wanted) if n in by_name]
        )
        group.permissions.set(perms)
