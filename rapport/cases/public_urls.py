from django.urls import path

from rapport.cases import public_views

app_name = "cases_public"

urlpatterns = [
    path("accept/<str:token>", public_views.accept_offer, name="accept"),
]
