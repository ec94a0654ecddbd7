"""Merging two customers from the customer page (pick, confirm, merge) and undoing it."""

from __future__ import annotations

from django.urls import reverse

from rapport.customers.models import Customer, Merge


def test_merge_pick_confirm_and_undo(people, as_user):
    lin, chen = people["lin"], people["chen"]
    client = as_user("cx")
    pick = client.get(reverse("customers:merge_pick", args=[chen.pk]), {"q": "Lin"})
    confirm_url = reverse("customers:merge_confirm", args=[chen.pk, lin.pk])
    assert confirm_url in pick.content.decode()

    confirm = client.get(confirm_url)
    assert confirm.status_code == 200
    assert not Merge.objects.exists()  # looking is not merging

    response = client.post(confirm_url, {"reason": "same person, two phones"})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[lin.pk])
    chen.refresh_from_db()
    assert chen.merged_into == lin
    assert lin.touchpoints.filter(external_id__startswith="svc-" + str(chen.pk)).count() == 2
    page = client.get(reverse("customers:detail", args=[lin.pk])).content.decode()
    assert "same person, two phones" in page and "Undo this merge" in page

    merge = Merge.objects.get()
    response = client.post(reverse("customers:merge_undo", args=[merge.pk]))
    assert response.status_code == 302
    chen.refresh_from_db()
    assert chen.merged_into is None
    assert chen.touchpoints.count() == 2
    merge.refresh_from_db()
    assert merge.undone_at is not None


def test_merge_search_stays_in_scope(people, org, as_user):
    """A unit manager cannot even find, let alone merge into, another unit's customer."""
    other = Customer.objects.create(display_name="Lin Twin", home_unit=org["taipei"])
    client = as_user("north_mgr")
    # unit managers have no merge permission
    assert client.get(reverse("customers:merge_pick", args=[other.pk])).status_code == 403
    cx = as_user("cx")
    found = cx.get(reverse("customers:merge_pick", args=[other.pk]), {"q": "Lin"}).context[
        "results"
    ]
    assert people["lin"] in found and other not in found


def test_agents_and_analysts_cannot_merge(people, as_user):
    url = reverse("customers:merge_confirm", args=[people["chen"].pk, people["lin"].pk])
    assert as_user("analyst").post(url).status_code == 403
    assert as_user("khh_agent").post(url).status_code == 403
    assert not Merge.objects.exists()


def test_a_customer_cannot_merge_into_itself(people, as_user):
    lin = people["lin"]
    response = as_user("cx").post(reverse("customers:merge_confirm", args=[lin.pk, lin.pk]))
    assert response.status_code == 302
    assert not Merge.objects.exists()


def test_merged_customer_cannot_be_merged_again(people, as_user):
    lin, chen = people["lin"], people["chen"]
    Customer.objects.filter(pk=chen.pk).update(merged_into=lin)
    url = reverse("customers:merge_confirm", args=[chen.pk, lin.pk])
    assert as_user("cx").post(url).status_code == 404
