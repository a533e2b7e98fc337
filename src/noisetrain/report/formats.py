"""Tables as text: cells formatted once, written as Markdown (GitHub pipes), LaTeX (booktabs) and CSV.

LaTeX is built here rather than with ``DataFrame.to_latex``, which needs jinja2, not a dependency.

Example:
    >>> text_table("headline", "Accuracy", frame, {"configuration": "label", "p": lambda row: p_value(row["p"])})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import write_atomic

Cell = Callable[[pd.Series], str]
"""A column of a shown table: the text of its cell in a row."""
SUFFIX = {"md": ".md", "latex": ".tex", "csv": ".csv"}
"""File suffix of each table format."""
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\n": " ", "→": r"$\rightarrow$", "Δ": r"$\Delta$",
    "×": r"$\times$",
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


def shown(frame: pd.DataFrame, columns: Mapping[str, Cell | str]) -> pd.DataFrame:
    """The text cells of ``frame``: each header's cell from a function of the row, or a raw column by name
    (``cell``)."""
    rows = [
        [column(row) if callable(column) else cell(row[column]) for column in columns.values()]
        for _, row in frame.iterrows()
    ]
    return pd.DataFrame(rows, columns=list(columns), index=range(len(frame)))


def text_table(
    name: str, title: str, frame: pd.DataFrame, columns: Mapping[str, Cell | str], note: str = "", *, left: int = 1
) -> Table:
    """A ``Table`` of ``frame`` shown as ``columns``: the first ``left`` columns left-aligned, the others right."""
    return Table(name, title, frame, shown(frame, columns), "l" * left + "r" * (len(columns) - left), note)


def cell(value: Any) -> str:
    """One value as text: ``""`` for None/NaN, ``yes``/``no`` for booleans, 4 significant digits for reals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def p_value(p: float) -> str:
    """A p-value to 2 significant digits, ``< 0.001`` below that, empty when there is none."""
    if p is None or math.isnan(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown pipe table of ``table.shown``, then its note as a paragraph."""
    assert table.shown is not None
    rule = {"l": ":--", "r": "--:"}

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|").replace("\n", "<br>") for c in cells) + " |"

    lines = [row(list(table.shown.columns)), "|" + "|".join(rule[a] for a in table.align) + "|"]
    lines += [row(list(values)) for values in table.shown.itertuples(index=False)]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines) + "\n"


def latex(table: Table) -> str:
    """A LaTeX ``table`` with a booktabs ``tabular`` of ``table.shown`` (needs ``\\usepackage{booktabs}``), captioned
    with its title and note."""
    assert table.shown is not None

    def row(cells: list[str]) -> str:
        return " & ".join(_latex_escape(c) for c in cells) + r" \\"

    body = [row(list(values)) for values in table.shown.itertuples(index=False)]
    caption = f"{table.title}. {table.note}" if table.note else table.title
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex_escape(caption)}}}",
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
            write_atomic(path, table.data.to_csv(index=False))
        else:
            write_atomic(path, markdown(table) if fmt == "md" else latex(table))
        paths.append(path)
    return paths


def _latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)
