"""Invitation and reminder emails: multipart text + HTML in the customer's language, with the
personal link and a one-click unsubscribe (RFC 8058 List-Unsubscribe headers and a link)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string, select_template
from django.utils import translation

from rapport.surveys.channels import SendError


@dataclass(frozen=True)
class Letter:
    """Everything one email says."""

    to: str
    language: str
    survey_title: str
    link: str
    unsubscribe_url: str
    reminder: bool
    expires_at: Any
    invitation_id: int


def _template(kind: str, language: str) -> str:
    """The template for this language (surveys/email/<kind>.<language>.*), else English."""
    names = [f"surveys/email/{kind}.{language}", f"surveys/email/{kind}.en"]
    return select_template([f"{n}.txt" for n in names]).origin.template_name[: -len(".txt")]


def message(letter: Letter, connection: Any = None) -> EmailMultiAlternatives:
    context = {
        "title": letter.survey_title,
        "link": letter.link,
        "unsubscribe_url": letter.unsubscribe_url,
        "reminder": letter.reminder,
        "expires_at": letter.expires_at,
        "lang": letter.language,
    }
    body = _template("invitation", letter.language)
    with translation.override(letter.language):
        subject = render_to_string(_template("subject", letter.language) + ".txt", context)
        text = render_to_string(body + ".txt", context)
        html = render_to_string(body + ".html", context)
    mail = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[letter.to],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{letter.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Content-Language": letter.language,
            "Auto-Submitted": "auto-generated",
            "X-Rapport-Invitation": str(letter.invitation_id),
        },
    )
    mail.attach_alternative(html, "text/html")
    return mail


def send(letter: Letter, connection: Any) -> None:
    """Send one email through an open connection; SendError when it did not go."""
    try:
        sent = message(letter, connection).send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        raise SendError(
            f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)
        ) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    if not sent:
        raise SendError("the email backend sent nothing")
