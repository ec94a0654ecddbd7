"""Forms of the insights pages: competitors' figures, the economics calculator, and the filters
shared by the segment explorer and the customer lists behind every chart."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rapport.customers.models import AttributeDefinition
from rapport.insights import economics, queries, segmentation
from rapport.insights.models import CompetitorBenchmark, CustomerInsight
from rapport.org.models import OrgUnit
from rapport.surveys import scoring

SHARE_FIELDS = ("fully_engaged", "engaged", "indifferent", "actively_disengaged")


class CompetitorBenchmarkForm(forms.ModelForm):
    """Shares are typed as percentages (48 for 48%) and stored as 0–1."""

    class Meta:
        model = CompetitorBenchmark
        fields = ["name", "period", "source", "n", *SHARE_FIELDS, "nps", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "source": _("Where the figures come from: a report, a URL, a survey you bought."),
            "n": _("Number of respondents, if known: without it no test is possible."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SHARE_FIELDS:
            field = self.fields[name]
            field.widget = forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "100"})
            field.help_text = _("Percent, 0–100.")
            if self.instance.pk and getattr(self.instance, name) is not None:
                self.initial[name] = round(100 * getattr(self.instance, name), 2)
        self.fields["nps"].widget = forms.NumberInput(
            attrs={"step": "0.1", "min": "-100", "max": "100"}
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in SHARE_FIELDS:
            value = data.get(name)
            if value is None:
                continue
            if not 0 <= value <= 100:
                self.add_error(name, _("A share is a percentage between 0 and 100."))
            else:
                data[name] = value / 100
        total = sum(data.get(n) or 0 for n in SHARE_FIELDS)
        if all(data.get(n) is not None for n in SHARE_FIELDS) and abs(total - 1) > 0.02:
            self.add_error(
                None,
                _("The four shares add up to %(total).1f%%, not 100%%.") % {"total": 100 * total},
            )
        nps = data.get("nps")
        if nps is not None and not -100 <= nps <= 100:
            self.add_error("nps", _("NPS lies between −100 and 100."))
        return data


class EconomicsForm(forms.Form):
    """The calculator's assumptions, prefilled from our own figures; rates in percent."""

    retention_rate = forms.FloatField(
        label=_("Yearly retention (%)"), min_value=0, max_value=99, required=True
    )
    annual_margin = forms.FloatField(label=_("Yearly margin per customer"), min_value=0)
    active_customers = forms.IntegerField(label=_("Active customers"), min_value=0)
    discount_rate = forms.FloatField(label=_("Discount rate (%)"), min_value=0, max_value=100)
    change_points = forms.FloatField(
        label=_("Change in retention (points)"), min_value=-50, max_value=50, initial=5
    )

    @staticmethod
    def initial_from(inputs: economics.EconomicsInputs | None) -> dict[str, Any]:
        if inputs is None:
            return {"discount_rate": 10.0, "change_points": 5.0}
        return {
            "retention_rate": round(100 * inputs.retention_rate, 2),
            "annual_margin": round(inputs.annual_margin, 2),
            "active_customers": inputs.active_customers,
            "discount_rate": round(100 * inputs.discount_rate, 2),
            "change_points": 5.0,
        }

    def inputs(self) -> tuple[economics.EconomicsInputs, float]:
        d = self.cleaned_data
        return (
            economics.EconomicsInputs(
                retention_rate=d["retention_rate"] / 100,
                annual_margin=d["annual_margin"],
                active_customers=d["active_customers"],
                discount_rate=d["discount_rate"] / 100,
            ),
            d["change_points"],
        )


ANY = _("Any")


def _choices(pairs: Any) -> list[tuple[str, Any]]:
    return [("", ANY), *[(str(k), v) for k, v in pairs]]


class SegmentForm(forms.Form):
    """Filters on the customers behind a figure; an invalid value is named, never ignored."""

    unit = forms.TypedChoiceField(label=_("Unit"), required=False, coerce=int, empty_value=None)
    cell = forms.ChoiceField(label=_("Retention × loyalty"), required=False)
    retention = forms.ChoiceField(label=_("Retention"), required=False)
    tier = forms.ChoiceField(label=_("Engagement tier"), required=False)
    value = forms.ChoiceField(label=_("Value tier"), required=False)
    visits = forms.ChoiceField(label=_("Service visits a year"), required=False)
    model_year_from = forms.IntegerField(
        label=_("Model year from"), required=False, min_value=1900, max_value=2100
    )
    model_year_to = forms.IntegerField(
        label=_("Model year to"), required=False, min_value=1900, max_value=2100
    )
    attribute = forms.ChoiceField(label=_("Attribute"), required=False)
    attribute_value = forms.CharField(label=_("Attribute value"), required=False, max_length=200)
    lock_in = forms.BooleanField(label=_("Returns follow lock-ins"), required=False)
    low_alive = forms.BooleanField(label=_("Low P(alive)"), required=False)
    at_risk_value = forms.BooleanField(label=_("Value at risk"), required=False)
    promoters = forms.BooleanField(label=_("Promoters"), required=False)
    referrers = forms.BooleanField(label=_("Referrers"), required=False)

    def __init__(self, *args: Any, user_path: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_path = user_path
        units = OrgUnit.objects.filter(path__startswith=user_path).order_by("path")
        self.fields["unit"].choices = _choices(units.values_list("pk", "name"))
        self.fields["cell"].choices = _choices(CustomerInsight.Cell.choices)
        self.fields["retention"].choices = _choices(CustomerInsight.Retention.choices)
        tiers = [(t, queries.tier_labels()[t]) for t in scoring.TIERS]
        self.fields["tier"].choices = _choices([*tiers, ("none", _("No answer yet"))])
        self.fields["value"].choices = _choices(queries.value_tier_labels().items())
        self.fields["visits"].choices = _choices((b, b) for b in queries.VISITS_BANDS)
        self.attribute_types = dict(AttributeDefinition.objects.values_list("name", "type"))
        self.fields["attribute"].choices = _choices(
            AttributeDefinition.objects.values_list("name", "label")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("attribute")
        raw = (data.get("attribute_value") or "").strip()
        if name and not raw:
            self.add_error("attribute_value", _("Give the attribute's value to compare with."))
        elif name:
            typed = _typed(self.attribute_types.get(name, "string"), raw)
            if typed is None:
                self.add_error(
                    "attribute_value",
                    _("%(value)s is not a valid %(type)s.")
                    % {"value": raw[:40], "type": self.attribute_types.get(name)},
                )
            else:
                data["attribute_typed"] = typed
        low, high = data.get("model_year_from"), data.get("model_year_to")
        if low is not None and high is not None and low > high:
            self.add_error("model_year_to", _("The last model year comes before the first."))
        return data

    def segment(self) -> segmentation.SegmentFilter:
        """The filter of a valid form (call is_valid first); invalid fields count as unset."""
        d = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        unit = None
        if d.get("unit"):
            unit = OrgUnit.objects.filter(pk=d["unit"], path__startswith=self.user_path).first()
        flt = segmentation.SegmentFilter(
            unit=unit,
            cell=d.get("cell") or "",
            retention=d.get("retention") or "",
            tier=d.get("tier") or "",
            value=d.get("value") or "",
            visits=d.get("visits") or "",
            model_year_from=d.get("model_year_from"),
            model_year_to=d.get("model_year_to"),
            lock_in=bool(d.get("lock_in")),
            low_alive=bool(d.get("low_alive")),
            at_risk_value=bool(d.get("at_risk_value")),
            promoters=bool(d.get("promoters")),
            referrers=bool(d.get("referrers")),
        )
        if "attribute_typed" in d:
            flt.attribute = d["attribute"]
            flt.attribute_value = d["attribute_typed"]
        return flt


def _typed(kind: str, raw: str) -> Any:
    if kind == AttributeDefinition.Type.INTEGER:
        try:
            return int(raw)
        except ValueError:
            return None
    if kind == AttributeDefinition.Type.BOOLEAN:
        lowered = raw.lower()
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            lowered
        )
    return raw
