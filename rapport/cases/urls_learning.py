"""The learning half of the cases pages: knowledge, weekly digest, reports, received email."""

from django.urls import URLPattern, path

from rapport.cases import views_learning as views

urlpatterns: list[URLPattern] = [
    path("knowledge/", views.knowledge_page, name="knowledge"),
    path("digest/", views.digest_page, name="digest"),
    path("reports/", views.reports_page, name="reports"),
    path("reports/<slug:key>.csv", views.report_csv, name="report_csv"),
    path("mail/", views.mail_list, name="mail"),
    path("mail/<int:pk>/", views.mail_detail, name="mail_detail"),
    path("mail/<int:pk>/files/<int:attachment>/", views.mail_attachment, name="mail_attachment"),
]
