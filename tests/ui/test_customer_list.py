"""The customer list: one search box (name, email, phone, external id), scoped, paginated."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rapport.customers.models import Customer

URL = reverse("customers:list")


def names(response) -> set[str]:
    return {c.display_name for c in response.context["page"].object_list}


@pytest.mark.parametrize(
    "query",
    ["Mei-ling", "mei", "LIN@example.com", "0912 345 678", "+886-912-345-678", "C-1001", "D-77"],
)
def test_search_finds_lin_by_any_handle(people, as_user, query):
    response = as_user("cx").get(URL, {"q": query})
    assert response.status_code == 200
    assert names(response) == {"Lin Mei-ling"}


def test_search_without_match_says_so(people, as_user):
    response = as_user("cx").get(URL, {"q": "nobody-like-this"})
    assert names(response) == set()
    assert "No customer matches" in response.content.decode()


def test_agents_see_only_their_subtree(people, as_user):
    assert names(as_user("taipei_agent").get(URL)) == {"Lin Mei-ling"}
    assert names(as_user("north_mgr").get(URL)) == {"Lin Mei-ling"}
    assert names(as_user("khh_agent").get(URL)) == {"Chen Wei"}
    assert names(as_user("analyst").get(URL)) == {"Lin Mei-ling", "Chen Wei"}
    # Searching does not widen the scope: Chen's external id finds nothing for a Taipei agent.
    assert names(as_user("taipei_agent").get(URL, {"q": "C-2002"})) == set()


def test_merged_customers_are_not_listed(people, as_user):
    Customer.objects.filter(pk=people["chen"].pk).update(merged_into=people["lin"])
    assert names(as_user("cx").get(URL)) == {"Lin Mei-ling"}


def test_sign_in_is_required(people, client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_pagination_and_htmx_fragment(org, as_user):
    Customer.objects.bulk_create(
        Customer(display_name=f"Customer {i:03d}", home_unit=org["taipei"]) for i in range(60)
    )
    client = as_user("cx")
    first = client.get(URL)
    assert first.context["page"].paginator.num_pages == 3
    assert "Customer 000" in first.content.decode()
    third = client.get(URL, {"page": 3}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    body = third.content.decode()
    assert "<html" not in body  # a fragment for htmx
    assert 'id="results"' in body
    assert "Customer 059" in body and "Customer 000" not in body


def test_query_count_is_fixed(org, as_user, django_assert_num_queries):
    client = as_user("taipei_agent")
    client.get(URL)  # warm up the session and permission caches of this client
    Customer.objects.bulk_create(
        Customer(display_name=f"C{i}", home_unit=org["taipei"]) for i in range(5)
    )
    with django_assert_num_queries(8) as few:
        client.get(URL, {"q": "C"})
    Customer.objects.bulk_create(
        Customer(display_name=f"D{i}", home_unit=org["taipei"]) for i in range(100)
    )
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(URL, {"q": "D"})
