"""Staff survey pages, mounted at /surveys/."""

from django.urls import path

from rapport.surveys import views, views_distribution, views_results

app_name = "surveys"

urlpatterns = [
    path("", views.survey_list, name="list"),
    path("new/", views.survey_new, name="new"),
    path("<int:pk>/", views.survey_edit, name="edit"),
    path("<int:pk>/preview/", views.survey_preview, name="preview"),
    path("<int:pk>/publish/", views.survey_publish, name="publish"),
    path("<int:pk>/results/", views_results.survey_results, name="results"),
    path("<int:pk>/results.csv", views_results.survey_results_csv, name="results_csv"),
    path("<int:pk>/questions/new/", views.question_add, name="add"),
    path("<int:pk>/questions/<slug:key>/", views.question_edit, name="question"),
    path("<int:pk>/questions/<slug:key>/delete/", views.question_delete, name="delete"),
    path("<int:pk>/questions/<slug:key>/move/", views.question_move, name="move"),
    # distribution (rapport.surveys.views_distribution)
    path("distribution/", views_distribution.overview, name="distribution"),
    path("distribution/policy/", views_distribution.policy_edit, name="policy"),
    path("distribution/rules/new/", views_distribution.rule_edit, name="rule_new"),
    path("distribution/rules/<int:pk>/", views_distribution.rule_edit, name="rule"),
    path(
        "distribution/rules/<int:pk>/dry-run/", views_distribution.rule_dry_run, name="rule_dry_run"
    ),
    path("distribution/waves/new/", views_distribution.wave_edit, name="wave_new"),
    path("distribution/waves/<int:pk>/", views_distribution.wave_edit, name="wave"),
    path(
        "distribution/waves/<int:pk>/dry-run/", views_distribution.wave_dry_run, name="wave_dry_run"
    ),
    path("distribution/waves/<int:pk>/launch/", views_distribution.wave_launch, name="wave_launch"),
    path("<int:pk>/qr/", views_distribution.qr_page, name="qr"),
    path("<int:pk>/qr.<str:fmt>", views_distribution.qr_image, name="qr_image"),
    path("<int:pk>/widget/", views_distribution.widget_page, name="widget"),
]
