"""The case work: inbox, case page and its actions, opening by hand, board, approvals, settings."""

from django.urls import URLPattern, path

from rapport.cases import (
    views_approvals,
    views_board,
    views_case,
    views_case_actions,
    views_config,
    views_create,
    views_inbox,
)

urlpatterns: list[URLPattern] = [
    path("", views_inbox.inbox, name="inbox"),
    path("new/", views_create.create, name="create"),
    path("board/", views_board.board, name="board"),
    path("approvals/", views_approvals.approvals, name="approvals"),
    path("approvals/<int:pk>/decide/", views_approvals.decide, name="decide"),
    path("<int:pk>/", views_case.detail, name="detail"),
    path("<int:pk>/do/<slug:action>/", views_case_actions.act, name="act"),
    path("settings/", views_config.index, name="config"),
    path("settings/case/", views_config.case_settings, name="config_settings"),
    path("settings/<slug:kind>/", views_config.config_list, name="config_list"),
    path("settings/<slug:kind>/new/", views_config.edit, name="config_new"),
    path("settings/<slug:kind>/<int:pk>/", views_config.edit, name="config_edit"),
    path("settings/<slug:kind>/<int:pk>/delete/", views_config.delete, name="config_delete"),
]
