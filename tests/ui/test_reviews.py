"""The identity review queue: the record beside its candidates; attach, create new, dismiss."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from rapport.customers.models import Customer, CustomerIdentity, IdentityReview

URL = reverse("customers:reviews")


def make_review(people, sources) -> IdentityReview:
    """A CRM record that matches both Lin (by email) and Chen (by phone)."""
    review = IdentityReview.objects.create(
        source=sources["crm"],
        external_id="C-9009",
        record={
            "type": "customer",
            "data": {
                "external_id": "C-9009",
                "name": "Lin M.",
                "email": "lin@example.com",
                "phone": "+886987654321",
            },
        },
        reason="email and phone point at different customers",
    )
    review.candidates.set([people["lin"], people["chen"]])
    return review


def test_open_reviews_show_the_record_and_the_candidates(people, sources, as_user):
    make_review(people, sources)
    body = as_user("cx").get(URL).content.decode()
    assert "C-9009" in body and "Lin M." in body and "different customers" in body
    assert "Lin Mei-ling" in body and "Chen Wei" in body
    assert "This is the customer" in body and "Dismiss" in body


def test_attach_to_a_candidate(people, sources, as_user):
    review = make_review(people, sources)
    response = as_user("cx").post(
        reverse("customers:review_resolve", args=[review.pk]), {"customer": people["lin"].pk}
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "resolved" and review.resolved_customer == people["lin"]
    assert CustomerIdentity.objects.get(external_id="C-9009").customer == people["lin"]
    assert "C-9009" not in as_user("cx").get(URL).content.decode()


def test_create_a_new_customer(people, sources, as_user):
    review = make_review(people, sources)
    before = Customer.objects.count()
    as_user("cx").post(reverse("customers:review_resolve", args=[review.pk]), {"customer": "new"})
    review.refresh_from_db()
    assert review.status == "resolved"
    assert Customer.objects.count() == before + 1
    assert review.resolved_customer not in (people["lin"], people["chen"])


def test_a_non_candidate_is_refused(people, sources, org, as_user):
    review = make_review(people, sources)
    stranger = Customer.objects.create(display_name="Stranger", home_unit=org["taipei"])
    response = as_user("cx").post(
        reverse("customers:review_resolve", args=[review.pk]),
        {"customer": stranger.pk},
        follow=True,
    )
    assert "Choose one of the candidates" in response.content.decode()
    review.refresh_from_db()
    assert review.status == "open"


def test_dismiss(people, sources, as_user):
    review = make_review(people, sources)
    as_user("cx").post(reverse("customers:review_dismiss", args=[review.pk]))
    review.refresh_from_db()
    assert review.status == "dismissed"
    assert not CustomerIdentity.objects.filter(external_id="C-9009").exists()


def test_analyst_reads_but_cannot_act(people, sources, as_user):
    review = make_review(people, sources)
    client = as_user("analyst")
    response = client.get(URL)
    assert response.status_code == 200
    assert "This is the customer" not in response.content.decode()
    assert client.post(reverse("customers:review_dismiss", args=[review.pk])).status_code == 403
    review.refresh_from_db()
    assert review.status == "open"


def test_agents_have_no_review_queue(people, as_user):
    assert as_user("taipei_agent").get(URL).status_code == 403


def test_actions_need_post_and_csrf(people, sources, users, as_user):
    review = make_review(people, sources)
    url = reverse("customers:review_dismiss", args=[review.pk])
    assert as_user("cx").get(url).status_code == 405
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["cx"])
    assert client.post(url).status_code == 403
    review.refresh_from_db()
    assert review.status == "open"


def test_empty_queue_says_so(db, as_user):
    assert "Nothing to review" in as_user("cx").get(URL).content.decode()
