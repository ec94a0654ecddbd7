"""QR codes for a counter, a receipt or a poster: a branch's (or the whole company's) anonymous
survey link, or one invitation's personal link. segno draws them (pure Python): SVG for print,
PNG for systems that want a bitmap."""

from __future__ import annotations

import io

import segno
from django.conf import settings
from django.urls import reverse

from rapport.surveys import tokens

QR_CHANNEL = "qr"


def public_url(survey_id: int, unit_id: int | None = None) -> str:
    """The anonymous response link a branch's QR code opens (signed: survey and unit only)."""
    token = tokens.public_token(survey_id, unit_id=unit_id, channel=QR_CHANNEL)
    return settings.SITE_URL + reverse("surveys_public:link", args=[token])


def invitation_url(token: str) -> str:
    """An identified response: the personal link of one invitation (e.g. printed on a receipt)."""
    return settings.SITE_URL + reverse("surveys_public:answer", args=[token])


def _code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def svg(url: str, scale: int = 8, title: str = "") -> bytes:
    out = io.BytesIO()
    _code(url).save(
        out, kind="svg", scale=scale, border=4, title=title or None, desc=url, xmldecl=True
    )
    return out.getvalue()


def png(url: str, scale: int = 10) -> bytes:
    out = io.BytesIO()
    _code(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def matrix(url: str) -> list[list[int]]:
    """The code's modules (1 = dark), for checking what a code encodes without a camera."""
    return [list(row) for row in _code(url).matrix]
