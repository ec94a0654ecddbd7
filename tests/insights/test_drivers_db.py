"""The driver analysis from the database: survey items and touchpoint context per response."""

from __future__ import annotations

import random

import pytest

from rapport.insights import jobs
from rapport.insights.models import DriverResult
from rapport.surveys.models import Answer, Question
from tests.insights.insight_data import AS_OF, Base

pytestmark = pytest.mark.django_db(transaction=True)


def test_planted_item_is_found_and_small_contexts_are_flagged(org):
    base = Base(org)
    advisor = Question.objects.create(version=base.version, key="advisor", type="rating",
                                      role="csi.service_advisor", order=1)  # fmt: skip
    facility = Question.objects.create(version=base.version, key="facility", type="rating",
                                       role="csi.service_facility", order=2)  # fmt: skip
    rng = random.Random(3)
    for i in range(120):
        lunch = i % 2 == 0
        tp = base.touch("A", "service_visit", "2025-05-02", "taipei", amount=1000,
                        context={"visit_type": "repair" if i < 100 else "recall"},
                        hour=12 if lunch else 19)  # fmt: skip  # Taipei time
        a, f = rng.randint(1, 10), rng.randint(1, 10)
        score = max(0, min(10, round(a * 0.9 + rng.gauss(0, 1))))
        response = base.respond("A", "taipei", "2025-05-03", nps=score)
        response.touchpoint = tp
        response.save(update_fields=["touchpoint"])
        Answer.objects.create(response=response, question=advisor, value_number=a)
        Answer.objects.create(response=response, question=facility, value_number=f)
    jobs.recompute_all(as_of=AS_OF)
    overall = {
        r.driver: r
        for r in DriverResult.objects.filter(
            survey=base.survey, target="recommend", context_kind="all"
        )
    }
    assert overall["csi.service_advisor"].significant
    assert not overall["csi.service_facility"].significant
    assert overall["csi.service_advisor"].weight > 0.5
    assert overall["csi.service_advisor"].low <= overall["csi.service_advisor"].weight
    assert overall["csi.service_advisor"].n == 120
    recall = DriverResult.objects.get(target="recommend", context_kind="visit_type",
                                      context_value="recall")  # fmt: skip
    assert (recall.status, recall.n, recall.driver) == ("too_few", 20, "")
    dayparts = set(
        DriverResult.objects.filter(target="recommend", context_kind="daypart").values_list(
            "context_value", flat=True
        )
    )
    assert dayparts == {"lunch", "evening", "afternoon"}  # the base's three answers: afternoon
    afternoon = DriverResult.objects.get(target="recommend", context_value="afternoon")
    assert (afternoon.status, afternoon.n) == ("too_few", 3)
