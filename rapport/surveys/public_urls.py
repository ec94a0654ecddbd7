"""Public survey URLs, mounted at /s/: answering by token, anonymous QR/link surveys."""

from django.urls import path

from rapport.surveys import public_views, views_distribution

app_name = "surveys_public"

urlpatterns = [
    path("widget.js", views_distribution.widget_js, name="widget_js"),
    path("unsubscribe/<str:token>/", views_distribution.unsubscribe, name="unsubscribe"),
    path("q/<str:token>/", public_views.public_link, name="link"),
    path("<str:token>/", public_views.answer, name="answer"),
    path("<str:token>/thanks/", public_views.thanks, name="thanks"),
]
