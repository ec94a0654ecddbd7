"""The per-process cache of active case rules (rapport.cases.triggers): one cheap stamp query per
batch while nothing changed, and a reload whenever the rules changed — by this process (signals),
by another process (the stamp row it wrote), or by a bulk write that sends no signal."""

from __future__ import annotations

import pytest
from django.db import connection

from rapport.cases import rules, triggers
from rapport.cases.models import CaseRule, RuleVersion


@pytest.fixture(autouse=True)
def fresh_cache():
    triggers._cache.clear()
    yield
    triggers._cache.clear()


def names(trigger: str = rules.RESPONSE) -> list[str]:
    return [s.name for s in triggers.active_specs(trigger)]


def test_second_read_costs_one_small_query(db, django_assert_num_queries):
    first = names()
    assert first  # the default rules
    with django_assert_num_queries(1):
        assert names() == first


def test_save_and_delete_invalidate(db):
    rule = CaseRule.objects.create(
        key="vip", name="VIP detractor", condition="nps_at_most", params={"max": 8}, order=1
    )
    assert names()[0] == "VIP detractor"
    rule.name = "VIP unhappy"
    rule.save()
    assert names()[0] == "VIP unhappy"
    rule.active = False
    rule.save()
    assert "VIP unhappy" not in names()
    rule.delete()
    assert "VIP unhappy" not in names()


def test_another_process_changing_the_stamp_is_seen(db):
    before = names()
    # Another process edits a rule and writes a new stamp; this process sent no signal and its
    # cache still holds the old rules.
    CaseRule.objects.filter(condition="nps_at_most").update(name="Renamed elsewhere")
    assert names() == before  # same stamp: the cache answers (this is why writers must stamp)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(RuleVersion._meta.db_table)
        cursor.execute(f"UPDATE {table} SET number = number + 7 WHERE id = 1")
        if cursor.rowcount == 0:
            cursor.execute(f"INSERT INTO {table} (id, number) VALUES (1, 7)")
    assert "Renamed elsewhere" in names()


def test_bulk_insert_without_signals_is_seen(db):
    names()
    CaseRule.objects.bulk_create(
        [CaseRule(key="bulk", name="Bulk rule", condition="csat_at_most", params={"max": 1})]
    )
    assert "Bulk rule" in names()


def test_queryset_update_of_active_is_seen_and_rules_changed_covers_the_rest(db):
    names()
    CaseRule.objects.filter(condition="csat_at_most").update(active=False)  # no signal
    assert "CSAT" not in " ".join(names()) and names()
    CaseRule.objects.update(active=False)
    assert names() == []
    assert not triggers.any_active(rules.TOUCHPOINT)
    CaseRule.objects.filter(condition="nps_at_most").update(active=True)
    assert names()
    CaseRule.objects.filter(condition="nps_at_most").update(name="Edited in bulk")
    assert "Edited in bulk" not in names()  # stale until the writer says so:
    triggers.rules_changed()
    assert names() == ["Edited in bulk"]


def test_invalid_rule_skipped_and_cached_per_trigger(db):
    CaseRule.objects.create(key="bad", name="Broken", condition="nps_at_most", params={})
    assert "Broken" not in names()
    touch = names(rules.TOUCHPOINT)
    assert touch and set(touch).isdisjoint(names(rules.RESPONSE))


def test_recovery_answer_is_linked_on_the_response_path(customer, open_case, users):
    import datetime as dt

    from rapport.cases import actions
    from rapport.cases.actions import lifecycle
    from rapport.cases.models import Case, CaseSettings
    from rapport.surveys import actions as survey_actions
    from rapport.surveys.models import Response

    from .conftest import MONDAY

    survey = survey_actions.create_survey_from_template("nps", "Recovery", publish=True)
    config = CaseSettings.current()
    config.recovery_survey = survey
    config.save()
    case = open_case(customer)
    lifecycle.acknowledge(case.pk, None, actions.SYSTEM, now=MONDAY)
    lifecycle.resolve(case.pk, None, actions.SYSTEM, cause="price", fix="explained", now=MONDAY)
    case = lifecycle.close(
        case.pk, None, "no_reply", actions.SYSTEM, now=MONDAY + dt.timedelta(days=9)
    )
    answer = Response.objects.create(
        invitation=case.recovery_invitation, survey=survey,
        version=survey.versions.order_by("-number").first(), customer=customer, channel="email",
        state="completed", started_at=MONDAY, completed_at=MONDAY, nps_score=9,
        nps_class="promoter",
    )  # fmt: skip
    other = {"response_id": answer.pk + 1000, "customer_id": customer.pk, "scores": {}}
    mine = {"response_id": answer.pk, "customer_id": customer.pk, "scores": {"nps_score": 9}}
    triggers.on_responses_completed("response.completed", [other, mine])
    assert Case.objects.get(pk=case.pk).recovery_response_id == answer.pk
