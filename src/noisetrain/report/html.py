"""The report as one self-contained HTML page: inline CSS, tables as HTML, figures as base64 PNG data URIs.

The page loads nothing (no scripts, fonts, style sheets or images from elsewhere), so it opens from disk in
any browser and can be mailed as one file. It reads from 900 px to wide screens: text and figures fit the
column; a table too wide for it first breaks its headers between words and its cells between a value and its
interval (``97.05%`` over ``[95.40, 98.44]``), and scrolls inside its own box only if it is still too wide. Each
figure's ``<img>`` names its PNG file (``data-file``), written next to the page.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from html import escape

import yaml

from ..text import counted
from .data import StudyData
from .figures import Plot
from .formats import Table
from .summary import BOLD, Finding

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
       max-width: 1100px; padding: 1.2em 1.5em 3em; }
h1 { font-weight: 650; margin-bottom: .2em; } h2 { font-weight: 600; border-bottom: 1px solid #ddd;
     padding-bottom: .2em; margin-top: 2.2em; } h3 { font-weight: 600; margin: 1.4em 0 .4em; }
.meta { color: #555; margin-top: 0; } nav { margin: 1em 0; line-height: 1.9; }
nav a { margin-right: .9em; white-space: nowrap; color: #0b57d0; text-decoration: none; }
.findings { padding-left: 1.2em; } .findings li { margin: .35em 0; }
.findings li.warning { color: #8a4b00; } .findings li.intervals { color: #555; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .65em; border-bottom: 1px solid #e6e6e6; white-space: nowrap; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; white-space: normal; } .l { text-align: left; } .r { text-align: right; }
td.pair { white-space: normal; } td.pair span { white-space: nowrap; } table.stacked td.pair span { display: block; }
td.wrap { white-space: normal; min-width: 18em; max-width: 40em; }
.note { color: #555; font-size: .85em; max-width: 60em; }
figure { margin: 1.2em 0; } img { max-width: 100%; height: auto; } figcaption { color: #444; font-size: .9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .85em; }
"""
WRAPPED = ("note", "message")
"""Columns whose long text wraps instead of widening the table."""
COLUMN_WIDTH, EM, CHARACTER = 1050, 12.75, 7.0
"""The page's text column, a table's em (.85 of 15px) and its characters' mean width, in CSS pixels: a table wider on
one line stacks each interval under its value in every cell, not only in the cells the browser would break."""
WITH_INTERVAL = re.compile(r"(\S.*?) (\[[^\[\]]*\])")
"""A cell that shows a value and its interval: ``97.05% [95.40, 98.44]``, ``+0.33 pt [-0.14, 0.89]``."""


def page(data: StudyData, findings: list[Finding], tables: list[Table], plots: list[Plot]) -> str:
    """The HTML page of a study's report: summary, headline, each measure, training, statistics, runs, config."""
    study, report = data.config, data.config.report
    counts = Counter(data.runs["status"])
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    by_name = {table.name: table for table in tables if table.shown is not None}
    measures = [m for m in dict.fromkeys(data.records["measure"]) if m in by_name or _plots(plots, m)]
    sections = [
        ("summary", "Summary", _findings(findings)),
        ("headline", by_name["headline"].title, _table(by_name["headline"]) + _figures(plots, ["headline_vs_strength",
                                                                                                "cost_vs_benefit"])),
        *((m, f"Measure: {m}", _table(by_name.get(m)) + "".join(_figure(p) for p in _plots(plots, m)))
          for m in measures),
        ("training", "Training", _figures(plots, ["training_curves"])),
        ("statistics", "Statistics of the comparisons", _table(by_name.get("statistics"))),
        ("runs", "Runs", "".join(_table(by_name.get(n), heading=True)
                                 for n in ("selection", "search", "status", "problems"))),
        ("config", "Study config", f"<pre>{escape(yaml.safe_dump(study.model_dump(mode='json'), sort_keys=False))}"
                                   "</pre>"),
    ]  # fmt: skip
    sections = [(anchor, title, body) for anchor, title, body in sections if body]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>noisetrain report: {escape(study.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Study {escape(study.name)}</h1>",
        f'<p class="meta">{counted(len(data.runs), "run")} ({escape(statuses)}); headline: {escape(report.measure)} '
        f"{escape(report.metric)} ({'higher' if report.higher else 'lower'} is better), {report.confidence:.0%} "
        "intervals. CSV, Markdown and LaTeX tables and the PNG figures lie next to this page.</p>",
        "<nav>" + "\n".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t, _ in sections) + "</nav>",
    ]
    parts += [f'<section id="{escape(a)}"><h2>{escape(t)}</h2>{body}</section>' for a, t, body in sections]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def emphasis(text: str) -> str:
    """Escaped ``text`` with ``**bold**`` as ``<strong>``."""
    return BOLD.sub(r"<strong>\1</strong>", escape(text))


def _findings(findings: list[Finding]) -> str:
    items = "".join(f'<li class="{escape(f.kind)}">{emphasis(f.text)}</li>' for f in findings)
    return f'<ul class="findings">{items}</ul>'


def _cell(classes: str, value: object) -> str:
    """A table cell; a value with its interval (``97.05% [95.40, 98.44]``) may break between the two."""
    text = str(value)
    paired = WITH_INTERVAL.fullmatch(text)
    if paired is None:
        return f'<td class="{classes}">{escape(text)}</td>'
    shown, interval = (escape(part) for part in paired.groups())
    return f'<td class="{classes} pair"><span>{shown}</span> <span>{interval}</span></td>'


def _table(table: Table | None, *, heading: bool = False) -> str:
    """A table with its alignment (long notes wrap), its note, and with ``heading`` its title as a heading."""
    if table is None or table.shown is None:
        return ""
    columns = list(table.shown.columns)
    classes = [f"{a}{' wrap' if c in WRAPPED else ''}" for a, c in zip(table.align, columns, strict=True)]
    head = "".join(f'<th class="{a}">{escape(str(c))}</th>' for a, c in zip(table.align, columns, strict=True))
    rows = "".join(
        "<tr>" + "".join(_cell(k, v) for k, v in zip(classes, row, strict=True)) + "</tr>"
        for row in table.shown.itertuples(index=False)
    )
    title = f"<h3>{escape(table.title)}</h3>" if heading else ""
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    stacked = ' class="stacked"' if _one_line_width(table) > COLUMN_WIDTH else ""
    return (f'{title}<div class="scroll"><table{stacked}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f"</div>{note}")  # fmt: skip


def _one_line_width(table: Table) -> float:
    """About how many pixels ``table`` needs with every cell on one line (headers broken between words, notes and
    messages at their column's least width, 18em)."""
    assert table.shown is not None
    cells = [
        18 * EM if column in WRAPPED else
        CHARACTER * max([*(len(word) for word in str(column).split()), *(len(str(v)) for v in table.shown[column])])
        for column in table.shown.columns
    ]  # fmt: skip
    return sum(cell + 1.3 * EM for cell in cells)  # with each cell's padding


def _plots(plots: list[Plot], measure: str) -> list[Plot]:
    return [plot for plot in plots if plot.measure == measure]


def _figures(plots: list[Plot], names: list[str]) -> str:
    return "".join(_figure(plot) for name in names for plot in plots if plot.name == name)


def _figure(plot: Plot) -> str:
    source = "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="{escape(plot.name)}"><img src="{source}" alt="{escape(plot.title)}" '
        f'data-file="{escape(plot.name)}.png"><figcaption>{escape(plot.title)}</figcaption></figure>'
    )
