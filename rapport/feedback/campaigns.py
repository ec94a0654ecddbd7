"""Campaigns as implicit feedback: who is targeted, who is held out, who responded.

Members are drawn once from the target segment (a unit subtree and customer attributes); the
control group is either a random share (rapport.feedback.stats.draw_control, seeded, so the
same campaign draws the same group) or an explicit list. A member responded when a
`campaign_response` touchpoint with context campaign=KEY falls between the start and the end
plus the response window; `campaign_sent` touchpoints say who was really reached. Counting is
done in SQL (one grouped query per breakdown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.customers.models import Customer
from rapport.feedback import stats
from rapport.feedback.models import Campaign, CampaignMember, FeedbackItem
from rapport.org.models import OrgUnit
from rapport.touchpoints.models import Touchpoint


class CampaignError(ValueError):
    pass


def segment_customers(segment: dict[str, Any]) -> QuerySet[Customer]:
    qs = Customer.objects.filter(merged_into__isnull=True)
    unit_code = (segment or {}).get("unit")
    if unit_code:
        path = OrgUnit.objects.filter(code=unit_code).values_list("path", flat=True).first()
        if path is None:
            raise CampaignError(_("Unknown unit %(code)s in the segment.") % {"code": unit_code})
        qs = qs.filter(home_unit__path__startswith=path)
    for name, value in ((segment or {}).get("attributes") or {}).items():
        if isinstance(value, list):
            qs = qs.filter(Q.create([(f"attributes__{name}", v) for v in value], connector=Q.OR))
        else:
            qs = qs.filter(**{f"attributes__{name}": value})
    return qs


def draw_members(campaign: Campaign, control_ids: Sequence[int] = ()) -> tuple[int, int]:
    """(treatment, control) sizes after (re)drawing the members from the segment."""
    ids = list(segment_customers(campaign.segment).values_list("id", flat=True))
    if control_ids:
        control = set(control_ids) & set(ids)
    else:
        control = stats.draw_control(ids, campaign.control_share, campaign.seed)
    with transaction.atomic():
        CampaignMember.objects.filter(campaign=campaign).delete()
        CampaignMember.objects.bulk_create(
            [
                CampaignMember(
                    campaign=campaign,
                    customer_id=cid,
                    group="control" if cid in control else "treatment",
                )
                for cid in ids
            ],
            batch_size=2000,
        )
        campaign.members_drawn_at = timezone.now()
        campaign.save(update_fields=["members_drawn_at"])
    return len(ids) - len(control), len(control)


def window(campaign: Campaign) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone()
    root = OrgUnit.enterprise()
    if root is not None:
        tz = root.tz
    start = dt.datetime.combine(campaign.starts_on, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(
        campaign.ends_on + dt.timedelta(days=1 + campaign.response_days), dt.time(), tzinfo=tz
    )
    return start, end


def _touched(campaign: Campaign, kind: str) -> Exists:
    start, end = window(campaign)
    return Exists(
        Touchpoint.objects.filter(
            customer_id=OuterRef("customer_id"),
            kind=kind,
            context__campaign=campaign.key,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
    )


@dataclass
class Row:
    segment: str
    treatment: stats.Rate
    control: stats.Rate
    sent: int
    lift: stats.Lift


def results(campaign: Campaign, by: str = "", unit_path: str = "") -> list[Row]:
    """Response rates by group, overall ("" segment) and per segment: `by` is "unit" (the
    members' home unit) or a customer attribute name; `unit_path` limits the members to a unit
    subtree (what a unit manager sees)."""
    members = CampaignMember.objects.filter(campaign=campaign)
    if unit_path:
        members = members.filter(customer__home_unit__path__startswith=unit_path)
    members = members.annotate(
        responded=_touched(campaign, "campaign_response"), sent=_touched(campaign, "campaign_sent")
    )
    seg_field = None
    if by == "unit":
        seg_field = "customer__home_unit__name"
    elif by:
        seg_field = f"customer__attributes__{by}"
    keys = ["group"] + ([seg_field] if seg_field else [])
    grouped = members.values(*keys).annotate(
        n=Count("pk"),
        r=Count("pk", filter=Q(responded=True)),
        s=Count("pk", filter=Q(sent=True)),
        rs=Count("pk", filter=Q(sent=True, responded=True)),
    )
    cells: dict[str, dict[str, tuple[int, int, int, int]]] = {}
    for row in grouped:
        seg = str(row[seg_field]) if seg_field and row[seg_field] is not None else ""
        if seg_field and row[seg_field] is None:
            seg = _("(none)")
        cells.setdefault(seg, {})[row["group"]] = (row["n"], row["r"], row["s"], row["rs"])
    out = []
    for seg in sorted(cells):
        t_n, t_r, t_s, t_rs = cells[seg].get("treatment", (0, 0, 0, 0))
        c_n, c_r, _c_s, _c_rs = cells[seg].get("control", (0, 0, 0, 0))
        # Reached members are the denominator when sends were recorded, else all treated.
        t_den, t_resp = (t_s, t_rs) if t_s else (t_n, t_r)
        out.append(
            Row(
                segment=seg,
                treatment=stats.rate(t_resp, t_den),
                control=stats.rate(c_r, c_n),
                sent=t_s,
                lift=stats.lift(t_resp, t_den, c_r, c_n),
            )
        )
    if not seg_field and not out:
        empty = stats.rate(0, 0)
        out.append(Row("", empty, empty, 0, stats.Lift(None, None, None)))
    return out


def explicit_feedback(campaign: Campaign) -> QuerySet[FeedbackItem]:
    """Feedback that names the campaign, or that its members sent while it ran."""
    start, end = window(campaign)
    members = CampaignMember.objects.filter(campaign=campaign).values("customer_id")
    return FeedbackItem.objects.filter(
        Q(campaign=campaign)
        | Q(customer_id__in=members, received_at__gte=start, received_at__lt=end)
    )
