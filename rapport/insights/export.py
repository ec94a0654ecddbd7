"""Tables of the dashboards and their exports: CSV (every table; streamed for customer lists)
and a multi-page PDF of a dashboard (its charts, then its tables) drawn with matplotlib.

A `Table` is plain data: columns with a kind (how to show a value) and rows of raw values, plus
the link behind each row (the customers it counts). The page, the CSV and the PDF read the same
Table, so an export never disagrees with the screen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import formats
from matplotlib.backends.backend_pdf import PdfPages

from rapport.insights import charts


@dataclass
class Column:
    label: str
    kind: str = "text"  # text, int, share, points, money, score, p, date, bool


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    links: list[str | None] = field(default_factory=list)  # per row
    flagged: list[bool] = field(default_factory=list)  # per row: small sample
    note: str = ""

    def display_rows(self) -> list[dict[str, Any]]:
        """Rows as the page shows them: formatted cells with their kind, link and flag."""
        out = []
        for i, row in enumerate(self.rows):
            out.append(
                {
                    "cells": [
                        {"text": display(v, c.kind), "num": c.kind not in {"text", "date", "bool"}}
                        for v, c in zip(row, self.columns, strict=True)
                    ],
                    "url": self.links[i] if i < len(self.links) else None,
                    "flagged": self.flagged[i] if i < len(self.flagged) else False,
                }
            )
        return out


def display(value: Any, kind: str) -> str:
    """A value as a person reads it."""
    if value is None or value == "":
        return "—"
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "points":
        return f"{value:+.1f}"
    if kind == "money":
        return formats.number_format(round(value), use_l10n=True, force_grouping=True)
    if kind == "int":
        return formats.number_format(int(value), use_l10n=True, force_grouping=True)
    if kind == "score":
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if kind == "bool":
        return "✓" if value else ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_value(value: Any) -> str:
    """A value for a spreadsheet: full precision, no formatting, never a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    return (
        "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} and not _number(text) else text
    )


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table_csv(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # Excel reads Chinese text right with a BOM
    out = csv.writer(response)
    out.writerow([str(c.label) for c in table.columns])
    for row in table.rows:
        out.writerow([csv_value(v) for v in row])
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def streaming_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str):
    """A CSV streamed row by row (customer lists can hold a million rows)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow([str(h) for h in header])
        for row in rows:
            yield writer.writerow([csv_value(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


TABLE_ROWS_PER_PAGE = 28


def pdf(
    title: str, subtitle: str, specs: Sequence[charts.ChartSpec], tables: Sequence[Table]
) -> bytes:
    """The dashboard as a PDF: a title page, one page per chart, then its tables."""
    out = io.BytesIO()
    family = list(charts.font_family())
    with PdfPages(out, metadata={"Title": title, "Creator": "Rapport"}) as doc:
        cover = charts.new_figure(8.27, 11.69)
        cover.text(0.08, 0.9, title, fontsize=20, fontweight="bold", family=family)
        cover.text(0.08, 0.86, subtitle, fontsize=10, color="#5b6573", family=family)
        y = 0.8
        for spec in specs:
            cover.text(0.1, y, f"• {spec.title}", fontsize=10, family=family)
            y -= 0.025
        for table in tables:
            cover.text(0.1, y, f"• {table.title}", fontsize=10, family=family)
            y -= 0.025
            if y < 0.05:
                break
        doc.savefig(cover)
        for spec in specs:
            doc.savefig(charts.figure(spec))
        for table in tables:
            for page in _table_pages(table, family):
                doc.savefig(page)
    return out.getvalue()


def _table_pages(table: Table, family: list[str]) -> Iterator[Any]:
    rows = [[display(v, c.kind) for v, c in zip(r, table.columns, strict=True)] for r in table.rows]
    chunks = [rows[i : i + TABLE_ROWS_PER_PAGE] for i in range(0, len(rows), TABLE_ROWS_PER_PAGE)]
    for number, chunk in enumerate(chunks or [[]], start=1):
        fig = charts.new_figure(11.69, 8.27)
        ax = fig.add_subplot()
        ax.set_axis_off()
        heading = table.title if number == 1 else f"{table.title} ({number})"
        ax.set_title(heading, loc="left", fontsize=12, fontweight="bold", family=family)
        if chunk:
            shown = ax.table(
                cellText=[[_clip(c) for c in r] for r in chunk],
                colLabels=[_clip(str(c.label)) for c in table.columns],
                loc="upper left",
                cellLoc="left",
            )
            shown.auto_set_font_size(False)
            shown.set_fontsize(7 if len(table.columns) > 8 else 8)
            shown.scale(1, 1.25)
            for cell in shown.get_celld().values():
                cell.get_text().set_fontfamily(family)
                cell.set_edgecolor("#d9dee5")
        else:
            ax.text(0.0, 0.9, "—", fontsize=14, family=family)
        if table.note:
            fig.text(0.02, 0.01, table.note, fontsize=7, color="#5b6573", family=family)
        yield fig


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
