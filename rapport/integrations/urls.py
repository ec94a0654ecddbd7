from django.urls import path
from django.views.generic import RedirectView

from rapport.integrations import views

app_name = "integrations"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="integrations:keys"), name="index"),
    path("keys/", views.key_list, name="keys"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/deactivate/", views.webhook_deactivate, name="webhook_deactivate"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery>/",
        views.delivery_detail,
        name="delivery",
    ),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery>/redeliver/",
        views.delivery_redeliver,
        name="redeliver",
    ),
]
