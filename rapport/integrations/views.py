"""Integration pages: API keys (the raw key is shown once), webhook subscriptions and their
delivery log. Admins and CX managers only, by permission; the work is done by
rapport.integrations.actions, as for the API and the commands."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.core.views import is_htmx, staff_view
from rapport.integrations import actions
from rapport.integrations.forms import (
    ApiKeyForm,
    DeliveryFilterForm,
    WebhookSubscriptionForm,
    show_error,
)
from rapport.integrations.models import ApiKey, WebhookDelivery, WebhookSubscription

DELIVERIES_PER_PAGE = 50


@staff_view("integrations.view_apikey")
def key_list(request: HttpRequest) -> HttpResponse:
    """The keys; on POST, issue one and show its secret in this response only (never stored)."""
    can_add = request.user.has_perm("integrations.add_apikey")
    if request.method == "POST" and not can_add:
        raise PermissionDenied
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = actions.create_api_key(
                form.cleaned_data["name"], form.cleaned_data["scopes"], created_by=request.user
            )
        except actions.IntegrationError as error:
            show_error(form, error)
        else:
            issued = {"key": key, "raw": raw}
            form = ApiKeyForm()
    keys = ApiKey.objects.select_related("created_by").order_by("revoked_at", "name")
    return render(
        request,
        "integrations/keys.html",
        {
            "keys": keys,
            "form": form,
            "issued": issued,
            "can_add": can_add,
            "can_revoke": request.user.has_perm("integrations.change_apikey"),
        },
        status=201 if issued else 200,
    )


@require_POST
@staff_view("integrations.view_apikey", "integrations.change_apikey")
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = actions.revoke_api_key(get_object_or_404(ApiKey, pk=pk).name)
    messages.success(request, _("The key “%(name)s” was revoked.") % {"name": key.name})
    return redirect("integrations:keys")


@staff_view("integrations.view_webhooksubscription")
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "integrations/webhooks.html",
        {
            "subscriptions": WebhookSubscription.objects.order_by("-active", "url"),
            "can_add": request.user.has_perm("integrations.add_webhooksubscription"),
        },
    )


@staff_view("integrations.view_webhooksubscription", "integrations.add_webhooksubscription")
def webhook_create(request: HttpRequest) -> HttpResponse:
    form = WebhookSubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = actions.create_subscription(**form.cleaned_data)
        except actions.IntegrationError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The webhook subscription was created."))
            return redirect("integrations:webhook", pk=subscription.pk)
    return render(request, "integrations/webhook_form.html", {"form": form, "subscription": None})


@staff_view("integrations.view_webhooksubscription", "integrations.change_webhooksubscription")
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    initial = {
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "active": subscription.active,
    }
    form = WebhookSubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_subscription(subscription, **form.cleaned_data)
        except actions.IntegrationError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The webhook subscription was saved."))
            return redirect("integrations:webhook", pk=subscription.pk)
    return render(
        request, "integrations/webhook_form.html", {"form": form, "subscription": subscription}
    )


@require_POST
@staff_view("integrations.view_webhooksubscription", "integrations.change_webhooksubscription")
def webhook_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    if subscription.active:
        actions.update_subscription(subscription, active=False)
        messages.success(request, _("The webhook subscription was deactivated."))
    return redirect("integrations:webhook", pk=subscription.pk)


@staff_view("integrations.view_webhooksubscription", "integrations.view_webhookdelivery")
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A subscription and its delivery log, newest first, filtered by status."""
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    form = DeliveryFilterForm(request.GET)
    deliveries = subscription.deliveries.order_by("-created_at", "-pk")
    if form.is_valid() and form.cleaned_data["status"]:
        deliveries = deliveries.filter(status=form.cleaned_data["status"])
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "subscription": subscription,
        "form": form,
        "page": page,
        "can_change": request.user.has_perm("integrations.change_webhooksubscription"),
    }
    if is_htmx(request, "deliveries"):
        return render(request, "integrations/_deliveries.html", context)
    return render(request, "integrations/webhook_detail.html", context)


def subscription_delivery(pk: int, delivery: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("subscription"), pk=delivery, subscription_id=pk
    )


@staff_view("integrations.view_webhooksubscription", "integrations.view_webhookdelivery")
def delivery_detail(request: HttpRequest, pk: int, delivery: int) -> HttpResponse:
    delivery_obj = subscription_delivery(pk, delivery)
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "delivery": delivery_obj,
            "subscription": delivery_obj.subscription,
            "attempts": list(delivery_obj.log.order_by("attempted_at", "pk")),
            "payload_json": json.dumps(delivery_obj.payload, indent=2, ensure_ascii=False),
            "can_change": request.user.has_perm("integrations.change_webhooksubscription"),
        },
    )


@require_POST
@staff_view("integrations.view_webhooksubscription", "integrations.change_webhooksubscription")
def delivery_redeliver(request: HttpRequest, pk: int, delivery: int) -> HttpResponse:
    actions.redeliver(subscription_delivery(pk, delivery))
    messages.success(request, _("The delivery will be sent again shortly."))
    return redirect("integrations:delivery", pk=pk, delivery=delivery)
