"""Tables as text: cells formatted once, written as Markdown (GitHub pipes), LaTeX (booktabs) and CSV.

LaTeX is built here rather than with ``DataFrame.to_latex``, which needs jinja2, not a dependency.

Example:
    >>> shown, align = readable(frame, {"label": "configuration", ("ci_low", "ci_high"): "95% CI"})
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Columns = dict[str | tuple[str, str], str]
"""Shown columns: a raw column, or a ``(low, high)`` pair shown as one interval, -> its header."""
SUFFIX = {"md": ".md", "latex": ".tex", "csv": ".csv"}
"""File suffix of each table format."""
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\n": " ",
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """One table of the report.

    Args:
        name: file stem (``headline`` -> ``headline.md``, ``headline.tex``, ``headline.csv``) and HTML anchor.
        title: caption.
        data: the raw numbers, written as CSV.
        shown: the formatted text cells for Markdown, LaTeX and HTML; None for a CSV-only table.
        align: one alignment letter (``l``/``r``) per column of ``shown``.
        note: how the numbers were computed, shown under the table in HTML.
    """

    name: str
    title: str
    data: pd.DataFrame
    shown: pd.DataFrame | None = None
    align: str = ""
    note: str = ""


def readable(frame: pd.DataFrame, columns: Columns) -> tuple[pd.DataFrame, str]:
    """The ``columns`` of ``frame`` as text cells (numbers to 4 significant digits, missing as empty,
    booleans as yes/no) under their headers, and their alignment (``r`` for numbers and intervals)."""
    shown, align = {}, ""
    for source, header in columns.items():
        if isinstance(source, tuple):
            low, high = source
            shown[header] = [_interval(a, b) for a, b in zip(frame[low], frame[high], strict=True)]
            align += "r"
        else:
            shown[header] = [cell(v) for v in frame[source]]
            numeric = pd.api.types.is_numeric_dtype(frame[source]) and not pd.api.types.is_bool_dtype(frame[source])
            align += "r" if numeric else "l"
    return pd.DataFrame(shown, index=range(len(frame)), columns=list(shown)), align


def cell(value: Any) -> str:
    """One value as text: ``""`` for None/NaN, ``yes``/``no`` for booleans, 4 significant digits for reals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown pipe table of ``table.shown``."""
    assert table.shown is not None
    rule = {"l": ":--", "r": "--:"}

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|").replace("\n", "<br>") for c in cells) + " |"

    lines = [row(list(table.shown.columns)), "|" + "|".join(rule[a] for a in table.align) + "|"]
    lines += [row(list(values)) for values in table.shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def latex(table: Table) -> str:
    """A LaTeX ``table`` with a booktabs ``tabular`` of ``table.shown`` (needs ``\\usepackage{booktabs}``)."""
    assert table.shown is not None

    def row(cells: list[str]) -> str:
        return " & ".join(_latex_escape(c) for c in cells) + r" \\"

    body = [row(list(values)) for values in table.shown.itertuples(index=False)]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex_escape(table.title)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{table.align}}}", r"\toprule", row(list(table.shown.columns)), r"\midrule", *body,
        r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]) + "\n"  # fmt: skip


def write_table(table: Table, folder: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write ``table`` into ``folder`` in each of ``formats`` it has (CSV always; Markdown and LaTeX when shown)."""
    paths = []
    for fmt in (f for f in SUFFIX if f in formats and (f == "csv" or table.shown is not None)):
        path = folder / f"{table.name}{SUFFIX[fmt]}"
        if fmt == "csv":
            table.data.to_csv(path, index=False)
        else:
            path.write_text(markdown(table) if fmt == "md" else latex(table))
        paths.append(path)
    return paths


def _interval(low: Any, high: Any) -> str:
    return "" if cell(low) == cell(high) == "" else f"[{cell(low)}, {cell(high)}]"


def _latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)
