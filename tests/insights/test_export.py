"""Exports of the dashboards: CSV of every table, PNG of every chart, a PDF of each dashboard
(matplotlib, server-side), with CJK labels drawn in a CJK font when one is installed."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from rapport.insights import charts, export
from rapport.insights.charts import ChartSpec, Series
from tests.insights.test_views_overview import add_complaint, insight_base, login  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_every_overview_table_exports_as_csv(client, users, insight_base):  # noqa: F811
    add_complaint(insight_base, users)
    c = login(client, users["cx"])
    tables = c.get(reverse("insights:overview")).context["tables"]
    expected = {"mix", "competitors", "trend", "complaints", "matrix", "value_tiers"}
    expected |= {"value_at_risk", "drivers", "referrals", "economics", "units"}
    assert expected <= set(tables)
    for key, table in tables.items():
        response = c.get(reverse("insights:table_csv", args=[key]))
        assert response.status_code == 200, key
        assert response["Content-Type"].startswith("text/csv")
        rows = read_csv(response)
        assert rows[0] == [str(col.label) for col in table.columns], key
        assert len(rows) == len(table.rows) + 1, key


def test_matrix_csv_content(client, users, insight_base):  # noqa: F811
    rows = read_csv(login(client, users["cx"]).get(reverse("insights:table_csv", args=["matrix"])))
    by_cell = {r[0]: r for r in rows[1:]}
    assert by_cell["Locked in"][1:4] == ["1", "0.2", "1"]  # 1 of 5 customers, lock-in flagged
    assert by_cell["Advocates"][1] == "1"
    assert rows[0][:2] == ["Cell", "Customers"]


def test_unknown_table_or_chart_is_404(client, users, insight_base):  # noqa: F811
    c = login(client, users["cx"])
    assert c.get(reverse("insights:table_csv", args=["nothing"])).status_code == 404
    assert c.get(reverse("insights:chart_png", args=["nothing"])).status_code == 404


def test_every_chart_exports_as_png(client, users, insight_base):  # noqa: F811
    add_complaint(insight_base, users)
    c = login(client, users["cx"])
    page = c.get(reverse("insights:overview"))
    assert {"mix", "trend_nps", "complaints", "matrix", "value_tiers"} <= set(
        page.context["charts"]
    )
    for key in page.context["charts"]:
        response = c.get(reverse("insights:chart_png", args=[key]))
        assert response.status_code == 200, key
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n"), key


def test_unit_and_segment_exports(client, users, insight_base):  # noqa: F811
    c = login(client, users["north_mgr"])
    north = insight_base.org["north"].pk
    png = c.get(reverse("insights:chart_png", args=["peers"]), {"unit": north})
    assert png.content.startswith(b"\x89PNG")
    pdf = c.get(reverse("insights:report_pdf"), {"unit": north})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    seg = c.get(reverse("insights:table_csv", args=["segment_matrix"]), {"segment": 1})
    rows = {r[0]: r for r in read_csv(seg)[1:]}
    assert rows["Advocates"][1] == "1" and rows["Lost"][1] == "0"  # north only: B is south
    seg_pdf = c.get(reverse("insights:report_pdf"), {"segment": 1, "value": "bronze"})
    assert seg_pdf.content.startswith(b"%PDF")


def test_overview_pdf_has_a_page_per_chart_and_table(client, users, insight_base):  # noqa: F811
    c = login(client, users["cx"])
    response = c.get(reverse("insights:report_pdf"))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == 'attachment; filename="overview.pdf"'
    page = c.get(reverse("insights:overview"))
    pages = response.content.count(b"/Type /Page\n") or response.content.count(b"/Type /Page ")
    assert pages >= 1 + len(page.context["charts"]) + len(page.context["tables"])


def test_csv_cells_never_run_as_formulas():
    assert export.csv_value("=SUM(A1)") == "'=SUM(A1)"
    assert export.csv_value("-12.5") == "-12.5"  # a number stays a number
    assert export.csv_value(0.123456789) == "0.123457"
    assert export.csv_value(None) == ""


def test_chinese_labels_use_a_cjk_font_when_installed():
    spec = ChartSpec("t", "淨推薦值 NPS", "bar", ["台北", "高雄"], [Series("NPS", [10.0, -5.0])])
    family = charts.font_family()
    assert family[-1] == "DejaVu Sans"
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if any(name in installed for name in charts.CJK_FONTS):
        assert charts.has_cjk_font() and family[0] in charts.CJK_FONTS
    else:
        assert family == ("DejaVu Sans",)  # a clean fallback, no error
    assert charts.png(spec).startswith(b"\x89PNG")


def test_an_empty_chart_still_draws():
    spec = ChartSpec("t", "Nothing yet", "line", [], [])
    assert spec.empty
    assert charts.png(spec).startswith(b"\x89PNG")
