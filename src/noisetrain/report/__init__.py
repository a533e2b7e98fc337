"""Reports of a study: a summary in words, tables (Markdown, LaTeX, CSV), matplotlib figures and a
self-contained HTML page.

``build_report(folder)`` reads ``<folder>/study.db`` and writes ``<folder>/report/``. Statistics over
seeds and the paired comparisons with the baseline come from ``noisetrain.study.stats`` and
``noisetrain.study.bootstrap``.

Example:
    >>> from noisetrain.report import build_report
    >>> build_report("studies/digits").page
"""

from .build import FORMATS, Report, build_report
from .comparisons import headline, key_comparisons
from .data import StudyData, load
from .figures import FIGURES, MEASURE_FIGURES, Plot, render
from .formats import Table
from .summary import Finding, findings
from .tables import corruption_errors, problems, record_summary, status_counts, tables

__all__ = [
    "FIGURES",
    "FORMATS",
    "MEASURE_FIGURES",
    "Finding",
    "Plot",
    "Report",
    "StudyData",
    "Table",
    "build_report",
    "corruption_errors",
    "findings",
    "headline",
    "key_comparisons",
    "load",
    "problems",
    "record_summary",
    "render",
    "status_counts",
    "tables",
]
