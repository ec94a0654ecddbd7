"""Opening a case by hand: find the customer, describe the case; it goes through
opening.create_case (one open case per customer and topic)."""

from __future__ import annotations

from django.urls import reverse

from rapport.cases.models import Case

URL = reverse("cases:create")


def test_search_pick_and_open(client, users, customer, khh_customer):
    client.force_login(users["taipei_agent"])
    page = client.get(URL, {"q": "Lin"}).content.decode()
    assert "Lin Mei" in page and f"?customer={customer.pk}" in page
    assert "Bob Chen" not in client.get(URL, {"q": "Bob"}).content.decode()  # other unit
    assert "Lin Mei" in client.get(URL, {"q": "lin@example.com"}).content.decode()
    fragment = client.get(
        URL, {"q": "Lin"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-results"
    )
    assert fragment.content.decode().lstrip().startswith('<div id="customer-results">')
    form = client.get(URL, {"customer": customer.pk}).content.decode()
    assert "What the customer wants" in form
    response = client.post(
        f"{URL}?customer={customer.pk}",
        {
            "customer": customer.pk,
            "topic": "delivery",
            "subject": "Car delivered late",
            "description": "Waited two hours",
            "remedy_wanted": "A free wash",
            "severity": "high",
            "channel": "walk_in",
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response.url == reverse("cases:detail", args=[case.pk])
    assert case.owner == users["taipei_agent"].staff and case.source == "manual"
    assert case.remedy_wanted == "A free wash" and case.description.startswith("[Walk-in]")
    assert case.severity == "high" and case.topic == "delivery"
    # A second report on the same topic joins the open case.
    response = client.post(
        URL,
        {
            "customer": customer.pk,
            "topic": "delivery",
            "subject": "Called again",
            "severity": "medium",
            "channel": "phone",
        },
        follow=True,
    )
    assert Case.objects.count() == 1
    assert "already has open case" in response.content.decode()
    assert Case.objects.get().signal_count == 2


def test_bad_input_says_what(client, users, customer, khh_customer):
    client.force_login(users["taipei_agent"])
    response = client.post(URL, {"customer": customer.pk, "subject": "", "topic": "x y"})
    assert response.status_code == 200 and Case.objects.count() == 0
    html = response.content.decode()
    assert "This field is required" in html
    # Another unit's customer cannot be chosen.
    response = client.post(
        URL,
        {
            "customer": khh_customer.pk,
            "subject": "S",
            "topic": "t",
            "severity": "low",
            "channel": "phone",
        },
    )
    assert "Choose the customer first" in response.content.decode() and Case.objects.count() == 0


def test_analyst_cannot_open(client, users):
    client.force_login(users["analyst"])
    assert client.get(URL).status_code == 403
