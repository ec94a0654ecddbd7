from django.urls import path

from rapport.customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/consent/", views.consent_update, name="consent"),
    path("<int:pk>/merge/", views.merge_pick, name="merge_pick"),
    path("<int:pk>/merge/<int:into>/", views.merge_confirm, name="merge_confirm"),
    path("merges/<int:pk>/undo/", views.merge_undo, name="merge_undo"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/<int:pk>/resolve/", views.review_resolve, name="review_resolve"),
    path("reviews/<int:pk>/dismiss/", views.review_dismiss, name="review_dismiss"),
]
