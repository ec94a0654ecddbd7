"""Waves: segment, contact rules as masks, sampling by rate and count, stratified by unit; the
periodic launch; a dry run writes nothing and predicts the real run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from rapport.customers.models import Consent, Customer
from rapport.surveys import distribution, sampling, waves
from rapport.surveys.models import Invitation, Wave


@pytest.fixture
def population(org):
    """300 customers: 200 in Taipei, 100 in Kaohsiung; 10 without email, 5 opted out."""
    rows = []
    for n in range(300):
        unit = org["taipei"] if n < 200 else org["kaohsiung"]
        email = "" if n % 30 == 0 else f"c{n}@example.com"
        lang = "zh-hant" if n % 2 else "en"
        rows.append(
            Customer(display_name=f"C{n}", email=email, home_unit=unit, preferred_language=lang)
        )
    customers = Customer.objects.bulk_create(rows)
    Consent.objects.bulk_create(
        Consent(customer=c, channel="email", purpose="survey", granted=False)
        for c in customers[1:6]
    )
    return customers


@pytest.fixture
def wave(make_survey):
    return Wave.objects.create(name="CSI spring", survey=make_survey("csi"), seed=42)


def test_rules_apply_to_the_whole_segment(db, population, wave, policy):
    quarantined = population[10]
    distribution.invite_after_event(quarantined, wave.survey)
    report = waves.schedule_wave(wave)
    assert report.segment == 300
    assert report.suppressed == {"consent": 5, "no_address": 10, "quarantine": 1}
    assert report.invited == report.eligible == 284
    assert Invitation.objects.filter(wave=wave).count() == 284
    assert not Invitation.objects.filter(wave=wave, customer_id=quarantined.pk).exists()
    sample = Invitation.objects.filter(wave=wave).order_by("pk").first()
    assert sample.status == "scheduled" and sample.next_attempt_at == sample.scheduled_for
    assert sample.language == sample.customer.preferred_language
    assert sample.expires_at - sample.scheduled_for == dt.timedelta(days=30)


def test_running_twice_invites_nobody_twice(db, population, wave, policy):
    waves.schedule_wave(wave)
    again = waves.schedule_wave(wave)
    assert again.invited == 0 and again.suppressed["quarantine"] == 285  # all invited before
    assert Invitation.objects.filter(wave=wave).count() == 285


def test_sample_by_rate_is_stratified_by_unit(db, population, wave, policy, org):
    wave.sample_rate = 0.5
    wave.save()
    report = waves.schedule_wave(wave)
    taipei, kaohsiung = str(org["taipei"].pk), str(org["kaohsiung"].pk)
    eligible_taipei = sum(1 for n in range(200) if n % 30 and n not in range(1, 6))
    eligible_kaohsiung = sum(1 for n in range(200, 300) if n % 30)
    assert report.per_unit == {
        taipei: round(eligible_taipei * 0.5),
        kaohsiung: round(eligible_kaohsiung * 0.5),
    }


def test_sample_by_count_splits_in_proportion(db, population, wave, policy, org):
    wave.sample_count = 60
    wave.save()
    report = waves.schedule_wave(wave)
    assert report.invited == 60
    assert report.per_unit[str(org["taipei"].pk)] in {40, 41}  # ~ 189/284 of 60


def test_segment_filters(db, population, wave, policy, org):
    wave.unit = org["south"]
    wave.languages = ["zh-hant"]
    wave.save()
    report = waves.schedule_wave(wave, dry_run=True)
    assert report.segment == 50  # Kaohsiung's odd numbers


def test_dry_run_writes_nothing_and_predicts_the_run(db, population, wave, policy):
    wave.sample_count = 25
    wave.save()
    dry = waves.schedule_wave(wave, dry_run=True)
    assert not Invitation.objects.exists()
    assert Wave.objects.get(pk=wave.pk).runs == 0
    real = waves.schedule_wave(wave)
    assert real.invited_sample == dry.invited_sample
    assert real.suppressed_sample == dry.suppressed_sample


def test_wave_quiet_hours_per_home_unit(db, population, wave, policy, org):
    policy.quiet_start, policy.quiet_end = dt.time(21, 0), dt.time(9, 0)
    policy.save()
    org["kaohsiung"].time_zone = "UTC"
    org["kaohsiung"].save()
    now = dt.datetime(2025, 3, 3, 14, 0, tzinfo=dt.UTC)
    waves.schedule_wave(wave, now)
    times = set(
        Invitation.objects.filter(wave=wave).values_list("unit__code", "scheduled_for").distinct()
    )
    assert times == {
        ("taipei", dt.datetime(2025, 3, 4, 1, 0, tzinfo=dt.UTC)),
        ("kaohsiung", now),
    }


def test_periodic_launch_claims_each_run_once(db, wave):
    due = timezone.now() - dt.timedelta(minutes=1)
    Wave.objects.filter(pk=wave.pk).update(next_run_at=due, every_months=6)
    assert waves.claim_due_waves() == [wave.pk]
    assert waves.claim_due_waves() == []
    assert Wave.objects.get(pk=wave.pk).next_run_at == waves.add_months(due, 6)


def test_add_months_keeps_the_day_or_the_months_last():
    assert waves.add_months(dt.datetime(2025, 8, 31, 9), 6) == dt.datetime(2026, 2, 28, 9)
    assert waves.add_months(dt.datetime(2025, 1, 15), 12) == dt.datetime(2026, 1, 15)


def test_sampling_functions():
    rng = np.random.default_rng(1)
    strata = np.array([1] * 70 + [2] * 30)
    picked = sampling.sample(strata, count=10, rng=rng)
    assert len(picked) == 10 and len(set(picked.tolist())) == 10
    assert (strata[picked] == 1).sum() == 7
    assert len(sampling.sample(strata, rate=0.1, stratified=False, rng=rng)) == 10
    assert len(sampling.sample(strata, rng=rng)) == 100
    assert sampling.allocate(np.array([5, 5, 1]), 3).tolist() == [2, 1, 0]
    assert sampling.allocate(np.array([2, 1]), 10).tolist() == [2, 1]
