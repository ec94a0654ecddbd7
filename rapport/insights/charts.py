"""The dashboards' charts, described once and drawn twice: by Chart.js in the browser (from
`to_chartjs`) and by matplotlib on the server for PNG and PDF export (`figure`, `png`).

A `ChartSpec` is plain data — labels, series with optional 95% intervals, the link behind each
bar or point — so the exported picture shows the same figures as the page. matplotlib is used
through its object API (no pyplot state), which is safe in a threaded server.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PALETTE = ("#1f5fbf", "#8a5a00", "#1b7a3d", "#b3261e", "#6b4fbb", "#5b6573")
CJK_FONTS = (
    "Noto Sans CJK TC",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans TC",
    "Noto Sans SC",
    "Source Han Sans TW",
    "WenQuanYi Zen Hei",
    "Microsoft JhengHei",
    "PingFang TC",
)


@dataclass
class Series:
    label: str
    values: list[float | None]
    low: list[float | None] | None = None  # 95% interval, same length as values
    high: list[float | None] | None = None
    kind: str = ""  # "" = the chart's kind; "line" on a bar chart draws a line over it


@dataclass
class ChartSpec:
    key: str
    title: str
    kind: str  # bar (vertical), hbar (horizontal), line
    labels: list[str]
    series: list[Series]
    links: list[str | None] = field(default_factory=list)  # per label: the customers behind it
    y_label: str = ""
    percent: bool = False  # values are shares 0–1, shown as %
    flagged: list[bool] = field(default_factory=list)  # per label: small sample
    note: str = ""
    stacked: bool = False

    @property
    def empty(self) -> bool:
        return not self.labels or all(v is None for s in self.series for v in s.values)


def to_chartjs(spec: ChartSpec) -> dict:
    """What the page's script needs to draw the chart (see insights/_charts_script.html)."""
    return {
        "kind": spec.kind,
        "title": spec.title,
        "labels": spec.labels,
        "percent": spec.percent,
        "stacked": spec.stacked,
        "yLabel": spec.y_label,
        "links": spec.links,
        "flagged": spec.flagged,
        "series": [
            {
                "label": s.label,
                "values": s.values,
                "low": s.low,
                "high": s.high,
                "kind": s.kind,
                "color": PALETTE[i % len(PALETTE)],
            }
            for i, s in enumerate(spec.series)
        ],
    }


@lru_cache(maxsize=1)
def font_family() -> tuple[str, ...]:
    """A CJK-capable font first when one is installed (fonts-noto-cjk), so Chinese labels are
    not boxes; DejaVu Sans (matplotlib's own) otherwise."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    chosen = [name for name in CJK_FONTS if name in installed]
    return (*chosen[:1], "DejaVu Sans")


def has_cjk_font() -> bool:
    return len(font_family()) > 1


def new_figure(width: float = 8.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _style(fig: Figure) -> None:
    for text in fig.findobj(match=lambda o: hasattr(o, "set_fontfamily")):
        text.set_fontfamily(list(font_family()))


def draw(spec: ChartSpec, ax) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Draw the chart on a matplotlib Axes."""
    scale = 100.0 if spec.percent else 1.0
    n = len(spec.labels)
    positions = list(range(n))
    bars = [s for s in spec.series if (s.kind or spec.kind) in {"bar", "hbar"}]
    width = 0.8 / max(len(bars), 1) if not spec.stacked else 0.7
    offset_index = 0
    bottoms = [0.0] * n
    for i, s in enumerate(spec.series):
        color = PALETTE[i % len(PALETTE)]
        values = [None if v is None else v * scale for v in s.values]
        lows = [None if v is None else v * scale for v in (s.low or [None] * n)]
        highs = [None if v is None else v * scale for v in (s.high or [None] * n)]
        kind = s.kind or spec.kind
        if kind == "line":
            xs = [p for p, v in zip(positions, values, strict=True) if v is not None]
            ys = [v for v in values if v is not None]
            ax.plot(xs, ys, marker="o", color=color, label=s.label)
            _error_bars(ax, positions, values, lows, highs, color, horizontal=False)
            continue
        if spec.stacked:
            shift = [p for p in positions]
        else:
            shift = [p - 0.4 + width * (offset_index + 0.5) for p in positions]
            offset_index += 1
        heights = [v or 0.0 for v in values]
        if kind == "hbar":
            ax.barh(shift, heights, height=width, left=bottoms, color=color, label=s.label)
            _error_bars(ax, shift, values, lows, highs, "#1d2430", horizontal=True)
        else:
            ax.bar(shift, heights, width=width, bottom=bottoms, color=color, label=s.label)
            _error_bars(ax, shift, values, lows, highs, "#1d2430", horizontal=False)
        if spec.stacked:
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    labels = [
        f"{label} *" if spec.flagged and i < len(spec.flagged) and spec.flagged[i] else label
        for i, label in enumerate(spec.labels)
    ]
    if spec.kind == "hbar":
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        if spec.y_label:
            ax.set_xlabel(spec.y_label)
    else:
        ax.set_xticks(
            positions, labels, rotation=30 if n > 6 else 0, ha="right" if n > 6 else "center"
        )
        if spec.y_label:
            ax.set_ylabel(spec.y_label)
    ax.set_title(spec.title, loc="left", fontsize=11, fontweight="bold")
    ax.grid(axis="x" if spec.kind == "hbar" else "y", color="#d9dee5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(spec.series) > 1:
        ax.legend(fontsize=8, frameon=False)
    if spec.note or any(spec.flagged):
        ax.annotate(
            spec.note or "* small sample (n < 30)",
            xy=(0, -0.02),
            xycoords="figure fraction",
            fontsize=7,
            color="#5b6573",
            va="bottom",
        )


def _error_bars(ax, xs, values, lows, highs, color, horizontal: bool) -> None:  # noqa: ANN001
    pts = [
        (x, v, lo, hi)
        for x, v, lo, hi in zip(xs, values, lows, highs, strict=True)
        if v is not None and lo is not None and hi is not None
    ]
    if not pts:
        return
    # The whole interval, low to high: an adjusted-Wald NPS interval need not be centred on
    # (or even contain) the raw estimate, so it is not drawn as ± errors.
    for x, _v, lo, hi in pts:
        if horizontal:
            ax.hlines(x, lo, hi, colors=color, linewidth=1)
            ax.vlines([lo, hi], x - 0.12, x + 0.12, colors=color, linewidth=1)
        else:
            ax.vlines(x, lo, hi, colors=color, linewidth=1)
            ax.hlines([lo, hi], x - 0.12, x + 0.12, colors=color, linewidth=1)


def figure(spec: ChartSpec) -> Figure:
    height = max(3.5, 0.35 * len(spec.labels) + 1.5) if spec.kind == "hbar" else 4.5
    fig = new_figure(8.0, min(height, 10.0))
    # Fixed margins (a constrained layout doubles the drawing time): room for long unit or
    # driver names on the left of horizontal bars, for slanted month labels below.
    longest = max((len(label) for label in spec.labels), default=0)
    fig.subplots_adjust(
        left=min(0.45, 0.08 + 0.011 * longest) if spec.kind == "hbar" else 0.1,
        right=0.97,
        top=0.9,
        bottom=0.2 if spec.kind != "hbar" and len(spec.labels) > 6 else 0.14,
    )
    ax = fig.add_subplot()
    if spec.empty:
        ax.set_axis_off()
        ax.set_title(spec.title, loc="left", fontsize=11, fontweight="bold")
        ax.text(0.5, 0.5, "—", ha="center", va="center", fontsize=20, color="#5b6573")
    else:
        draw(spec, ax)
    _style(fig)
    return fig


def png(spec: ChartSpec) -> bytes:
    out = io.BytesIO()
    figure(spec).savefig(out, format="png")
    return out.getvalue()
