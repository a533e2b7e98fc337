"""Build a study's report: tables (Markdown, LaTeX, CSV), PNG figures and one self-contained HTML page.

Example:
    >>> build_report("studies/digits")          # -> [.../report/headline.md, ..., .../report/report.html]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..registry import ConfigError
from .data import load
from .figures import FIGURES, render
from .formats import SUFFIX, write_table
from .html import page
from .tables import headline, tables

log = logging.getLogger(__name__)
FORMATS = ("md", "latex", "csv", "html")
"""Output formats: the tables as Markdown, LaTeX and CSV, and the HTML page."""
TABLES = ("headline", "status", "search", "problems", "mce", "records")
"""File stems of every table the report can write."""
PAGE = "report.html"


def build_report(folder: str | Path, output: str | Path | None = None, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the report of the study in ``folder`` (its ``study.db``) into ``output`` (default ``<folder>/report``).

    The figures are always written as PNG; tables in the chosen ``formats`` (the per-record summary only as
    CSV); ``html`` writes ``report.html``, which embeds every table and figure. Files of an earlier report
    that this one does not write again (a figure whose records are gone) are removed. Deterministic: the same
    store gives the same files.

    Args:
        folder: the study folder (``studies/<name>``).
        output: the report folder, created if needed.
        formats: any of ``md``, ``latex``, ``csv``, ``html``.

    Returns:
        The paths written, tables first, then figures, then the page.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"report formats must be among {', '.join(FORMATS)}; got {', '.join(map(repr, unknown))}")
    data = load(folder)
    output = Path(output) if output is not None else Path(folder) / "report"
    output.mkdir(parents=True, exist_ok=True)
    summary = headline(data)
    found = tables(data, summary)
    plots = render(data, summary)
    written = [path for table in found for path in write_table(table, output, formats)]
    for plot in plots:
        path = output / f"{plot.name}.png"
        path.write_bytes(plot.png)
        written.append(path)
    if "html" in formats:
        path = output / PAGE
        path.write_text(page(data, found, plots), encoding="utf-8")
        written.append(path)
    ours = {output / f"{name}{suffix}" for name in TABLES for suffix in SUFFIX.values()}
    ours |= {output / f"{name}.png" for name in FIGURES} | {output / PAGE}
    for stale in sorted(ours - set(written)):
        stale.unlink(missing_ok=True)
    log.info("report of %s written to %s: %d files", folder, output, len(written))
    return written
