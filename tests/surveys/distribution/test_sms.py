"""SMS through the generic webhook provider, against a real local HTTP server."""

from __future__ import annotations

import json

import pytest

from rapport.integrations.rules import signature_matches
from rapport.surveys import distribution
from rapport.surveys.channels import SendError
from rapport.surveys.channels.sms import WebhookSmsProvider
from rapport.surveys.models import SmsProviderConfig
from tests.integrations.conftest import Receiver


def test_sms_invitation_is_posted_signed_in_the_customers_language(
    settings, policy, nps, reachable
):
    settings.SITE_URL = "http://testserver"
    gateway = Receiver()
    try:
        SmsProviderConfig.objects.create(url=gateway.url, secret="s3cret")
        customer = reachable("Wang", phone="+886912345678", preferred_language="zh-hans")
        invitation = distribution.invite_after_event(customer, nps, channel="sms")
        assert distribution.send_due().sent == 1
        (request,) = gateway.requests
        body = request["body"]
        data = json.loads(body)
        assert data["to"] == "+886912345678"
        assert "请告诉我们您的意见" in data["text"] and "http://testserver/s/" in data["text"]
        headers = request["headers"]
        assert signature_matches(
            "s3cret", headers["X-Rapport-Timestamp"], body, headers["X-Rapport-Signature"]
        )
        invitation.refresh_from_db()
        assert invitation.status == "sent"
    finally:
        gateway.close()


def test_gateway_errors_retry_or_bounce(policy, nps, reachable):
    gateway = Receiver()
    try:
        provider = WebhookSmsProvider(gateway.url, "k")
        gateway.status = 503
        with pytest.raises(SendError) as transient:
            provider.send("+886912345678", "hi")
        assert not transient.value.permanent
        gateway.status = 400
        with pytest.raises(SendError) as refused:
            provider.send("+886912345678", "hi")
        assert refused.value.permanent
    finally:
        gateway.close()


def test_no_phone_is_suppressed(policy, nps, reachable):
    invitation = distribution.invite_after_event(reachable(phone=""), nps, channel="sms")
    assert invitation.status == "suppressed" and invitation.suppressed_by == "no_address"


def test_no_provider_configured_retries(policy, nps, reachable):
    customer = reachable(phone="+886912345678")
    invitation = distribution.invite_after_event(customer, nps, channel="sms")
    report = distribution.send_due()
    assert report.retrying == 1
    invitation.refresh_from_db()
    assert invitation.status == "scheduled" and "no SMS provider" in invitation.last_error
