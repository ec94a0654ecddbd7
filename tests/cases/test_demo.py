"""The demo hook opens cases in every state, deterministically."""

from __future__ import annotations

from rapport.cases.demo import ORDER, load_cases
from rapport.cases.models import Case
from rapport.customers.models import Customer, SourceSystem
from rapport.touchpoints.models import Touchpoint
from tests.cases.conftest import MONDAY
from tests.conftest import make_user


def test_cases_in_every_state(org, users):
    make_user("tpmgr", org["taipei"], "unit_manager")
    source = SourceSystem.objects.create(code="crm", name="CRM")
    for n in range(14):
        customer = Customer.objects.create(display_name=f"C{n}", home_unit=org["taipei"])
        Touchpoint.objects.create(
            customer=customer,
            occurred_at=MONDAY,
            kind="complaint",
            source=source,
            external_id=f"K{n}",
            unit=org["taipei"],
        )
    summary = load_cases(seed=7, per_state=2, as_of=MONDAY)
    assert summary.skipped == [] and summary.opened == 14
    assert sorted(set(Case.objects.values_list("state", flat=True))) == sorted(ORDER)
    first = sorted(Case.objects.values_list("customer__display_name", "state"))
    Case.objects.all().delete()
    load_cases(seed=7, per_state=2, as_of=MONDAY)
    assert sorted(Case.objects.values_list("customer__display_name", "state")) == first
