"""Reports of a study: tables (Markdown, LaTeX, CSV), matplotlib figures and a self-contained HTML page.

``build_report(folder)`` reads ``<folder>/study.db`` and writes ``<folder>/report/``. Statistics over
seeds and the paired comparisons with the baseline come from ``noisetrain.study.stats``.

Example:
    >>> from noisetrain.report import build_report
    >>> build_report("studies/digits")
"""

from .build import FORMATS, build_report
from .data import StudyData, load
from .figures import FIGURES, Plot, render
from .formats import Table
from .tables import corruption_errors, headline, problems, record_summary, status_counts, tables

__all__ = [
    "FIGURES",
    "FORMATS",
    "Plot",
    "StudyData",
    "Table",
    "build_report",
    "corruption_errors",
    "headline",
    "load",
    "problems",
    "record_summary",
    "render",
    "status_counts",
    "tables",
]
