"""The Django admin: every Rapport model has a working list and, where allowed, a form."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

RAPPORT_APPS = {"org", "customers", "touchpoints", "integrations"}


def registered():
    return sorted(
        (m._meta.app_label, m._meta.model_name)
        for m in admin.site._registry
        if m._meta.app_label in RAPPORT_APPS
    )


def test_every_model_of_these_apps_is_registered():
    from django.apps import apps

    wanted = {
        (m._meta.app_label, m._meta.model_name)
        for label in RAPPORT_APPS
        for m in apps.get_app_config(label).get_models()
        if not m._meta.auto_created
    }
    inline = {
        (i.model._meta.app_label, i.model._meta.model_name)
        for model_admin in admin.site._registry.values()
        for i in model_admin.inlines
    }
    assert wanted - set(registered()) - inline == set()


@pytest.mark.parametrize("app_label,model_name", registered())
def test_admin_pages_open(people, users, as_user, app_label, model_name):
    client = as_user("admin")
    changelist = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"), {"q": "x"})
    assert changelist.status_code == 200
    model = admin.site._registry
    model_admin = next(a for m, a in model.items() if m._meta.model_name == model_name)
    if model_admin.has_add_permission(changelist.wsgi_request):
        assert client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 200


def test_only_admins_get_in(users, as_user):
    assert as_user("cx").get(reverse("admin:index")).status_code == 302
