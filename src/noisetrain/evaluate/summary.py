"""Records as a person reads them: each measure's key numbers, the failed checks, and a DataFrame.

Example:
    >>> for measure, name, value, interval in key_numbers(records): print(measure, name, value, interval)
    clean accuracy 97.86% [96.10, 98.90]
    adversarial pgd eps=0.0314 78.27% [73.64, 82.43]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .keys import key_records, show, show_interval
from .records import MEASURES, Record

if TYPE_CHECKING:
    import pandas as pd


def key_numbers(records: Iterable[Record]) -> list[tuple[str, str, str, str]]:
    """``(measure, name, value, 95% interval)`` as text for each key number of ``records`` (``Measure.keys``),
    measures in the order measured; a measure without key numbers gets one row saying so."""
    records = list(records)
    rows = []
    for name in dict.fromkeys(r.measure for r in records):
        measure = MEASURES.get(name)
        found = key_records(measure.keys if measure else (), (r for r in records if r.measure == name))
        rows += [(name, label, show(r.metric, r.value), show_interval(r.metric, *r.ci) if r.ci else "")
                 for label, r in found]  # fmt: skip
        if not found:
            rows.append((name, "(no key numbers: see the records)", "", ""))
    return rows


def failed_checks(records: Iterable[Record]) -> list[str]:
    """The sanity checks that failed (``check`` records of value 0), e.g. ``adversarial: monotone_in_eps failed
    (rises: [0.03])``."""
    failed = []
    for r in records:
        if r.metric == "check" and r.value == 0:
            detail = ", ".join(f"{k}: {v}" for k, v in r.setting.items() if k != "check")
            failed.append(f"{r.measure}: {r.setting.get('check', 'check')} failed" + (f" ({detail})" if detail else ""))
    return failed


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record: ``measure``, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n``, ``setting`` (JSON)
    and one ``setting.<key>`` column per setting key."""
    rows = [
        {"measure": r.measure, "metric": r.metric, "value": r.value, "ci_low": r.ci[0] if r.ci else None,
         "ci_high": r.ci[1] if r.ci else None, "n": r.n, "setting": json.dumps(r.setting, sort_keys=True),
         **{f"setting.{k}": v for k, v in r.setting.items()}}
        for r in records
    ]  # fmt: skip
    import pandas as pd

    base = ["measure", "metric", "value", "ci_low", "ci_high", "n", "setting"]
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*base, *(k for row in rows for k in row)])))
