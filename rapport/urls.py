from django.contrib import admin
from django.urls import include, path

from rapport.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("", include("rapport.core.urls")),
    path("customers/", include("rapport.customers.urls")),
    path("integrations/", include("rapport.integrations.urls")),
    path("surveys/", include("rapport.surveys.urls")),
    path("s/", include("rapport.surveys.public_urls")),
    path("cases/", include("rapport.cases.public_urls")),
    path("cases/", include("rapport.cases.urls")),
    path("insights/", include("rapport.insights.urls")),
    path("feedback/", include("rapport.feedback.urls")),
]
