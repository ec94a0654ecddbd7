"""`rapport demo --no-serve` on the test database: the org, the logins, the customers and their
history arrive through the ingestion path; running it again adds nothing."""

from __future__ import annotations

import io
import re
from collections import Counter

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from rapport.core.demo.people import SOURCES
from rapport.customers.models import (
    AttributeDefinition,
    Consent,
    Customer,
    CustomerIdentity,
    IdentityReview,
)
from rapport.org.models import OrgUnit, Staff
from rapport.org.scoping import unit_path
from rapport.touchpoints.kinds import BUILTIN_KINDS
from rapport.touchpoints.models import Touchpoint

pytestmark = pytest.mark.django_db

CUSTOMERS = 200


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--no-serve", "--seed", "4", "--as-of", "2025-06-30", *args, stdout=out)
    return out.getvalue()


def password_in(output: str) -> str:
    match = re.search(
        r"Password for every demo login: \S*?([a-z0-9]{4}(?:-[a-z0-9]{4}){3})", output
    )
    assert match, output
    return match.group(1)


@pytest.fixture
def loaded():
    return run_demo("--customers", str(CUSTOMERS))


def test_the_demo_builds_the_dealer_group(loaded):
    kinds = Counter(OrgUnit.objects.values_list("kind", flat=True))
    assert kinds == {"enterprise": 1, "region": 3, "branch": 8, "team": 17}
    taipei = OrgUnit.objects.get(code="taipei")
    assert taipei.time_zone == "Asia/Taipei"
    assert taipei.parent.code == "north"
    advisors = Staff.objects.filter(unit__code="taipei-service")
    assert advisors.count() == 6 and not advisors.filter(user__isnull=False).exists()
    assert set(AttributeDefinition.objects.values_list("name", "type")) >= {
        ("model", "string"),
        ("model_year", "integer"),
        ("vehicle_value", "decimal"),
        ("loyalty_tier", "string"),
    }


def test_the_logins_work_in_their_roles(loaded):
    password = password_in(loaded)
    assert "http://127.0.0.1:8000/" in loaded
    expected = {
        "admin": "admin",
        "cx": "cx_manager",
        "analyst": "analyst",
        "taipei.manager": "unit_manager",
        "taipei.agent": "agent",
        "taichung.agent": "agent",
        "kaohsiung.agent": "agent",
    }
    for username, role in expected.items():
        assert username in loaded
        user = authenticate(username=username, password=password)
        assert user is not None, username
        assert user.staff.role == role
        assert list(user.groups.values_list("name", flat=True)) == [role]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    agent = User.objects.get(username="taichung.agent")
    assert unit_path(agent) == OrgUnit.objects.get(code="taichung").path
    assert Customer.objects.filter(home_unit__path__startswith=unit_path(agent)).exists()


def test_customers_and_their_history_come_through_ingestion(loaded):
    assert Customer.objects.count() == CUSTOMERS
    assert not IdentityReview.objects.exists()
    customer = Customer.objects.exclude(email="").first()
    assert customer.phone.startswith("+8869") and customer.email == customer.email.lower()
    assert customer.home_unit.kind == "branch"
    assert {"model", "model_year", "vehicle_value"} <= set(customer.attributes)
    assert isinstance(customer.attributes["model_year"], int)
    assert Consent.objects.filter(purpose="marketing", granted=False).exists()
    assert set(Customer.objects.values_list("preferred_language", flat=True)) >= {"zh-hant", "en"}

    sources = set(Touchpoint.objects.values_list("source__code", flat=True).distinct())
    assert sources == set(SOURCES) | {"marketing"}  # the feedback demo's campaign
    kinds = set(Touchpoint.objects.values_list("kind", flat=True).distinct())
    assert kinds >= set(BUILTIN_KINDS) - {"other"}
    # Other systems' ids were linked to the DMS customer by email or phone, not made new people.
    linked = CustomerIdentity.objects.filter(source__code="loyalty").count()
    assert linked > CUSTOMERS // 3
    assert CustomerIdentity.objects.filter(source__code="dms").count() == CUSTOMERS
    visit = Touchpoint.objects.filter(kind="service_visit").select_related("unit", "staff").first()
    assert visit.unit.kind == "team" and visit.staff is not None
    assert visit.currency == "TWD" and visit.context["visit_type"]


def test_about_one_in_seven_drift_away(loaded):
    cancelled = Touchpoint.objects.filter(kind="cancellation").values("customer").distinct()
    assert 0.02 * CUSTOMERS <= cancelled.count() <= 0.15 * CUSTOMERS


def test_running_it_again_adds_nothing(loaded):
    counts = (Customer.objects.count(), Touchpoint.objects.count(), User.objects.count())
    again = run_demo("--customers", str(CUSTOMERS))
    assert "already loaded" in again
    assert "Password for every demo login" not in again
    assert (Customer.objects.count(), Touchpoint.objects.count(), User.objects.count()) == counts


def test_reset_rebuilds_it_with_a_new_password(loaded):
    tps = Touchpoint.objects.count()
    rebuilt = run_demo("--customers", str(CUSTOMERS), "--reset")
    assert password_in(rebuilt) != password_in(loaded)
    assert Touchpoint.objects.count() == tps  # the same seed: the same data
    assert OrgUnit.objects.filter(parent__isnull=True).count() == 1
    assert authenticate(username="cx", password=password_in(rebuilt)) is not None


def test_it_refuses_a_database_that_holds_another_organisation():
    OrgUnit.objects.create(code="acme", name="Acme", kind="enterprise", time_zone="UTC")
    with pytest.raises(CommandError, match="Acme"):
        run_demo("--customers", "5")
    assert not Customer.objects.exists()


def test_bad_options_say_what_is_wrong():
    with pytest.raises(CommandError, match="--bind"):
        run_demo("--bind", "localhost")
    with pytest.raises(CommandError, match="--customers"):
        run_demo("--customers", "0")
    with pytest.raises(CommandError, match="--as-of"):
        call_command("demo", "--no-serve", "--as-of", "yesterday")
