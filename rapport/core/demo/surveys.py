"""The demo's surveys: one published survey per built-in template, the invitations they sent
(every status) and completed responses whose scores follow each customer's story.

- Service-visit CSI: ~30% of the last year's service visits invite the customer two days later.
- A semi-annual CSI wave to a 10% sample of active customers (two runs), a relationship NPS and
  an engagement survey for samples, a contact-centre CSAT after inquiries and complaints, a claims
  CES, and an anonymous employee pulse per branch.
- Scores come from a latent satisfaction per customer and contact: a personal baseline, the
  branch (Hsinchu and Taichung clearly better, Kaohsiung and Taoyuan worse), and a drop for
  customers who are drifting away (worse again when they leave over service).

Runs after the customers and touchpoints are in (it reads the visits back), inside the demo's
transaction. Completed responses go through rapport.surveys.ingest — the write path of the API
and the import; the other invitations are bulk-inserted. Deterministic: every draw comes from a
random stream seeded by the seed and the record it is about.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from rapport.core.demo import generator, org
from rapport.core.demo.people import Profile, customer_rng, external_id, profile
from rapport.customers.models import CustomerIdentity
from rapport.org.models import OrgUnit
from rapport.surveys import actions, results
from rapport.surveys import questions as q
from rapport.surveys.ingest import ingest_responses
from rapport.surveys.models import Answer, Invitation, Response, Survey, SurveyVersion
from rapport.touchpoints.models import Touchpoint

S = Invitation.Status
DEMO_PREFIX = "demo-"  # replaces results.IMPORTED_PREFIX: these invitations count as sent by us

SURVEYS: tuple[tuple[str, str], ...] = (
    ("csi", "Service visit CSI 回廠滿意度"),
    ("csi", "Semi-annual CSI wave 半年度滿意度"),
    ("nps", "Relationship NPS 推薦意願"),
    ("engagement", "Customer engagement 顧客情感連結"),
    ("csat", "Contact centre CSAT 客服滿意度"),
    ("ces", "Claims effort (CES) 理賠便利度"),
    ("employee_pulse", "Employee pulse 員工脈動"),
)
# Surveys cover the first customers only, so `--customers 1000000` stays quick; the default demo
# (2,000) is covered whole.
MAX_SURVEYED_CUSTOMERS = 20_000
BRANCH_EFFECT = {"hsinchu": 0.09, "taichung": 0.05, "taoyuan": -0.06, "kaohsiung": -0.11}
SERVICE_CAUSES = {"inconvenience", "core_failure", "service_encounter", "response_failure"}
# Roles a bad story hits harder than the rest.
ROLE_BIAS = {
    "service_encounter": {"csi.service_advisor": -0.15},
    "core_failure": {"csi.service_quality": -0.15},
    "inconvenience": {"csi.service_initiation": -0.12, "csi.vehicle_pickup": -0.1},
}
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "good": {
        "en": (
            "Friendly advisor, car ready on time.",
            "Quick and clear, thank you.",
            "Great service as always.",
        ),
        "zh-hant": ("服務顧問很親切，準時交車。", "流程快又清楚，謝謝。", "一如往常的好服務。"),
        "zh-hans": ("服务顾问很亲切，准时交车。", "流程快又清楚，谢谢。", "一如既往的好服务。"),
    },
    "bad": {
        "en": (
            "Waited far too long.",
            "Nobody explained the bill.",
            "Same problem came back after a week.",
        ),
        "zh-hant": ("等太久了。", "沒有人說明帳單內容。", "一週後同樣的問題又出現了。"),
        "zh-hans": ("等太久了。", "没有人说明账单内容。", "一周后同样的问题又出现了。"),
    },
}


@dataclass(frozen=True, slots=True)
class SurveySummary:
    surveys: int
    invitations: int
    responses: int


class _Context:
    """What every generator here shares: surveys, customers' stories, units, clock."""

    def __init__(self, seed: int, customers: int, as_of: date) -> None:
        self.seed = seed
        self.window = generator.window(as_of)
        self.now = min(
            timezone.now(),
            dt.datetime.combine(as_of, dt.time(), tzinfo=results.enterprise_tz()),
        )
        self.customers = customers
        surveyed = [
            (customer_id, ext, int(ext[1:]) - 1_000_001)
            for customer_id, ext in CustomerIdentity.objects.filter(
                source__code="dms", external_id__lt=external_id("dms", MAX_SURVEYED_CUSTOMERS)
            ).values_list("customer_id", "external_id")
        ]
        self.index_of = {customer_id: index for customer_id, _ext, index in surveyed}
        self.dms_id = {customer_id: ext for customer_id, ext, _index in surveyed}
        self.last_customer = max(self.index_of, default=0)
        self.unit_code = dict(OrgUnit.objects.values_list("id", "code"))
        self.tz = results.enterprise_tz()
        self._profiles: dict[int, Profile] = {}

    def profile(self, index: int) -> Profile:
        p = self._profiles.get(index)
        if p is None:
            p = self._profiles[index] = profile(self.seed, index, self.window)
        return p

    def day_of(self, when: dt.datetime) -> int:
        local = when.astimezone(self.tz).date()
        return (local - self.window.start).days

    def mood(self, p: Profile, day: int, branch: str, rng: random.Random) -> float:
        """The latent satisfaction (about 0–1) behind one answer set."""
        base = 0.83 + customer_rng(self.seed, p.index, "survey-mood").gauss(0, 0.07)
        base += BRANCH_EFFECT.get(branch, 0.0)
        if p.drift is not None and day >= p.drift - 45:
            base -= 0.25 + (0.1 if p.leave_reason in SERVICE_CAUSES else 0.0)
        return base + rng.gauss(0, 0.08)


def _branch(code: str) -> str:
    return code.split("-")[0] if code else ""


def answers_for(
    specs: tuple[q.QuestionSpec, ...], mood: float, rng: random.Random, language: str, story: str
) -> dict[str, Any]:
    """Plausible answers to every visible question, centred on `mood`."""
    out: dict[str, Any] = {}
    bias = ROLE_BIAS.get(story, {})
    for spec in sorted(specs, key=lambda s: (s.page, s.order, s.key)):
        if not q.is_visible(spec, out):
            continue
        if spec.type == q.TEXT:
            if rng.random() < (0.45 if mood < 0.55 else 0.12):
                pool = COMMENTS["bad" if mood < 0.6 else "good"]
                out[spec.key] = rng.choice(pool.get(language, pool["en"]))
        elif spec.type == q.YES_NO:
            out[spec.key] = 1 if mood + rng.gauss(0, 0.12) > 0.5 else 0
        elif spec.type in q.SCALE_TYPES:
            low, high = spec.bounds()
            level = mood + bias.get(spec.role, 0.0) + rng.gauss(0, 0.1)
            out[spec.key] = min(high, max(low, round(low + (high - low) * level)))
        elif spec.options:
            out[spec.key] = rng.choice(spec.option_values())
    return out


def _token_hash(*parts: Any) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def load_surveys(seed: int, customers: int, as_of: date) -> SurveySummary:
    """Create the demo's surveys, invitations and responses (call inside the load's transaction)."""
    ctx = _Context(seed, customers, as_of)
    surveys = [
        actions.create_survey_from_template(kind, name, publish=True) for kind, name in SURVEYS
    ]
    versions = {s.pk: actions.live_version(s) for s in surveys}
    plan = _Plan(ctx, versions)
    csi, wave, nps, engagement, csat, ces, pulse = surveys
    plan.after_touchpoints(csi, ["service_visit"], 0.30, "dms", days=365)
    plan.wave(wave, [182, 14], 0.10)
    plan.wave(nps, [60], 0.15)
    plan.wave(engagement, [90], 0.10)
    plan.after_touchpoints(csat, ["inquiry", "complaint"], 0.30, "callcentre", days=180)
    plan.after_touchpoints(ces, ["claim"], 0.40, "claims", days=365)
    plan.pulse(pulse)
    return plan.write()


class _Plan:
    def __init__(self, ctx: _Context, versions: dict[int, SurveyVersion | None]) -> None:
        self.ctx = ctx
        self.versions = versions
        self.invitations: list[Invitation] = []
        self.started: list[Invitation] = []
        self.records: dict[tuple[int, str], list[dict[str, Any]]] = {}  # (survey, source) → records

    def tag(self, survey: Survey) -> int:
        """The survey's place in SURVEYS: random streams must not depend on database ids."""
        return list(self.versions).index(survey.pk)

    def _outcome(self, rng: random.Random, sent: dt.datetime, email: bool) -> str:
        if sent > self.ctx.now:
            return S.SCHEDULED
        roll = rng.random()
        if roll < 0.44:
            return S.COMPLETED
        if roll < 0.48:
            return S.STARTED
        if roll < 0.62:
            return S.OPENED
        if email and roll < 0.65:
            return S.BOUNCED
        return S.EXPIRED if sent + dt.timedelta(days=30) < self.ctx.now else S.SENT

    def invite(
        self,
        survey: Survey,
        p: Profile,
        customer_id: int,
        sent: dt.datetime,
        rng: random.Random,
        *,
        source: str,
        mood: float,
        touchpoint: tuple[int, str, int | None, int | None] | None = None,
        unit_code: str = "",
    ) -> None:
        version = self.versions[survey.pk]
        assert version is not None
        channel = Invitation.Channel.EMAIL if p.email else Invitation.Channel.SMS
        if p.surveys_opt_out:
            status = S.SUPPRESSED
        else:
            status = self._outcome(rng, sent, bool(p.email))
        if status == S.COMPLETED:
            done = sent + dt.timedelta(hours=rng.uniform(0.2, 72))
            if done > self.ctx.now:
                status = S.SENT
            else:
                record: dict[str, Any] = {
                    "external_id": f"demo-{survey.pk}-{customer_id}-{sent:%Y%m%d%H%M}",
                    "survey": survey.pk,
                    "completed_at": done.isoformat(),
                    "started_at": (done - dt.timedelta(seconds=rng.randint(40, 400))).isoformat(),
                    "language": p.language,
                    "channel": channel,
                    "answers": answers_for(
                        actions.version_specs(version), mood, rng, p.language, p.leave_reason or ""
                    ),
                }
                if touchpoint is not None:
                    record["touchpoint_external_id"] = touchpoint[1]
                else:
                    record["customer_external_id"] = self.ctx.dms_id[customer_id]
                    record["unit"] = unit_code
                self.records.setdefault((survey.pk, source), []).append(record)
                return
        tp_id, _ext, unit_id, staff_id = touchpoint or (None, "", None, None)
        if unit_id is None and unit_code:
            unit_id = next((k for k, v in self.ctx.unit_code.items() if v == unit_code), None)
        inv = Invitation(
            version_id=version.pk,
            survey_id=survey.pk,
            customer_id=customer_id,
            channel=channel,
            touchpoint_id=tp_id,
            staff_id=staff_id,
            unit_id=unit_id,
            token_hash=_token_hash(self.ctx.seed, survey.pk, customer_id, sent.isoformat()),
            status=status,
            suppressed_by="consent: opted out of surveys" if status == S.SUPPRESSED else "",
            language=p.language,
            scheduled_for=sent,
            sent_at=sent if status not in {S.SCHEDULED, S.SUPPRESSED} else None,
            opened_at=sent + dt.timedelta(hours=3) if status in {S.OPENED, S.STARTED} else None,
            started_at=sent + dt.timedelta(hours=3, minutes=2) if status == S.STARTED else None,
            expires_at=sent + dt.timedelta(days=30),
        )
        self.invitations.append(inv)
        if status == S.STARTED:
            self.started.append(inv)

    def after_touchpoints(
        self, survey: Survey, kinds: list[str], share: float, source: str, *, days: int
    ) -> None:
        """Invite after ~`share` of the touchpoints of `kinds` from `source` in the last `days`."""
        ctx = self.ctx
        since = ctx.now - dt.timedelta(days=days)
        rows = (
            Touchpoint.objects.filter(
                kind__in=kinds,
                source__code=source,
                occurred_at__gte=since,
                customer_id__lte=ctx.last_customer,
            )
            .order_by("id")
            .values_list("id", "external_id", "customer_id", "occurred_at", "unit_id", "staff_id")
        )
        for tp_id, ext, customer_id, occurred, unit_id, staff_id in rows.iterator(5000):
            index = ctx.index_of.get(customer_id)
            rng = random.Random(f"{ctx.seed}/survey-invite/{self.tag(survey)}/{ext}")
            if index is None or rng.random() >= share:
                continue
            p = ctx.profile(index)
            branch = _branch(ctx.unit_code.get(unit_id, "")) or p.branch.code
            mood = ctx.mood(p, ctx.day_of(occurred), branch, rng)
            sent = occurred + dt.timedelta(hours=48)
            self.invite(
                survey, p, customer_id, sent, rng, source=source, mood=mood,
                touchpoint=(tp_id, ext, unit_id, staff_id),
            )  # fmt: skip

    def wave(self, survey: Survey, days_ago: list[int], share: float) -> None:
        """Periodic runs to a random share of the customers active on the day."""
        ctx = self.ctx
        for run, ago in enumerate(days_ago):
            day_sent = (ctx.now - dt.timedelta(days=ago)).astimezone(ctx.tz).date()
            sent = dt.datetime.combine(day_sent, dt.time(10), tzinfo=ctx.tz)
            day = ctx.day_of(sent)
            for customer_id, index in sorted(ctx.index_of.items(), key=lambda kv: kv[1]):
                rng = random.Random(f"{ctx.seed}/survey-wave/{self.tag(survey)}/{run}/{index}")
                if rng.random() >= share:
                    continue
                p = ctx.profile(index)
                if not p.active_on(day):
                    continue
                mood = ctx.mood(p, day, p.branch.code, rng)
                self.invite(
                    survey, p, customer_id, sent, rng, source="dms", mood=mood,
                    unit_code=p.branch.code,
                )  # fmt: skip

    def pulse(self, survey: Survey) -> None:
        """Anonymous staff answers: a few per branch, no customer, the branch as unit."""
        ctx = self.ctx
        version = self.versions[survey.pk]
        assert version is not None
        specs = actions.version_specs(version)
        when = ctx.now - dt.timedelta(days=20)
        for branch in org.BRANCHES:
            for n in range(branch.advisors + branch.consultants):
                rng = random.Random(f"{ctx.seed}/pulse/{branch.code}/{n}")
                mood = 0.74 + BRANCH_EFFECT.get(branch.code, 0.0) + rng.gauss(0, 0.1)
                done = when + dt.timedelta(hours=rng.uniform(1, 96))
                self.records.setdefault((survey.pk, "dms"), []).append(
                    {
                        "external_id": f"demo-pulse-{branch.code}-{n}",
                        "survey": survey.pk,
                        "unit": branch.code,
                        "completed_at": done.isoformat(),
                        "language": "zh-hant",
                        "channel": Invitation.Channel.LINK,
                        "answers": answers_for(specs, mood, rng, "zh-hant", ""),
                    }
                )

    def write(self) -> SurveySummary:
        Invitation.objects.bulk_create(self.invitations, batch_size=2000)
        Response.objects.bulk_create(
            [
                Response(
                    invitation_id=inv.pk,
                    survey_id=inv.survey_id,
                    version_id=inv.version_id,
                    customer_id=inv.customer_id,
                    language=inv.language,
                    channel=inv.channel,
                    touchpoint_id=inv.touchpoint_id,
                    staff_id=inv.staff_id,
                    unit_id=inv.unit_id,
                    started_at=inv.started_at,
                )
                for inv in self.started
            ],
            batch_size=2000,
        )
        created = 0
        for (_survey, source), records in sorted(self.records.items()):
            report = ingest_responses(records, source=source, emit_events=False)
            if report.rejected:
                raise ValueError(
                    "demo responses refused: " + "; ".join(str(p) for p in report.problems[:3])
                )
            created += report.created
        # The demo's responses answered invitations Rapport sent: give them a sent invitation.
        Invitation.objects.filter(token_hash__startswith=results.IMPORTED_PREFIX).update(
            token_hash=Concat(Value(DEMO_PREFIX), Substr("token_hash", len(DEMO_PREFIX) + 1)),
            scheduled_for=F("started_at") - Value(dt.timedelta(hours=5)),
            sent_at=F("started_at") - Value(dt.timedelta(hours=5)),
            opened_at=F("started_at") - Value(dt.timedelta(minutes=1)),
            expires_at=F("started_at") + Value(dt.timedelta(days=25)),
        )
        return SurveySummary(len(SURVEYS), len(self.invitations) + created, created)


def reset_surveys() -> None:
    """Remove every survey with its invitations, responses and answers (the demo's reset)."""
    Answer.objects.all().delete()
    Response.objects.all().delete()
    Invitation.objects.all().delete()
    Survey.objects.all().delete()
