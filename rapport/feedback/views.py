"""Feedback pages: the public form, the dashboard, items and corrections, themes and emerging
themes, campaigns. Thin: parse, authorise, scope, call rapport.feedback.actions / dashboard /
campaigns, render. Everything customers wrote is shown auto-escaped (stored as data, inert)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.feedback import actions, campaigns, dashboard
from rapport.feedback.analysis import CAUSES
from rapport.feedback.forms import CampaignForm, CorrectionForm, GiveFeedbackForm, ThemeForm
from rapport.feedback.models import (
    CAUSE_LABELS,
    CHANNELS,
    SENTIMENTS,
    Campaign,
    CampaignMember,
    FeedbackItem,
    Theme,
)
from rapport.feedback.records import FeedbackInput, clean_text
from rapport.org import scoping
from rapport.org.models import OrgUnit

PAGE_SIZE = 25
FORM_LIMIT = 5  # feedback sent from one address within FORM_WINDOW
FORM_WINDOW = dt.timedelta(minutes=10)
DEFAULT_DAYS = 90


def _scoped(request: HttpRequest) -> QuerySet[FeedbackItem]:
    return scoping.scope(FeedbackItem.objects.all(), request.user, "unit")


def _tz() -> dt.tzinfo:
    return actions.default_tz()


# --- the public form -----------------------------------------------------------------------


def client_hash(request: HttpRequest) -> str:
    """A salted hash of the sender's address: enough to limit, nothing to identify."""
    address = request.META.get("REMOTE_ADDR", "")
    return hashlib.sha256(f"{settings.SECRET_KEY}:{address}".encode()).hexdigest()[:32]


def give(request: HttpRequest) -> HttpResponse:
    """Anyone may tell us something: no login; CSRF-protected; a few sends per address per 10
    minutes. ?channel=widget marks the website widget; ?unit=CODE the branch it is about."""
    lang = request.GET.get("lang", "").lower()
    if lang in dict(settings.LANGUAGES):
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
    channel = "widget" if request.GET.get("channel") == "widget" else "form"
    unit_code = request.GET.get("unit", "")[:64]
    unit = OrgUnit.objects.filter(code=unit_code).first() if unit_code else None
    form = GiveFeedbackForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:  # a bot filled the hidden field: pretend all is well
            return redirect(reverse("feedback:thanks"))
        who = client_hash(request)
        recent = FeedbackItem.objects.filter(
            client_hash=who, received_at__gte=timezone.now() - FORM_WINDOW
        ).count()
        if recent >= FORM_LIMIT:
            form.add_error(
                None, _("You have sent several messages just now; please wait a few minutes.")
            )
            status = 429
        else:
            contact = form.cleaned_data["contact"].strip()
            actions.record_feedback(
                [
                    FeedbackInput(
                        text=clean_text(form.cleaned_data["text"]),
                        channel=channel,
                        author_name=form.cleaned_data["name"].strip(),
                        author_contact=contact,
                        unit_id=unit.pk if unit else None,
                        client_hash=who,
                        meta={"page_language": translation.get_language() or ""},
                    )
                ],
                source=channel,
            )
            return redirect(reverse("feedback:thanks"))
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "feedback/public/give.html",
        {
            "form": form,
            "unit": unit,
            "channel": channel,
            "language": translation.get_language() or "en",
        },
        status=status,
    )


def thanks(request: HttpRequest) -> HttpResponse:
    return render(
        request, "feedback/public/thanks.html", {"language": translation.get_language() or "en"}
    )


def widget_snippet(unit_code: str = "", language: str = "") -> str:
    """The line a web site pastes before </body>: the surveys widget button, opening our form."""
    url = settings.SITE_URL + reverse("feedback:give") + "?channel=widget"
    if unit_code:
        url += "&unit=" + unit_code
    return str(
        format_html(
            '<script src="{}" data-rapport-survey="{}" data-lang="{}" async></script>',
            settings.SITE_URL + reverse("surveys_public:widget_js"),
            url,
            language,
        )
    )


# --- filters shared by the dashboard and the list -------------------------------------------


def _filters(request: HttpRequest, qs: QuerySet[FeedbackItem], default_days: int | None):
    """Apply the GET filters; returns (queryset, params, errors)."""
    params = {k: request.GET.get(k, "").strip() for k in (
        "unit", "channel", "sentiment", "cause", "theme", "from", "to", "q", "campaign", "customer"
    )}  # fmt: skip
    errors: dict[str, str] = {}
    tz = _tz()
    start = parse_date(params["from"]) if params["from"] else None
    end = parse_date(params["to"]) if params["to"] else None
    if params["from"] and start is None:
        errors["from"] = _("Not a date.")
    if params["to"] and end is None:
        errors["to"] = _("Not a date.")
    if start is None and not params["from"] and default_days:
        start = timezone.now().astimezone(tz).date() - dt.timedelta(days=default_days)
        params["from"] = start.isoformat()
    if start:
        qs = qs.filter(received_at__gte=dt.datetime.combine(start, dt.time(), tzinfo=tz))
    if end:
        qs = qs.filter(
            received_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        )
    if params["unit"]:
        path = OrgUnit.objects.filter(code=params["unit"]).values_list("path", flat=True).first()
        if path is None:
            errors["unit"] = _("No such unit.")
        else:
            qs = qs.filter(unit__path__startswith=path)
    if params["channel"] in CHANNELS:
        qs = qs.filter(channel=params["channel"])
    if params["sentiment"] in SENTIMENTS:
        qs = qs.filter(sentiment=params["sentiment"])
    if params["cause"] in CAUSES:
        qs = qs.filter(labels__kind="cause", labels__key=params["cause"])
    if params["theme"]:
        qs = qs.filter(labels__kind="theme", labels__key=params["theme"])
    if params["q"]:
        qs = qs.filter(text__icontains=params["q"][:200])
    if params["campaign"].isdigit():
        qs = qs.filter(campaign_id=int(params["campaign"]))
    if params["customer"].isdigit():
        qs = qs.filter(customer_id=int(params["customer"]))
    return qs, params, errors


def _visible_units(request: HttpRequest) -> QuerySet[OrgUnit]:
    prefix = scoping.unit_path(request.user)
    qs = OrgUnit.objects.order_by("path")
    if prefix is None:
        return qs.none()
    return qs.filter(path__startswith=prefix) if prefix else qs


def _choices() -> dict[str, Any]:
    return {
        "channels": list(CHANNELS.items()),
        "sentiments": list(SENTIMENTS.items()),
        "causes": [(c, CAUSE_LABELS[c]) for c in CAUSES],
    }


@login_required
@permission_required("feedback.view_feedbackitem", raise_exception=True)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    qs, params, errors = _filters(request, _scoped(request), DEFAULT_DAYS)
    figures = dashboard.figures(qs, _tz())
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "feedback/dashboard.html",
        {
            "f": figures,
            "params": params,
            "errors": errors,
            "units": _visible_units(request),
            "themes": Theme.objects.filter(active=True),
            "query_string": query.urlencode(),
            "can_manage": request.user.has_perm("feedback.add_theme"),
            "widget_snippet": widget_snippet(),
            "form_url": settings.SITE_URL + reverse("feedback:give"),
            **_choices(),
        },
    )


@login_required
@permission_required("feedback.view_feedbackitem", raise_exception=True)
def items(request: HttpRequest) -> HttpResponse:
    qs, params, errors = _filters(request, _scoped(request), None)
    qs = qs.select_related("unit", "customer").order_by("-received_at", "-pk")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "params": params,
        "errors": errors,
        "units": _visible_units(request),
        "themes": Theme.objects.filter(active=True),
        **_choices(),
    }
    template = "feedback/items.html"
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "fb-items":
        template = "feedback/_items_table.html"
    return render(request, template, context)


def _item(request: HttpRequest, pk: int) -> FeedbackItem:
    item = (
        _scoped(request)
        .select_related("unit", "customer", "staff", "campaign", "touchpoint")
        .filter(pk=pk)
        .first()
    )
    if item is None:
        raise Http404
    return item


@login_required
@permission_required("feedback.view_feedbackitem", raise_exception=True)
def item(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _item(request, pk)
    form = CorrectionForm(
        initial={
            "sentiment": obj.sentiment or "neutral",
            "causes": [c for c, *_rest in obj.causes or ()],
            "themes": [t for t, *_rest in obj.themes or ()],
        }
    )
    names = dict(Theme.objects.values_list("key", "name"))
    return render(
        request,
        "feedback/item.html",
        {
            "item": obj,
            "form": form,
            "theme_names": [(names.get(k, k), conf) for k, conf in obj.themes or ()],
            "corrections": obj.corrections.select_related("by")[:50],
            "can_correct": request.user.has_perm("feedback.add_correction"),
        },
    )


@login_required
@require_POST
@permission_required("feedback.add_correction", raise_exception=True)
def correct(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _item(request, pk)
    form = CorrectionForm(request.POST)
    if form.is_valid():
        try:
            made = actions.correct(
                obj,
                request.user,
                sentiment=form.cleaned_data["sentiment"],
                causes=form.cleaned_data["causes"],
                themes=form.cleaned_data["themes"],
            )
        except actions.CorrectionError as exc:
            messages.error(request, str(exc))
        else:
            if made:
                messages.success(
                    request, _("Labels corrected. Thank you: the model learns from this.")
                )
            else:
                messages.info(request, _("Nothing changed."))
    else:
        messages.error(request, _("The correction is not valid."))
    return redirect("feedback:item", pk=obj.pk)


# --- themes ---------------------------------------------------------------------------------


@login_required
@permission_required("feedback.view_theme", raise_exception=True)
def themes(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "feedback/themes.html",
        {"themes": Theme.objects.all(), "can_manage": request.user.has_perm("feedback.add_theme")},
    )


@login_required
@permission_required("feedback.add_theme", raise_exception=True)
def theme_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=pk) if pk else Theme(created_by=request.user)
    form = ThemeForm(request.POST or None, instance=theme)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Theme saved; new feedback is matched against it."))
        return redirect("feedback:themes")
    return render(request, "feedback/theme_form.html", {"form": form, "theme": theme})


EMERGING_DAYS = 30
EMERGING_MAX_ITEMS = 2000
EMERGING_CACHE_SECONDS = 3600


def emerging_clusters(qs: QuerySet[FeedbackItem]) -> list[dict[str, Any]]:
    """Clusters of recent feedback that no known theme covers, from the analyser.

    Clustering 2,000 texts takes seconds, so the result is cached under a digest of its inputs
    (the items with their text, and the active themes): the same inputs give the same clusters,
    and any new item or theme change makes a new key."""
    from rapport.feedback import analyzing
    from rapport.feedback.analysis.clustering import cluster

    since = timezone.now() - dt.timedelta(days=EMERGING_DAYS)
    rows = list(
        qs.filter(received_at__gte=since, themes=[])
        .exclude(text="")
        .order_by("-received_at")
        .values_list("pk", "text")[:EMERGING_MAX_ITEMS]
    )
    if not rows:
        return []
    themes = analyzing.theme_defs()
    digest = hashlib.sha1(repr((rows, themes)).encode()).hexdigest()
    key = f"feedback:emerging:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return cast(list[dict[str, Any]], cached)
    clusters = [
        {
            "number": number,
            "name": c.name or ", ".join(c.terms[:3]),
            "keywords": list(c.terms),
            "quotes": [q[:500] for q in c.quotes[:3]],
            "size": c.size,
            "items": [rows[i][0] for i in c.indices][:200],
        }
        for number, c in enumerate(cluster([t for _pk, t in rows], themes), 1)
    ]
    cache.set(key, clusters, EMERGING_CACHE_SECONDS)
    return clusters


@login_required
@permission_required("feedback.view_theme", raise_exception=True)
def emerging(request: HttpRequest) -> HttpResponse:
    clusters = emerging_clusters(_scoped(request))
    return render(
        request,
        "feedback/emerging.html",
        {
            "clusters": clusters,
            "days": EMERGING_DAYS,
            "can_manage": request.user.has_perm("feedback.add_theme"),
        },
    )


@login_required
@require_POST
@permission_required("feedback.add_theme", raise_exception=True)
def promote(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()[:200]
    keywords = [k.strip() for k in request.POST.get("keywords", "").split(",") if k.strip()]
    quotes = request.POST.getlist("quote")
    if not name or not keywords:
        messages.error(request, _("A theme needs a name and at least one keyword."))
        return redirect("feedback:emerging")
    key = slugify(name) or "theme"
    base, n = key, 2
    while Theme.objects.filter(key=key).exists():
        key, n = f"{base}-{n}", n + 1
    actions.promote_cluster(
        key=key[:64],
        name=name,
        keywords=keywords,
        examples=quotes,
        cluster={
            "size": request.POST.get("size", ""),
            "quotes": quotes[:3],
            "at": timezone.now().isoformat(),
        },
        user=request.user,
    )
    messages.success(request, _("Theme %(name)s created.") % {"name": name})
    return redirect("feedback:themes")


# --- campaigns ------------------------------------------------------------------------------


@login_required
@permission_required("feedback.view_campaign", raise_exception=True)
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "feedback/campaigns.html",
        {
            "campaigns": Campaign.objects.all(),
            "can_manage": request.user.has_perm("feedback.add_campaign"),
        },
    )


@login_required
@permission_required("feedback.add_campaign", raise_exception=True)
def campaign_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk) if pk else Campaign(created_by=request.user)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        try:
            treated, control = campaigns.draw_members(saved, form.cleaned_data["control_list"])
        except campaigns.CampaignError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Campaign saved: %(t)d customers targeted, %(c)d held out as control.")
                % {"t": treated, "c": control},
            )
        return redirect("feedback:campaign", pk=saved.pk)
    return render(request, "feedback/campaign_form.html", {"form": form, "campaign": campaign})


@login_required
@permission_required("feedback.view_campaign", raise_exception=True)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    by = request.GET.get("by", "").strip()[:64]
    path = scoping.unit_path(request.user) or ""
    overall = campaigns.results(campaign, unit_path=path)[0]
    breakdown = campaigns.results(campaign, by, unit_path=path) if by else []
    start, end = campaigns.window(campaign)
    feedback = scoping.scope(campaigns.explicit_feedback(campaign), request.user, "unit")
    fb = feedback.select_related("unit").order_by("-received_at")[:20]
    members = CampaignMember.objects.filter(campaign=campaign)
    if path:
        members = members.filter(customer__home_unit__path__startswith=path)
    sizes = dict(members.values_list("group").annotate(n=Count("pk")))
    return render(
        request,
        "feedback/campaign.html",
        {
            "campaign": campaign,
            "overall": overall,
            "breakdown": breakdown,
            "by": by,
            "window_end": (end - dt.timedelta(days=1)).date(),
            "window_start": start.date(),
            "feedback": fb,
            "feedback_counts": feedback.aggregate(**dashboard._COUNTS),
            "sizes": sizes,
            "can_manage": request.user.has_perm("feedback.add_campaign"),
        },
    )
