"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from rapport import __version__


def navigation(request: HttpRequest) -> dict[str, object]:
    return {"rapport_version": __version__}
