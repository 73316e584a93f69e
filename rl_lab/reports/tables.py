"""The tables of a summarised sweep: CSV, Markdown and ``rich`` for the terminal.

One row per configuration (:class:`~rl_lab.reports.aggregate.GroupSummary`), the failed and
incomplete runs, and an Optuna sweep's trials best first. CSV cells hold full-precision numbers
and are empty where a value is missing; Markdown and the terminal show rounded numbers and "–".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from rl_lab.reports.aggregate import CONFIDENCE, GroupSummary
from rl_lab.reports.runs import relative_name
from rl_lab.reports.trials import OptunaSearch, Trial, best_trial, rank_trials

CSV_COLUMNS = (
    "label",
    "n_completed",
    "n_total",
    "n_failed",
    "mean_return",
    "ci_low",
    "ci_high",
    "iqm",
    "success_rate",
    "threshold",
    "median_wall_time_s",
    "median_sps",
    "seeds",
)
DISPLAY_COLUMNS = (
    "Group",
    "Runs",
    "Mean",
    f"{CONFIDENCE:.0%} CI",
    "IQM",
    "Success",
    "Time (s)",
    "SPS",
    "Seeds",
)


def _csv_number(value: float | None) -> str:
    # Empty cell for "no value", which csv readers and pandas read as missing.
    if value is None or not math.isfinite(value):
        return ""
    return format(value, ".10g")


def _fmt(value: float, spec: str = ".1f") -> str:
    return format(value, spec) if math.isfinite(value) else "–"


def _display_row(group: GroupSummary) -> tuple[str, ...]:
    ci = f"{_fmt(group.ci_low)}–{_fmt(group.ci_high)}" if math.isfinite(group.ci_low) else "–"
    if math.isfinite(group.success_rate):
        success = f"{group.success_rate:.0%} ≥{group.threshold:g}"
    else:
        success = "–"
    return (
        group.label,
        f"{group.n_completed}/{group.n_total}",
        _fmt(group.mean_return),
        ci,
        _fmt(group.iqm),
        success,
        _fmt(group.median_wall_time_s),
        _fmt(group.median_sps, ".0f"),
        " ".join(str(seed) for seed in group.seeds),
    )


def write_csv(groups: Sequence[GroupSummary], path: Path) -> None:
    """Write one row per group with full-precision numbers; missing values are empty cells."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for g in groups:
            writer.writerow(
                [
                    g.label,
                    g.n_completed,
                    g.n_total,
                    g.n_failed,
                    *(_csv_number(v) for v in (g.mean_return, g.ci_low, g.ci_high, g.iqm)),
                    _csv_number(g.success_rate),
                    _csv_number(g.threshold),
                    _csv_number(g.median_wall_time_s),
                    _csv_number(g.median_sps),
                    " ".join(str(seed) for seed in g.seeds),
                ]
            )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def write_markdown(groups: Sequence[GroupSummary], path: Path, run_root: Path) -> None:
    """Write the summary table, then failed and incomplete runs, as Markdown."""
    lines = [
        f"# Sweep summary: `{run_root}`",
        "",
        "Mean, CI (percentile bootstrap of the mean) and IQM of the final evaluation return over "
        "completed seeds; success is the fraction of seeds reaching the threshold.",
        "",
        "| " + " | ".join(DISPLAY_COLUMNS) + " |",
        "|" + "|".join("---" for _ in DISPLAY_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in _display_row(g)) + " |" for g in groups]
    failures = [f for g in groups for f in g.failures]
    if failures:
        lines += ["", "## Failed runs", "", "| Group | Seed | Error | Path |", "|---|---|---|---|"]
        lines += [
            f"| {_md_cell(f.label)} | {f.seed if f.seed is not None else '?'} "
            f"| {_md_cell(f.error)} | {_md_cell(relative_name(f.path, run_root))} |"
            for f in failures
        ]
    incomplete = [(g.label, p) for g in groups for p in g.incomplete_paths]
    if incomplete:
        lines += ["", "## Incomplete runs", ""]
        lines += [f"- {label}: `{relative_name(p, run_root)}`" for label, p in incomplete]
    path.write_text("\n".join(lines) + "\n")


def _finished(trials: Sequence[Trial], search: OptunaSearch) -> str:
    # "5/6": finished trials out of the planned number, when the sweeper says it
    finished = sum(t.state != "incomplete" for t in trials)
    return f"{finished}/{search.n_trials}" if search.n_trials else str(finished)


TRIAL_COLUMNS = ("rank", "trial", "state", "objective", "best", "params", "path")


def write_trials(
    trials: Sequence[Trial], search: OptunaSearch, out_dir: Path, run_root: Path
) -> None:
    """``trials.csv`` and ``trials.md``: the trials best first, the best one marked."""
    ranked = rank_trials(trials, search.direction)
    best = best_trial(trials, search.direction)
    with (out_dir / "trials.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRIAL_COLUMNS)
        for rank, trial in enumerate(ranked, start=1):
            writer.writerow(
                [
                    rank,
                    trial.number,
                    trial.state,
                    _csv_number(trial.objective),
                    "yes" if trial is best else "",
                    " ".join(f"{k}={v}" for k, v in trial.params.items()),
                    relative_name(trial.path, run_root),
                ]
            )
    lines = [
        f"# Optuna trials: `{run_root}`",
        "",
        f"{_finished(trials, search)} trials finished; objective {search.direction}d; "
        "best marked ★.",
        "",
        "| Rank | Trial | State | Objective | Parameters |",
        "|---|---|---|---|---|",
    ]
    for rank, trial in enumerate(ranked, start=1):
        mark = " ★" if trial is best else ""
        values = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        lines.append(
            f"| {rank} | {trial.number}{mark} | {trial.state} | {_fmt(trial.objective, '.2f')} "
            f"| {_md_cell(values)} |"
        )
    (out_dir / "trials.md").write_text("\n".join(lines) + "\n")


def render_table(groups: Sequence[GroupSummary]) -> Table:
    """The summary as a ``rich`` table, one row per group."""
    # No borders and one space between columns: nine columns must fit an 80-column terminal
    # (rich's width when output is piped). Numbers never wrap; the label folds instead, whole.
    table = Table(
        title=f"Sweep summary (final eval return, {CONFIDENCE:.0%} bootstrap CI)",
        box=None,
        padding=(0, 1, 0, 0),
        header_style="bold underline",
    )
    table.add_column(DISPLAY_COLUMNS[0], overflow="fold", min_width=16)
    for column in DISPLAY_COLUMNS[1:-1]:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column(DISPLAY_COLUMNS[-1], min_width=5)
    for group in groups:
        table.add_row(*_display_row(group))
    return table


def render_failures(groups: Sequence[GroupSummary], run_root: Path) -> Table | None:
    """The failed runs of every group as a ``rich`` table; None when no run failed."""
    failures = [f for g in groups for f in g.failures]
    if not failures:
        return None
    table = Table(title=f"Failed runs ({len(failures)})", title_style="bold red")
    for column in ("Group", "Seed", "Error", "Path"):
        table.add_column(column)
    for f in failures:
        table.add_row(
            f.label,
            str(f.seed) if f.seed is not None else "?",
            f.error,
            relative_name(f.path, run_root),
        )
    return table


def render_trials(trials: Sequence[Trial], search: OptunaSearch) -> Table:
    """The Optuna trials best first as a ``rich`` table; the best row is marked ★."""
    best = best_trial(trials, search.direction)
    table = Table(
        title=f"Optuna trials ({_finished(trials, search)} finished, objective "
        f"{search.direction}d)",
        box=None,
        padding=(0, 1, 0, 0),
        header_style="bold underline",
    )
    for column in ("Rank", "Trial", "State", "Objective"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Parameters", overflow="fold")
    for rank, trial in enumerate(rank_trials(trials, search.direction), start=1):
        table.add_row(
            str(rank),
            f"{trial.number}{' ★' if trial is best else ''}",
            trial.state,
            _fmt(trial.objective, ".2f"),
            " ".join(f"{k}={v}" for k, v in trial.params.items()),
            style="bold" if trial is best else None,
        )
    return table
