"""The public answering page /s/<token>/: flow, resume, languages, conditions and bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from rapport.core import events
from rapport.surveys import actions, tokens
from rapport.surveys.models import Answer, Invitation, Response


def url(token: str) -> str:
    return reverse("surveys_public:answer", args=[token])


@pytest.fixture
def nps(make_survey):
    return make_survey("nps")


@pytest.fixture
def received():
    """Payloads of response.completed seen by an in-process subscriber."""
    seen: list = []

    def handler(event_type, payloads):
        seen.extend(payloads)

    events.subscribe("response.completed")(handler)
    yield seen
    events._handlers["response.completed"].remove(handler)


def test_page_opens_in_the_customers_language_and_marks_opened(client, nps, customer, invite):
    invitation, token = invite(nps, customer)
    page = client.get(url(token))
    assert page.status_code == 200
    html = page.content.decode()
    assert "您有多大可能向親友或同事推薦我們？" in html
    assert page["Content-Language"] == "zh-hant"
    assert '<html lang="zh-hant">' in html
    assert 'role="radiogroup"' in html and "<legend>" in html
    invitation.refresh_from_db()
    assert invitation.status == "opened" and invitation.opened_at is not None


def test_full_flow_scores_emits_and_shows_thanks(
    client, nps, customer, invite, received, django_capture_on_commit_callbacks
):
    invitation, token = invite(nps, customer, language="en")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url(token), {"page": "1", "q_recommend": "3"})
        assert first.status_code == 302 and first["Location"] == url(token)
        page2 = client.get(url(token)).content.decode()
        assert "What is the main reason for your score?" in page2
        assert "What one thing could we do better?" in page2  # shown: 3 ≤ 8
        done = client.post(url(token), {"page": "2", "q_why": "Slow", "q_improve": "Speed"})
    assert done["Location"] == reverse("surveys_public:thanks", args=[token])
    thanks = client.get(done["Location"])
    assert "Thank you for your feedback." in thanks.content.decode()
    response = Response.objects.get(invitation=invitation)
    assert response.state == "completed" and response.nps_score == 3
    assert response.nps_class == "detractor"
    assert response.customer == customer and response.duration_seconds is not None
    invitation.refresh_from_db()
    assert invitation.status == "completed"
    assert [p["response_id"] for p in received] == [response.pk]
    assert received[0]["scores"]["nps_class"] == "detractor"
    assert received[0]["customer_id"] == customer.pk


def test_used_link_shows_already_answered_and_changes_nothing(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    client.post(url(token), {"page": "1", "q_recommend": "10"})
    client.post(url(token), {"page": "2", "q_why": "Great"})
    again = client.get(url(token))
    assert again.status_code == 200
    assert "You have already answered this survey" in again.content.decode()
    replay = client.post(url(token), {"page": "1", "q_recommend": "0"})
    assert replay.status_code == 200
    response = Response.objects.get(invitation=invitation)
    assert response.nps_score == 10
    assert Response.objects.count() == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.replace(t.split(".")[1], "x" * len(t.split(".")[1])),  # secret
        lambda t: "not-a-token",
        lambda t: "9" * 300,
    ],
)
def test_tampered_or_unknown_tokens_get_a_plain_404(client, nps, customer, invite, mangle):
    _invitation, token = invite(nps, customer)
    page = client.get(url(mangle(token)))
    assert page.status_code == 404
    html = page.content.decode()
    assert "We could not find this survey" in html
    assert nps.name not in html and "推薦" not in html
    assert client.post(url(mangle(token)), {"page": "1"}).status_code == 404


def test_another_customers_invitation_cannot_be_reached_with_my_secret(
    client, nps, customer, other_customer, invite
):
    mine, token = invite(nps, customer)
    theirs, _their_token = invite(nps, other_customer)
    my_secret = tokens.read_invitation_token(token)[1]
    forged = tokens.invitation_token(theirs.pk, my_secret)  # validly signed, wrong secret
    assert client.get(url(forged)).status_code == 404
    assert client.post(url(forged), {"page": "1", "q_recommend": "0"}).status_code == 404
    assert not Response.objects.exists()


def test_reissued_token_replaces_the_old_one(client, nps, customer, invite):
    invitation, old = invite(nps, customer)
    new = actions.issue_token(invitation)
    assert client.get(url(old)).status_code == 404
    assert client.get(url(new)).status_code == 200


def test_expired_links(client, nps, customer, invite):
    past = timezone.now() - dt.timedelta(minutes=1)
    _inv, token = invite(nps, customer, expires_at=past)
    page = client.get(url(token))
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode() or "已過期" in page.content.decode()
    invitation, token2 = invite(nps, customer)
    Invitation.objects.filter(pk=invitation.pk).update(status="expired")
    assert client.post(url(token2), {"page": "1", "q_recommend": "5"}).status_code == 410
    assert not Response.objects.exists()


def test_archived_survey_is_closed(client, nps, customer, invite):
    _inv, token = invite(nps, customer)
    nps.archived = True
    nps.save()
    assert client.get(url(token)).status_code == 410


@pytest.mark.parametrize("bad", ["11", "-1", "abc", "5.5", ""])
def test_out_of_range_answers_are_rejected_inline(client, nps, customer, invite, bad):
    _inv, token = invite(nps, customer, language="en")
    page = client.post(url(token), {"page": "1", "q_recommend": bad})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="alert"' in html and 'id="err-recommend"' in html
    assert "Please" in html
    assert not Response.objects.exists()


def test_questions_not_in_the_version_or_page_are_ignored(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    client.post(
        url(token),
        {"page": "1", "q_recommend": "9", "q_why": "sneaked in", "q_nonexistent": "x"},
    )
    response = Response.objects.get(invitation=invitation)
    keys = set(Answer.objects.filter(response=response).values_list("question__key", flat=True))
    assert keys == {"recommend"}


def test_a_page_out_of_turn_changes_nothing(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    skipped = client.post(url(token), {"page": "2", "q_why": "skipping ahead"})
    assert skipped.status_code == 302
    assert not Response.objects.exists()


def test_display_condition_hides_and_drops_answers(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    client.post(url(token), {"page": "1", "q_recommend": "10"})
    page2 = client.get(url(token)).content.decode()
    assert "What one thing could we do better?" not in page2
    client.post(url(token), {"page": "2", "q_why": "Great", "q_improve": "forced"})
    response = Response.objects.get(invitation=invitation)
    keys = set(Answer.objects.filter(response=response).values_list("question__key", flat=True))
    assert keys == {"recommend", "why"}


def test_going_back_and_changing_an_answer_drops_the_hidden_one(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    client.post(url(token), {"page": "1", "q_recommend": "2"})
    back = client.post(url(token), {"page": "2", "back": "1"})
    assert back.status_code == 302
    page1 = client.get(url(token)).content.decode()
    assert 'value="2" checked' in page1  # saved answer shown again
    client.post(url(token), {"page": "1", "q_recommend": "10"})
    client.post(url(token), {"page": "2", "q_why": "ok"})
    response = Response.objects.get(invitation=invitation)
    assert response.nps_score == 10


def test_script_text_is_stored_as_given_and_rendered_inert(client, nps, customer, invite):
    invitation, token = invite(nps, customer, language="en")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    client.post(url(token), {"page": "1", "q_recommend": "5"})
    shown = client.post(url(token), {"page": "2", "q_why": evil, "q_improve": "x" * 10_001})
    html = shown.content.decode()
    assert "10,000" in html  # the limit, said plainly
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    client.post(url(token), {"page": "2", "q_why": evil, "q_improve": "y" * 10_000})
    response = Response.objects.get(invitation=invitation)
    stored = Answer.objects.get(response=response, question__key="why")
    assert stored.value_text == evil
    assert len(Answer.objects.get(response=response, question__key="improve").value_text) == 10_000


def test_required_question_left_empty(client, make_survey, customer, invite):
    csat = make_survey("csat")
    _inv, token = invite(csat, customer, language="en")
    page = client.post(url(token), {"page": "1"})
    assert "Please answer this question." in page.content.decode()
    assert not Response.objects.exists()


def test_resume_after_reload_lands_on_the_saved_page(client, make_survey, customer, invite):
    csi = make_survey("csi")
    invitation, token = invite(csi, customer, language="en")
    form = {"page": "1", "q_service_initiation_1": "9", "q_service_initiation_2": "8"}
    form["q_service_initiation_3"] = "10"
    client.post(url(token), form)
    again = client.get(url(token)).content.decode()  # a fresh visit, e.g. the next day
    assert "Courtesy of your service advisor" in again
    assert "Page 2 of 6" in again
    invitation.refresh_from_db()
    assert invitation.status == "started"


def test_language_switch_is_kept(client, nps, customer, invite):
    invitation, token = invite(nps, customer)  # customer prefers zh-hant
    english = client.get(url(token) + "?lang=en").content.decode()
    assert "How likely are you to recommend us" in english
    invitation.refresh_from_db()
    assert invitation.language == "en"
    assert "How likely are you" in client.get(url(token)).content.decode()
    simplified = client.get(url(token) + "?lang=zh-hans").content.decode()
    assert "您有多大可能向亲友或同事推荐我们？" in simplified
    assert '<html lang="zh-hans">' in simplified


def test_zh_hant_page_chrome_is_translated(client, make_survey, customer, invite):
    csi = make_survey("csi")
    _inv, token = invite(csi, customer)
    html = client.get(url(token)).content.decode()
    assert "預約保養維修的便利程度" in html
    assert "下一頁" in html  # the Next button, from the app's own translations
    assert "非常差" in html and "非常好" in html


def test_touchpoint_context_is_copied_to_the_response(
    client, make_survey, customer, invite, service_visit
):
    csat = make_survey("csat")
    invitation, token = invite(csat, customer, touchpoint=service_visit, language="en")
    assert invitation.staff_id == service_visit.staff_id
    client.post(url(token), {"page": "1", "q_satisfaction": "2"})
    client.post(url(token), {"page": "2", "q_went_wrong": "Waited two hours"})
    response = Response.objects.get(invitation=invitation)
    assert (response.touchpoint, response.staff_id, response.unit_id) == (
        service_visit,
        service_visit.staff_id,
        service_visit.unit_id,
    )
    assert response.csat == 2 and response.csat_top2 is False


def test_page_query_count_is_pinned(
    client, make_survey, customer, invite, django_assert_max_num_queries
):
    csi = make_survey("csi")
    _inv, token = invite(csi, customer, language="en")
    form = {f"q_service_initiation_{i}": "7" for i in (1, 2, 3)}
    client.post(url(token), {"page": "1", **form})
    client.get(url(token))  # warm the definition cache, as a running server would be
    with django_assert_max_num_queries(3):
        page = client.get(url(token))
    assert page.status_code == 200
