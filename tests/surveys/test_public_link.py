"""Anonymous QR/link surveys at /s/q/<signed>/: nothing stored before a valid first page."""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from rapport.surveys import tokens
from rapport.surveys.models import Invitation, Response


def link(token: str) -> str:
    return reverse("surveys_public:link", args=[token])


def test_anonymous_link_creates_an_invitation_on_the_first_valid_post(client, make_survey, org):
    survey = make_survey("csat")
    token = tokens.public_token(survey.pk, unit_id=org["taipei"].pk, channel="qr")
    page = client.get(link(token) + "?lang=zh-hans")
    assert "您对最近一次与我们接触的体验满意吗？" in page.content.decode()
    assert not Invitation.objects.exists()
    invalid = client.post(link(token), {"page": "1", "q_satisfaction": "9", "lang": "en"})
    assert "Please choose a number from 1 to 5." in invalid.content.decode()
    assert not Invitation.objects.exists()
    moved = client.post(link(token), {"page": "1", "q_satisfaction": "5", "lang": "en"})
    assert moved.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.customer is None and invitation.channel == "qr"
    assert invitation.unit == org["taipei"] and invitation.language == "en"
    done = client.post(moved["Location"], {"page": "2", "q_comment": "Quick and kind"})
    assert done.status_code == 302
    response = Response.objects.get()
    assert response.state == "completed" and response.customer is None
    assert response.unit == org["taipei"] and response.csat == 5


def test_each_scan_is_a_new_response(client, make_survey):
    survey = make_survey("csat")
    token = tokens.public_token(survey.pk)
    for _ in range(2):
        client.post(link(token), {"page": "1", "q_satisfaction": "4"})
    assert Response.objects.count() == 2


def test_forged_or_closed_links(client, make_survey):
    survey = make_survey("csat")
    # A payload naming a survey, signed with the wrong salt: not ours.
    forged = signing.dumps({"s": survey.pk, "c": "qr"}, salt="something-else")
    assert client.get(link(forged)).status_code == 404
    assert client.post(link(forged), {"page": "1", "q_satisfaction": "4"}).status_code == 404
    assert client.get(link("1")).status_code == 404
    survey.archived = True
    survey.save()
    assert client.get(link(tokens.public_token(survey.pk))).status_code == 410
    assert not Invitation.objects.exists()
