"""Email invitations through a real SMTP server: what arrives, the link, unsubscribing, outages
(retried, never lost, never twice), an opt-out after scheduling, reminders, bounces, expiry."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from django.utils import timezone

from rapport.customers.models import Consent
from rapport.surveys import distribution, optout
from rapport.surveys.models import Invitation
from tests.surveys.distribution.conftest import body_text

LINK = re.compile(r"http://testserver(/s/[^\s\"<]+/)")


def links(message) -> tuple[str, str]:
    """(survey link path, unsubscribe link path) from the plain-text part."""
    found = LINK.findall(body_text(message))
    survey = next(p for p in found if "/unsubscribe/" not in p)
    unsubscribe = next(p for p in found if "/unsubscribe/" in p)
    return survey, unsubscribe


def test_invitation_arrives_in_the_customers_language_and_its_link_works(
    smtp, policy, nps, reachable, client
):
    customer = reachable("Lin Mei", preferred_language="zh-hant")
    invitation = distribution.invite_after_event(customer, nps, reason="test")
    assert invitation.status == "scheduled" and invitation.token_hash == ""

    report = distribution.send_due()
    assert report.sent == 1
    (message,) = smtp.mailbox.messages
    assert message["To"] == "lin.mei@example.com"
    assert message["Content-Language"] == "zh-hant"
    assert message.get_content_type() == "multipart/alternative"
    text, html = body_text(message), body_text(message, "html")
    assert "感謝您的惠顧" in text and "開始填寫問卷" in html
    survey_path, unsubscribe_path = links(message)
    assert message["List-Unsubscribe"].strip() == f"<http://testserver{unsubscribe_path}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    invitation.refresh_from_db()
    assert invitation.status == "sent" and invitation.sent_at is not None
    page = client.get(survey_path)
    assert page.status_code == 200
    assert page["Content-Language"] == "zh-hant"
    invitation.refresh_from_db()
    assert invitation.status == "opened"


def test_english_customer_gets_english(smtp, policy, nps, reachable):
    customer = reachable("Bob Chen", preferred_language="en")
    distribution.invite_after_event(customer, nps)
    distribution.send_due()
    (message,) = smtp.mailbox.messages
    assert message["Content-Language"] == "en"
    assert "Thank you for choosing us" in body_text(message)


def test_unsubscribe_link_records_the_opt_out_without_login(smtp, policy, nps, reachable, client):
    customer = reachable()
    distribution.invite_after_event(customer, nps)
    distribution.send_due()
    _survey, unsubscribe_path = links(smtp.mailbox.messages[0])

    shown = client.get(unsubscribe_path)  # a link scanner's GET changes nothing
    assert shown.status_code == 200
    assert not Consent.objects.filter(customer=customer).exists()

    done = client.post(unsubscribe_path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    consent = Consent.objects.get(customer=customer, channel="email", purpose="survey")
    assert consent.granted is False
    assert not customer.may_contact("email", "survey")

    # ... and the next invitation is suppressed by consent.
    later = distribution.invite_after_event(
        customer, nps, now=timezone.now() + dt.timedelta(days=90)
    )
    assert later.status == "suppressed" and later.suppressed_by == "consent"


def test_tampered_unsubscribe_link_is_refused(client, customer):
    token = optout.unsubscribe_token(customer.pk, "email")
    response = client.post(f"/s/unsubscribe/{token[:-2]}xx/")
    assert response.status_code == 404
    assert not Consent.objects.filter(customer=customer).exists()


def test_smtp_down_retries_later_and_sends_once(smtp, policy, nps, reachable):
    customer = reachable()
    invitation = distribution.invite_after_event(customer, nps)
    smtp.stop()
    now = timezone.now()
    report = distribution.send_due(now=now)
    assert report.retrying == 1 and report.sent == 0
    invitation.refresh_from_db()
    assert invitation.status == "scheduled"
    assert invitation.attempts == 1 and invitation.last_error
    assert invitation.next_attempt_at > now

    assert distribution.send_due(now=now).sent == 0  # not due again yet
    smtp.start()
    assert distribution.send_due(now=now).sent == 0  # still waiting for its retry time
    later = invitation.next_attempt_at + dt.timedelta(seconds=1)
    assert distribution.send_due(now=later).sent == 1
    assert distribution.send_due(now=later + dt.timedelta(hours=1)).sent == 0
    assert len(smtp.mailbox.messages) == 1
    invitation.refresh_from_db()
    assert invitation.status == "sent" and invitation.attempts == 2 and invitation.last_error == ""


def test_after_max_attempts_it_bounces_with_the_reason(smtp, policy, nps, reachable):
    invitation = distribution.invite_after_event(reachable(), nps)
    smtp.stop()
    now = timezone.now()
    for _ in range(policy.max_attempts):
        distribution.send_due(now=now)
        now += dt.timedelta(hours=7)
    invitation.refresh_from_db()
    assert invitation.status == "bounced"
    assert invitation.attempts == policy.max_attempts
    assert "mail server" in invitation.last_error


def test_opt_out_between_scheduling_and_sending_is_not_sent(smtp, policy, nps, reachable):
    customer = reachable()
    invitation = distribution.invite_after_event(customer, nps)
    assert invitation.status == "scheduled"
    optout.record_opt_out(customer.pk, "email")
    report = distribution.send_due()
    assert report.suppressed == 1 and report.sent == 0
    invitation.refresh_from_db()
    assert invitation.status == "suppressed" and invitation.suppressed_by == "consent"
    assert smtp.mailbox.messages == []


def test_one_reminder_after_n_days_with_a_fresh_link(smtp, policy, nps, reachable, client):
    customer = reachable()
    invitation = distribution.invite_after_event(customer, nps, reminder_days=3)
    now = timezone.now()
    distribution.send_due(now=now)
    first_link, _ = links(smtp.mailbox.messages[0])

    assert distribution.send_reminders(now=now + dt.timedelta(days=2)).sent == 0
    assert distribution.send_reminders(now=now + dt.timedelta(days=3, minutes=1)).sent == 1
    assert distribution.send_reminders(now=now + dt.timedelta(days=5)).sent == 0  # only one
    assert len(smtp.mailbox.messages) == 2
    reminder = smtp.mailbox.messages[1]
    assert reminder["Subject"].strip().startswith("Reminder:")
    second_link, _ = links(reminder)
    assert second_link != first_link
    assert client.get(first_link).status_code == 404  # the old link is retired
    assert client.get(second_link).status_code == 200
    invitation.refresh_from_db()
    assert invitation.reminded_at is not None


def test_no_reminder_once_completed(smtp, policy, nps, reachable):
    invitation = distribution.invite_after_event(reachable(), nps, reminder_days=1)
    now = timezone.now()
    distribution.send_due(now=now)
    Invitation.objects.filter(pk=invitation.pk).update(status="completed")
    assert distribution.send_reminders(now=now + dt.timedelta(days=2)).sent == 0
    assert len(smtp.mailbox.messages) == 1


def test_expiry_job_flips_old_links(policy, nps, reachable):
    invitation = distribution.invite_after_event(reachable(), nps, validity_days=10)
    assert distribution.expire_due(timezone.now() + dt.timedelta(days=9)) == 0
    assert distribution.expire_due(timezone.now() + dt.timedelta(days=11)) == 1
    invitation.refresh_from_db()
    assert invitation.status == "expired"


def test_link_only_invitations_are_never_emailed(smtp, policy, invite, nps, reachable):
    invite(nps, reachable())  # actions.create_invitation: scheduled but no sending time
    assert distribution.send_due().sent == 0
    assert smtp.mailbox.messages == []


def test_links_point_at_the_site(smtp, policy, nps, reachable):
    distribution.invite_after_event(reachable(), nps)
    distribution.send_due()
    survey_path, _ = links(smtp.mailbox.messages[0])
    assert urlsplit(survey_path).path.startswith("/s/")
