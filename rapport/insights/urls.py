from django.urls import path

from rapport.insights import views

app_name = "insights"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("units/<int:pk>/", views.unit_view, name="unit"),
    path("segments/", views.segments, name="segments"),
    path("customers/", views.customers, name="customers"),
    path("tables/<slug:table>.csv", views.table_csv, name="table_csv"),
    path("charts/<slug:chart>.png", views.chart_png, name="chart_png"),
    path("report.pdf", views.report_pdf, name="report_pdf"),
    path("benchmarks/new/", views.benchmark_new, name="benchmark_new"),
    path("benchmarks/<int:pk>/edit/", views.benchmark_edit, name="benchmark_edit"),
    path("benchmarks/<int:pk>/delete/", views.benchmark_delete, name="benchmark_delete"),
]
