"""Studies: expand a grid into runs, execute them locally or on Ray, store every result in SQLite.

A study file lists what differs from the defaults; every list in it is a grid axis (see
:func:`~noisetrain.study.expand.expand`). ``run_study`` executes the runs not yet finished and
writes each outcome to the study's store; ``noisetrain report`` reads the store.

Example:
    >>> study = load_study("study.yaml")
    >>> run_study(study, "studies/digits", workers=2)
    >>> Store("studies/digits/study.db").records()
"""

from .config import StudyConfig, load_study
from .expand import RunSpec, expand
from .runner import StudyResult, plan, run_study
from .store import Store

__all__ = ["RunSpec", "Store", "StudyConfig", "StudyResult", "expand", "load_study", "plan", "run_study"]
