"""The embeddable website widget: a small script served by Rapport (static/surveys/widget.js)
that adds a feedback button to any page and opens the survey's anonymous link in a popup (a new
tab on phones). A popup rather than an iframe: the survey page forbids framing (X-Frame-Options),
and a first-party window keeps the respondent's browser rules simple."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html

from rapport.surveys import tokens

WIDGET_CHANNEL = "widget"


def script_url() -> str:
    return settings.SITE_URL + reverse("surveys_public:widget_js")


def survey_url(survey_id: int, unit_id: int | None = None) -> str:
    token = tokens.public_token(survey_id, unit_id=unit_id, channel=WIDGET_CHANNEL)
    return settings.SITE_URL + reverse("surveys_public:link", args=[token])


def snippet(survey_id: int, unit_id: int | None = None, label: str = "", language: str = "") -> str:
    """The one line a web site pastes before </body>."""
    return str(
        format_html(
            '<script src="{}" data-rapport-survey="{}" data-label="{}" data-lang="{}" async>'
            "</script>",
            script_url(),
            survey_url(survey_id, unit_id),
            label,
            language,
        )
    )
