from django.urls import path

from rapport.feedback import views

app_name = "feedback"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("give/", views.give, name="give"),
    path("give/thanks/", views.thanks, name="thanks"),
    path("items/", views.items, name="items"),
    path("items/<int:pk>/", views.item, name="item"),
    path("items/<int:pk>/correct/", views.correct, name="correct"),
    path("themes/", views.themes, name="themes"),
    path("themes/new/", views.theme_edit, name="theme_new"),
    path("themes/<int:pk>/", views.theme_edit, name="theme_edit"),
    path("themes/emerging/", views.emerging, name="emerging"),
    path("themes/promote/", views.promote, name="promote"),
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/new/", views.campaign_edit, name="campaign_new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
]
