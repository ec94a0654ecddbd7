"""The customer's offer page: GET only shows; POST records consent once; bad links are a 404."""

from __future__ import annotations

from django.test import Client

from rapport.cases.actions import consent, remedies
from tests.cases.conftest import agent
from tests.cases.test_authority import working_case


def offered(customer, open_case, users):
    case = working_case(customer, open_case, users)
    remedy = remedies.propose_remedy(
        case.pk, case.version, agent(users), kind="voucher", value="800", currency="TWD"
    )
    case.refresh_from_db()
    consent.offer_remedy(case.pk, case.version, remedy.pk, agent(users))
    return remedy, f"/cases/accept/{consent.accept_token(remedy)}"


def test_get_shows_the_offer_in_the_customers_language_and_changes_nothing(
    customer, open_case, users
):
    remedy, url = offered(customer, open_case, users)
    page = Client().get(url)
    assert page.status_code == 200
    assert "接受" in page.content.decode()  # the customer prefers zh-hant
    remedy.refresh_from_db()
    assert remedy.status == "offered"


def test_post_accepts_once(customer, open_case, users):
    remedy, url = offered(customer, open_case, users)
    client = Client(enforce_csrf_checks=True)
    assert client.post(url, {"answer": "accept"}).status_code == 200
    remedy.refresh_from_db()
    assert remedy.status == "accepted" and remedy.consent_channel == "link"
    again = client.post(url, {"answer": "decline"})
    assert again.status_code == 200 and 'role="alert"' in again.content.decode()
    remedy.refresh_from_db()
    assert remedy.status == "accepted"


def test_decline(customer, open_case, users):
    remedy, url = offered(customer, open_case, users)
    Client().post(url, {"answer": "decline"})
    remedy.refresh_from_db()
    assert remedy.status == "declined"


def test_tampered_link_is_a_404(customer, open_case, users):
    _remedy, url = offered(customer, open_case, users)
    assert Client().get(url[:-3] + "abc").status_code == 404
    assert Client().post(url[:-3] + "abc", {"answer": "accept"}).status_code == 404
