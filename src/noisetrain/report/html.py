"""The report as one self-contained HTML page: inline CSS, tables as HTML, figures as base64 PNG data URIs.

The page loads nothing (no scripts, fonts, style sheets or images from elsewhere), so it opens from disk in
any browser and can be mailed as one file. Each figure's ``<img>`` names its PNG file (``data-file``),
written next to the page.
"""

from __future__ import annotations

import base64
from collections import Counter
from html import escape

import yaml

from .data import StudyData
from .figures import Plot
from .formats import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2 { font-weight: 600; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: .5em 0; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e4e4e4; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
td { white-space: pre-wrap; } .note { color: #555; font-size: 0.85em; max-width: 60em; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption { color: #444; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
nav a { margin-right: 1em; }
"""


def page(data: StudyData, tables: list[Table], plots: list[Plot]) -> str:
    """The HTML page of a study's report: overview, the shown tables, the figures and the study config."""
    study, report = data.config, data.config.report
    counts = Counter(data.runs["status"])
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    shown = [table for table in tables if table.shown is not None]
    links = [(t.name, t.title) for t in shown] + [("figures", "Figures"), ("config", "Study config")]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>noisetrain report: {escape(study.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Study {escape(study.name)}</h1>",
        f"<p>{len(data.runs)} runs ({escape(statuses)}); headline: {escape(report.measure)} "
        f"{escape(report.metric)} ({'higher' if report.higher_is_better else 'lower'} is better), "
        f"{report.confidence:.0%} confidence. CSV, Markdown and LaTeX tables and the PNG figures lie next to "
        "this page.</p>",
        "<nav>" + "".join(f'<a href="#{escape(name)}">{escape(title)}</a>' for name, title in links) + "</nav>",
    ]
    for table in shown:
        assert table.shown is not None
        parts += [
            f'<section id="{escape(table.name)}"><h2>{escape(table.title)}</h2>',
            table.shown.to_html(index=False, border=0, escape=True, na_rep=""),
            f'<p class="note">{escape(table.note)}</p></section>' if table.note else "</section>",
        ]
    parts.append('<section id="figures"><h2>Figures</h2>')
    parts += [_figure(plot) for plot in plots] or ["<p>No figures: the study has no records to draw.</p>"]
    config = yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)
    parts += ["</section>", f'<section id="config"><h2>Study config</h2><pre>{escape(config)}</pre></section>']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _figure(plot: Plot) -> str:
    source = "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="{escape(plot.name)}"><img src="{source}" alt="{escape(plot.title)}" '
        f'data-file="{escape(plot.name)}.png"><figcaption>{escape(plot.title)}</figcaption></figure>'
    )
