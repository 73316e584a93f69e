"""The sweep summary: read every run under a folder, group it, write the report files.

Every run directory under the run root (searched recursively) is one run; runs are grouped by
configuration and summarised over their seeds (:mod:`rl_lab.reports.aggregate`). Written into
the output folder (default: the run root):

- ``summary.csv``, ``summary.md``: one row per configuration; failed runs with the first line
  of their error; incomplete runs;
- ``learning_curves.png`` (all groups) and ``curves/NN_<group>.png`` (one per group, with each
  seed's curve);
- ``hparams/``: a TensorBoard HPARAMS view of every job with the same set of keys
  (``tensorboard --logdir OUTDIR/hparams``, see :mod:`rl_lab.reports.hparams`);
- Optuna sweeps: ``trials.csv``, ``trials.md``, the trials sorted by objective, best marked.

It works while a sweep runs and when some jobs failed: a run directory without ``results.json``
(a started run has ``run_info.json``, a Hydra job ``.hydra/``), or with a partial one, counts as
an incomplete run of the group its overrides name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rl_lab.errors import RLLabError
from rl_lab.reports.aggregate import GroupSummary, group_runs, summarise_group
from rl_lab.reports.hparams import hparams_sessions, write_hparams_view
from rl_lab.reports.plots import plot_learning_curves, write_group_curves
from rl_lab.reports.runs import RESULTS_FILE, find_run_dirs, read_run
from rl_lab.reports.tables import write_csv, write_markdown, write_trials
from rl_lab.reports.trials import OptunaSearch, Trial, optuna_search, read_trials


class SummaryError(RLLabError):
    """The run root cannot be summarised (missing, or holds no run directory)."""


@dataclass(eq=False)
class SweepReport:
    """Everything :func:`build_report` found and wrote."""

    run_root: Path
    out_dir: Path
    groups: list[GroupSummary]
    files: list[Path]
    search: OptunaSearch | None = None
    trials: list[Trial] = field(default_factory=list)


def build_report(
    run_root: Path, out_dir: Path | None = None, threshold: float | None = None
) -> SweepReport:
    """Summarise every run under ``run_root`` and write the report files (see the module doc).

    Raises:
        SummaryError: ``run_root`` is not a directory or holds no run directory.
    """
    run_root = Path(run_root)
    if not run_root.is_dir():
        raise SummaryError(f"{run_root} does not exist or is not a directory.")
    run_dirs = find_run_dirs(run_root)
    if not run_dirs:
        raise SummaryError(
            f"no runs found under {run_root}. Point DIR at a Hydra multirun folder "
            f"(e.g. multirun/DATE/TIME) or a folder of run directories; runs write "
            f"run_info.json when they start and {RESULTS_FILE} when they finish or fail."
        )
    runs = [read_run(run_dir) for run_dir in run_dirs]
    grouped = group_runs(runs)
    groups = [summarise_group(label, grouped[label], threshold) for label in sorted(grouped)]
    out_dir = Path(out_dir) if out_dir is not None else run_root
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "summary.csv", out_dir / "summary.md", out_dir / "learning_curves.png"]
    write_csv(groups, files[0])
    write_markdown(groups, files[1], run_root)
    plot_learning_curves(groups, files[2])
    write_group_curves(groups, out_dir / "curves")
    files.append(out_dir / "curves")
    files.append(write_hparams_view(out_dir, hparams_sessions(grouped, run_root)))
    report = SweepReport(run_root=run_root, out_dir=out_dir, groups=groups, files=files)
    search = optuna_search(run_root)
    if search is not None:
        report.search = search
        report.trials = read_trials(runs, search)
        write_trials(report.trials, search, out_dir, run_root)
        files += [out_dir / "trials.csv", out_dir / "trials.md"]
    return report


def summarize(
    run_root: Path, out_dir: Path | None = None, threshold: float | None = None
) -> list[GroupSummary]:
    """Summarise every run under ``run_root`` and write the report files.

    Args:
        run_root: Folder searched recursively for run directories (a Hydra multirun directory
            or any folder of runs), finished or not.
        out_dir: Where the report files go (see the module doc); created if missing. Defaults
            to ``run_root``.
        threshold: Return counted as success; overrides each env's ``reward_threshold``.

    Returns:
        One ``GroupSummary`` per configuration, sorted by label.

    Raises:
        SummaryError: ``run_root`` is not a directory or holds no run directory.
    """
    return build_report(run_root, out_dir, threshold).groups
