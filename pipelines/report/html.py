"""The ``audioprep stats --html`` page: one self-contained file that opens offline.

Draws the charts of ``sections.sections`` with matplotlib's Agg canvas (no display, no pyplot
state), embeds them as base64 PNG, and writes the tables as plain HTML with inline CSS: no script,
no font, no link to anything outside the file.
"""
from __future__ import annotations

import base64
import io
import math
from html import escape

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipelines.core.atomic import write_bytes
from pipelines.report.tables import Chart, Section, Table

COLORS = {"train": "#3b6ea5", "eval": "#e39b3a", "before": "#9aa5b1", "after": "#3b6ea5"}
PALETTE = ("#3b6ea5", "#e39b3a", "#5a9e6f", "#b5525c", "#8064a2", "#6b8e9f", "#c28e2b", "#4d4d4d")
INTEGER_UNITS = ("records", "examples", "samples", "views")
WIDTH = 9.0  # inches at 100 dpi: 900 px, the width of the page's text column


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bars(chart: Chart) -> Figure:
    n = len(chart.categories)
    figure = Figure(figsize=(WIDTH, 1.1 + 0.32 * max(n, 2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = list(chart.series)
    positions = list(range(n))
    left = [0.0] * n
    height = 0.7 if chart.stacked else 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = chart.series[name]
        color = COLORS.get(name, PALETTE[i % len(PALETTE)])
        if chart.stacked:
            axes.barh(positions, values, height=height, left=left, label=name, color=color)
            left = [a + b for a, b in zip(left, values)]
        else:
            offset = (i - (len(names) - 1) / 2) * height
            axes.barh([p + offset for p in positions], values, height=height, label=name, color=color)
    totals = left if chart.stacked else [max(chart.series[s][i] for s in names) for i in range(n)]
    top = max(totals, default=0) or 1
    for position, total in zip(positions, totals):
        axes.text(total + top * 0.01, position, _value(total), va="center", fontsize=8, color="#333")
    axes.set_xlim(0, top * 1.15)
    axes.set_yticks(positions, [_short(c) for c in chart.categories], fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel(chart.unit)
    axes.set_title(chart.title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="x", color="#ddd", linewidth=0.6)
    axes.set_axisbelow(True)
    if chart.unit in INTEGER_UNITS:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(names) > 1:
        axes.legend(frameon=False, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(names))
    figure.tight_layout()
    return figure


def _value(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}" if value < 100 else f"{value:,.1f}"


def _histograms(chart: Chart) -> Figure:
    names = list(chart.series)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(WIDTH, 0.4 + 2.6 * rows), dpi=100)
    FigureCanvasAgg(figure)
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, i + 1)
        values = chart.series[name]
        axes.bar(range(len(values)), values, color=PALETTE[i % len(PALETTE)], width=0.8)
        axes.set_xticks(range(len(values)), chart.categories, rotation=45, ha="right", fontsize=7)
        axes.set_title(_short(name, 30), fontsize=10)
        axes.set_ylabel(chart.unit, fontsize=8)
        axes.tick_params(axis="y", labelsize=7)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
    figure.suptitle(chart.title, x=0.01, ha="left", fontsize=11)
    figure.tight_layout()
    return figure


def chart_png(chart: Chart) -> bytes:
    figure = _bars(chart) if chart.kind == "bars" else _histograms(chart)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# A backslash at the end of a line below joins it to the next: one line of CSS, kept short in the source.
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d232a;
       margin: 0; background: #f6f7f9; }
main { max-width: 960px; margin: 0 auto; padding: 24px 30px 60px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } \
h2 { font-size: 20px; margin: 34px 0 6px; border-bottom: 2px solid #e4e7eb; padding-bottom: 4px; }
.sub { color: #5b6671; margin: 0 0 12px; } .note { color: #5b6671; margin: 4px 0 10px; font-size: 14px; }
nav { font-size: 13px; margin: 10px 0 0; line-height: 1.9; } \
nav a { margin-right: 10px; color: #2e5a8a; text-decoration: none; white-space: nowrap; }
figure { margin: 12px 0; } figure img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13.5px; width: auto; max-width: 100%; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: #333; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #f0f2f5; text-align: left; font-weight: 600; white-space: nowrap; } \
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l { overflow-wrap: break-word; } td.last { overflow-wrap: anywhere; } td code { font-size: 12px; }
#warnings td:first-child { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
#warnings table { border-left: 4px solid #e39b3a; } #warnings td { background: #fff8ec; }
"""


def _cell(text: str, align: str, last: bool) -> str:
    if text.startswith("<|"):  # a tag sequence: may break between tokens, never inside one
        body = "<code>" + "<wbr>".join(escape(t + "|>") for t in text.split("|>") if t) + "</code>"
    else:
        body = escape(text)
    return f'<td class="{align}{" last" if last else ""}">{body}</td>'


def _table(table: Table) -> str:
    align = table.alignment()
    head = "".join(f'<th class="{a}" scope="col">{escape(c)}</th>' for c, a in zip(table.columns, align))
    last = len(table.columns) - 1
    body = "".join(
        "<tr>" + "".join(_cell(str(v), a, i == last and i > 0) for i, (v, a) in enumerate(zip(row, align))) + "</tr>\n"
        for row in table.rows
    )
    caption = f"<caption>{escape(table.title)}</caption>"
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def _figure(chart: Chart) -> str:
    data = base64.b64encode(chart_png(chart)).decode("ascii")
    title = escape(chart.title)
    return f'<figure><img alt="{title}" title="{title}" src="data:image/png;base64,{data}"></figure>\n'


def render(sections: list[Section], title: str, subtitle: str = "") -> str:
    nav = "\n".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in sections)
    parts = [
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head>\n<body><main>\n<h1>{escape(title)}</h1>"
        f'<p class="sub">{escape(subtitle)}</p><nav>{nav}</nav>\n'
    ]
    for section in sections:
        parts.append(f'<section id="{escape(section.id)}"><h2>{escape(section.title)}</h2>\n')
        if section.note:
            parts.append(f'<p class="note">{escape(section.note)}</p>\n')
        parts.extend(_figure(chart) for chart in section.charts)
        parts.extend(_table(table) for table in section.tables)
        parts.append("</section>\n")
    parts.append("</main></body></html>\n")
    return "".join(parts)


def write_html(path: str, sections: list[Section], title: str, subtitle: str = "") -> None:
    write_bytes(path, render(sections, title, subtitle).encode("utf-8"))
