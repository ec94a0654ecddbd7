import pytest
from django.core.exceptions import ValidationError

from rapport.customers.models import Customer
from rapport.org.models import OrgUnit
from rapport.org.scoping import scope


def test_paths_follow_the_tree(org):
    assert org["ent"].path == f"/{org['ent'].pk}/"
    assert org["taipei"].path == f"/{org['ent'].pk}/{org['north'].pk}/{org['taipei'].pk}/"
    assert set(org["north"].subtree()) == {org["north"], org["taipei"]}
    assert [u.code for u in org["taipei"].ancestors()] == ["acme", "north"]


def test_moving_a_unit_moves_its_subtree(org):
    north = org["north"]
    north.parent = org["south"]
    north.save()
    org["taipei"].refresh_from_db()
    assert org["taipei"].path.startswith(org["south"].path)
    assert org["taipei"] in org["south"].subtree()


def test_a_unit_cannot_move_under_itself(org):
    ent = org["ent"]
    ent.parent = org["taipei"]
    with pytest.raises(ValidationError):
        ent.save()


def test_roles_become_groups(users):
    assert list(users["taipei_agent"].groups.values_list("name", flat=True)) == ["agent"]
    assert users["taipei_agent"].has_perm("customers.view_customer")
    assert not users["analyst"].has_perm("customers.change_customer")
    assert users["admin"].has_perm("integrations.add_apikey")


def test_agents_see_only_their_subtree(org, users):
    tp = Customer.objects.create(display_name="Lin", home_unit=org["taipei"])
    kh = Customer.objects.create(display_name="Chen", home_unit=org["kaohsiung"])
    qs = Customer.objects.all()
    assert set(scope(qs, users["taipei_agent"], "home_unit")) == {tp}
    assert set(scope(qs, users["north_mgr"], "home_unit")) == {tp}
    assert set(scope(qs, users["khh_agent"], "home_unit")) == {kh}
    assert set(scope(qs, users["cx"], "home_unit")) == {tp, kh}
    assert list(scope(qs, None, "home_unit")) == []


def test_unknown_time_zone_is_rejected(org):
    unit = OrgUnit(code="x", name="X", kind="branch", parent=org["ent"], time_zone="Mars/Base")
    with pytest.raises(ValidationError):
        unit.full_clean()
