"""The HTTP API under /api/v1/ (django-ninja); each app adds its router here.

Every answer that is not a success has the one error shape of rapport.core.apiutil, also for
paths and methods the API does not have. The docs page serves Swagger UI from our own static
files (vendored from the npm registry), never from a CDN.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, re_path, reverse
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase

from rapport.core import apiutil

DESCRIPTION = """\
Send customers and touchpoints from other systems, read customers and their timelines, and
subscribe to events with webhooks. Authenticate with an API key (`Authorization: Bearer rk_...`
or `X-API-Key: rk_...`, made with `rapport apikey create`); errors always look like
`{"error": {"code": ..., "message": ..., "details": [{"loc": ..., "msg": ...}]}}`.
See docs/api.md.
"""


class LocalSwagger(DocsBase):
    """Swagger UI from rapport/static/vendor/swagger-ui (works offline)."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {
            "url": self.get_openapi_url(api, kwargs),
            "layout": "BaseLayout",
            "deepLinking": True,
        }
        return render(
            request,
            "api/docs.html",
            {"api": api, "swagger_settings": json.dumps(settings).replace("<", "\\u003c")},
        )


class RapportAPI(NinjaAPI):
    def _get_urls(self) -> list:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                if pattern.name == "api-root":
                    pattern.callback = api_root
                else:
                    pattern.callback = apiutil.with_json_405(pattern.callback)
        urls.append(re_path(r"^.*$", apiutil.not_found_view, name="api-not-found"))
        return urls


def api_root(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    return JsonResponse(
        {
            "name": api.title,
            "version": api.version,
            "openapi": reverse("api:openapi-json"),
            "docs": reverse("api:openapi-view"),
        }
    )


api = RapportAPI(
    title="Rapport API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=LocalSwagger(),
)
apiutil.install_error_handlers(api)


def _add_routers() -> None:
    from rapport.cases.api import router as cases
    from rapport.customers.api import router as customers
    from rapport.feedback.api import router as feedback
    from rapport.integrations.api import router as integrations
    from rapport.surveys.api import router as surveys
    from rapport.touchpoints.api import router as touchpoints

    api.add_router("/cases", cases)
    api.add_router("/customers", customers)
    api.add_router("/feedback", feedback)
    api.add_router("/touchpoints", touchpoints)
    api.add_router("/", integrations)
    api.add_router("/", surveys)


_add_routers()
