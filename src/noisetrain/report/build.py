"""Build a study's report: the summary, tables (Markdown, LaTeX, CSV), PNG figures and one self-contained HTML page.

Example:
    >>> report = build_report("studies/digits")
    >>> report.page, [finding.text for finding in report.findings]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import folder_for, write_atomic
from ..registry import ConfigError
from ..study.tracking import track_report
from .comparisons import headline
from .data import load
from .figures import FIGURES, MEASURE_FIGURES, render
from .formats import SUFFIX, Table, write_table
from .html import page
from .summary import Finding, findings
from .tables import brief, tables

log = logging.getLogger(__name__)
FORMATS = ("md", "latex", "csv", "html")
"""Output formats: the summary and tables as Markdown, the tables as LaTeX and CSV, and the HTML page."""
TABLES = ("headline", "statistics", "selection", "status", "search", "problems", "records", "mce", *MEASURE_FIGURES)
"""File stems of every table the report can write (and ``mce``, which earlier versions wrote)."""
OLD_FIGURES = ("accuracy_vs_strength", "robustness_curves")
"""Figures of earlier versions, removed from a report folder written again."""
PAGE = "report.html"
SUMMARY = "summary.md"


@dataclass(frozen=True)
class Report:
    """A written report: its ``folder``, the ``files`` written (tables, figures, summary, page), the summary's
    ``findings``, the ``headline`` table and its ``brief`` form, what the command line prints."""

    folder: Path
    files: list[Path]
    findings: list[Finding]
    headline: Table
    brief: Table

    @property
    def page(self) -> Path | None:
        """The HTML page, when written."""
        return next((path for path in self.files if path.name == PAGE), None)


def build_report(folder: str | Path, output: str | Path | None = None, formats: Sequence[str] = FORMATS) -> Report:
    """Write the report of the study in ``folder`` (its ``study.db``) into ``output`` (default ``<folder>/report``).

    The figures are always written as PNG; tables in the chosen ``formats`` (the per-record summary only as
    CSV), the summary as ``summary.md`` with ``md``; ``html`` writes ``report.html``, which embeds the summary,
    every table and figure. Files of an earlier report that this one does not write again (a figure whose
    records are gone) are removed. Deterministic: the same store gives the same files. A study that tracks
    (``execution.tracking``) gets the files logged too, in place of its earlier report (``track_report``).

    Args:
        folder: the study folder (``studies/<name>``).
        output: the report folder, created if needed.
        formats: any of ``md``, ``latex``, ``csv``, ``html``.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        got = ", ".join(map(repr, unknown)) or "none"
        raise ConfigError(f"report formats must be one or more of {', '.join(FORMATS)}; got {got}")
    data = load(folder)
    output = Path(output) if output is not None else Path(folder) / "report"
    with folder_for(output, "report output"):  # made, and checked writable, before the work
        summary = headline(data)
        found = tables(data, summary)
        said = findings(data, summary)
        plots = render(data, summary)
        written = [path for table in found for path in write_table(table, output, formats)]
        for plot in plots:
            path = output / f"{plot.name}.png"
            write_atomic(path, plot.png)
            written.append(path)
        if "md" in formats:
            path = output / SUMMARY
            write_atomic(path, f"# Study {data.config.name}: summary\n\n" + "".join(f"- {f.text}\n" for f in said))
            written.append(path)
        if "html" in formats:
            path = output / PAGE
            write_atomic(path, page(data, said, found, plots))
            written.append(path)
        figures = {*FIGURES, *OLD_FIGURES, *(name for entries in MEASURE_FIGURES.values() for name, _, _ in entries)}
        ours = {output / f"{name}{suffix}" for name in TABLES for suffix in SUFFIX.values()}
        ours |= {output / f"{name}.png" for name in figures} | {output / PAGE, output / SUMMARY}
        for stale in sorted(ours - set(written)):
            stale.unlink(missing_ok=True)
        log.info("report of %s written to %s: %d files", folder, output, len(written))
        track_report(data.config, folder, written)
    return Report(output, written, said, found[0], brief(data, summary))
