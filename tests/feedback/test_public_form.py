"""The public feedback form: no login, three languages, CSRF, a rate limit, inert text."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rapport.feedback.models import FeedbackItem
from rapport.feedback.views import FORM_LIMIT

pytestmark = pytest.mark.django_db
URL = reverse("feedback:give")


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("en", "Tell us what you think"),
        ("zh-hant", 'lang="zh-Hant"'),
        ("zh-hans", 'lang="zh-Hans"'),
    ],
)
def test_the_form_opens_without_login_in_three_languages(org, lang, title):
    response = Client().get(URL, {"lang": lang})
    assert response.status_code == 200
    assert title in response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_sending_feedback_records_it_for_the_unit(org):
    client = Client()
    response = client.post(
        URL + "?channel=widget&unit=taipei",
        {"text": "The waiting room was cold.", "name": "Ann", "contact": "ann@example.com"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("feedback:thanks")
    row = FeedbackItem.objects.get()
    assert (row.channel, row.unit_id, row.author_name) == ("widget", org["taipei"].pk, "Ann")
    assert row.author_contact == "ann@example.com" and row.client_hash
    assert client.get(reverse("feedback:thanks")).status_code == 200


def test_empty_text_is_refused_with_a_message(org):
    response = Client().post(URL, {"text": "   "})
    assert response.status_code == 400
    assert not FeedbackItem.objects.exists()


def test_csrf_is_enforced(org):
    client = Client(enforce_csrf_checks=True)
    assert client.post(URL, {"text": "hello"}).status_code == 403
    assert not FeedbackItem.objects.exists()


def test_a_flood_from_one_address_is_limited(org):
    client = Client()
    for n in range(FORM_LIMIT):
        assert client.post(URL, {"text": f"message {n}"}).status_code == 302
    response = client.post(URL, {"text": "one more"})
    assert response.status_code == 429
    assert FeedbackItem.objects.count() == FORM_LIMIT
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert other.post(URL, {"text": "from elsewhere"}).status_code == 302


def test_the_hidden_field_catches_bots_silently(org):
    response = Client().post(URL, {"text": "buy pills", "website": "http://spam"})
    assert response.status_code == 302
    assert not FeedbackItem.objects.exists()


def test_a_script_payload_is_stored_as_data_and_shown_inert(org, users):
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    Client().post(URL + "?unit=taipei", {"text": payload})
    row = FeedbackItem.objects.get()
    assert row.text == payload
    staff = Client()
    staff.force_login(users["admin"])
    for url in (reverse("feedback:item", args=[row.pk]), reverse("feedback:items")):
        html = staff.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html


def test_the_widget_snippet_opens_the_form_from_the_surveys_widget(org, users):
    from rapport.feedback.views import widget_snippet

    snippet = widget_snippet("taipei", "zh-hant")
    assert reverse("surveys_public:widget_js") in snippet
    assert reverse("feedback:give") + "?channel=widget&amp;unit=taipei" in snippet
    staff = Client()
    staff.force_login(users["cx"])
    html = staff.get(reverse("feedback:dashboard")).content.decode()
    assert "data-rapport-survey=" in html  # shown (escaped) for copying
