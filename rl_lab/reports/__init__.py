"""Reports over run directories: reading runs, statistics over seeds, tables, plots.

One job per module:

- :mod:`~rl_lab.reports.runs`       finding run directories; the ``results.json`` schema
  (:class:`Results`) and its one reader (:func:`read_results`); a run as a :class:`RunRecord`
- :mod:`~rl_lab.reports.aggregate`  grouping runs by configuration; :class:`GroupSummary`
  statistics over seeds (``rl_lab.stats``)
- :mod:`~rl_lab.reports.tables`     CSV, Markdown and ``rich`` tables of groups and trials
- :mod:`~rl_lab.reports.plots`      learning curves
- :mod:`~rl_lab.reports.hparams`    the TensorBoard HPARAMS view of a sweep
- :mod:`~rl_lab.reports.trials`     an Optuna sweep's trials, ranked
- :mod:`~rl_lab.reports.summary`    the sweep summary: all of the above into one folder
- :mod:`~rl_lab.reports.cli`        its command line, ``python -m rl_lab.summarize DIR``
- :mod:`~rl_lab.reports.machine`    the machine a benchmark ran on, for its header

The names below are importable from the package itself; each module is loaded on first use,
so ``from rl_lab.reports.machine import ...`` in a benchmark does not import matplotlib or
TensorBoard.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Results": "runs",
    "RunRecord": "runs",
    "read_results": "runs",
    "read_run": "runs",
    "find_run_dirs": "runs",
    "GroupSummary": "aggregate",
    "summarise_group": "aggregate",
    "SummaryError": "summary",
    "SweepReport": "summary",
    "build_report": "summary",
    "summarize": "summary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"rl_lab.reports.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'rl_lab.reports' has no attribute {name!r}")
