"""Summarise a sweep of runs: one row per configuration, aggregated over seeds.

Usage::

    python -m rl_lab.summarize DIR [--out OUTDIR] [--threshold X]

Every ``results.json`` under DIR (searched recursively) is one run. Runs are grouped by their
command-line overrides with ``seed=...`` and ``hydra.*`` removed, so the seeds of one
configuration land in one row. For each group the final evaluation return (``eval.mean_return``)
of the completed runs is summarised by its mean, a 95% percentile-bootstrap CI, the interquartile
mean and the success rate against the reward threshold (see ``rl_lab.stats``).

Writes ``summary.csv``, ``summary.md`` and ``learning_curves.png`` into OUTDIR (default DIR) and
prints the table. Failed runs are listed with the first line of their error. A run directory
without ``results.json`` (a started run has ``run_info.json``, a Hydra job ``.hydra/``), or with
a partial one, counts as an incomplete run of the group its overrides name.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from rl_lab.errors import RLLabError
from rl_lab.stats import aggregate_curves, bootstrap_ci, interquartile_mean, success_rate

RESULTS_FILE = "results.json"
CONFIDENCE = 0.95
# Label of runs whose configuration cannot be recovered (no results, no readable overrides).
UNKNOWN_LABEL = "(unknown)"


@dataclass(frozen=True)
class RunRecord:
    """One run directory as read from disk.

    ``state`` is ``"completed"`` (usable final return), ``"failed"`` or ``"incomplete"`` (no or
    partial results.json, ``"interrupted"``, any other status, or no final eval return).
    """

    path: Path
    state: str
    overrides: tuple[str, ...] | None
    seed: int | None = None
    agent: str | None = None
    env: str | None = None
    final_return: float = math.nan
    wall_time_s: float = math.nan
    sps: float = math.nan
    reward_threshold: float | None = None
    eval_history: tuple[tuple[int, float], ...] = ()
    error: str = ""


@dataclass(frozen=True)
class FailedRun:
    """A run whose results.json says ``"status": "failed"``."""

    label: str
    seed: int | None
    error: str  # first line of the run's error message
    path: Path


# eq=False: the curve arrays make field-wise == ambiguous, so compare summaries by identity.
@dataclass(eq=False)
class GroupSummary:
    """Statistics of one configuration over its seeds.

    Returns are final evaluation mean returns, one per completed run; times are wall-clock
    seconds; ``success_rate`` is a fraction in [0, 1]. Statistics are nan when no run completed.
    The learning curve (``curve_*``) is the seed average of ``eval_history`` on a common env-step
    grid with its bootstrap band, as computed by ``rl_lab.stats.aggregate_curves``.
    """

    label: str
    overrides: tuple[str, ...]
    n_completed: int
    n_total: int
    n_failed: int
    mean_return: float
    ci_low: float
    ci_high: float
    iqm: float
    success_rate: float
    threshold: float | None
    median_wall_time_s: float
    median_sps: float
    seeds: tuple[int, ...]  # seeds of the completed runs, sorted
    final_returns: tuple[float, ...]
    failures: tuple[FailedRun, ...] = ()
    incomplete_paths: tuple[Path, ...] = ()
    curve_steps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    curve_mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    curve_low: np.ndarray = field(default_factory=lambda: np.empty(0))
    curve_high: np.ndarray = field(default_factory=lambda: np.empty(0))


class SummaryError(RLLabError):
    """The run root cannot be summarised (missing, or holds no results.json)."""


# ---------------------------------------------------------------------------------------------
# Reading runs


def _override_key(override: str) -> str:
    # "+seed=1", "++seed=1" and "~seed" all address the key "seed".
    return override.split("=", 1)[0].lstrip("+~")


def group_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """Drop the overrides that vary within a group: ``seed=...`` and Hydra's own settings.

    Hydra settings are ``hydra.*`` keys and ``hydra/...`` config groups (launcher, sweeper).
    """
    kept = []
    for override in overrides:
        key = _override_key(override)
        if key == "seed" or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        kept.append(override)
    return tuple(kept)


def _seed_from_overrides(overrides: Sequence[str]) -> int | None:
    for override in overrides:
        if _override_key(override) == "seed" and "=" in override:
            try:
                return int(override.split("=", 1)[1])
            except ValueError:
                return None
    return None


def _read_json(path: Path) -> Any:
    """Parsed JSON, or None when the file is missing, unreadable or caught mid-write."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _started_run_info(run_dir: Path) -> tuple[tuple[str, ...] | None, int | None]:
    """Overrides and seed of a run that has not written results.json (yet).

    Taken from ``run_info.json`` (written by ``rl_lab.run_dir`` when a run starts), else from
    Hydra's ``.hydra/overrides.yaml``; ``(None, None)`` when neither can be read.
    """
    info = _read_json(run_dir / "run_info.json")
    if isinstance(info, dict) and isinstance(info.get("overrides"), list):
        overrides = tuple(str(item) for item in info["overrides"])
        seed = _optional_int(info.get("seed"))
        return overrides, seed if seed is not None else _seed_from_overrides(overrides)
    path = run_dir / ".hydra" / "overrides.yaml"
    if path.is_file():
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path))
        except Exception:  # any parse error just means "configuration unknown"
            loaded = None
        if isinstance(loaded, list):
            overrides = tuple(str(item) for item in loaded)
            return overrides, _seed_from_overrides(overrides)
    return None, None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _history(raw: Any) -> tuple[tuple[int, float], ...]:
    if not isinstance(raw, list):
        return ()
    points = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        step = _optional_int(entry.get("env_steps"))
        value = _number(entry.get("mean_return"))
        if step is not None and math.isfinite(value):
            points.append((step, value))
    return tuple(points)


def read_run(run_dir: Path) -> RunRecord:
    """Read one run directory; never raises on missing or malformed files."""
    data = _read_json(run_dir / RESULTS_FILE)
    if not isinstance(data, dict):
        # Not yet written, or caught mid-write by a run still in progress.
        overrides, seed = _started_run_info(run_dir)
        return RunRecord(path=run_dir, state="incomplete", overrides=overrides, seed=seed)

    raw_overrides = data.get("overrides")
    if isinstance(raw_overrides, list):
        overrides: tuple[str, ...] | None = tuple(str(item) for item in raw_overrides)
    else:
        overrides = _started_run_info(run_dir)[0]
    seed = _optional_int(data.get("seed"))
    if seed is None and overrides is not None:
        seed = _seed_from_overrides(overrides)
    threshold = _number(data.get("reward_threshold"))
    eval_block = data.get("eval") if isinstance(data.get("eval"), dict) else {}
    final_return = _number(eval_block.get("mean_return"))

    status = data.get("status")
    if status == "failed":
        state = "failed"
    elif status == "completed" and math.isfinite(final_return):
        state = "completed"
    else:
        state = "incomplete"
    error = str(data.get("error") or "").strip()
    first_error_line = error.splitlines()[0] if error else "(no error message)"
    return RunRecord(
        path=run_dir,
        state=state,
        overrides=overrides,
        seed=seed,
        agent=str(data["agent"]) if data.get("agent") is not None else None,
        env=str(data["env"]) if data.get("env") is not None else None,
        final_return=final_return,
        wall_time_s=_number(data.get("wall_time_s")),
        sps=_number(data.get("sps")),
        reward_threshold=threshold if math.isfinite(threshold) else None,
        eval_history=_history(data.get("eval_history")),
        error=first_error_line if state == "failed" else "",
    )


def find_run_dirs(run_root: Path) -> list[Path]:
    """Run directories under ``run_root``, finished or not.

    A run directory holds ``results.json``, or ``run_info.json`` (written when a run starts), or
    a ``.hydra/`` folder (a Hydra job). The sweep root of a multirun has none of these itself,
    so it is not mistaken for a run.
    """
    dirs = {p.parent for name in (RESULTS_FILE, "run_info.json") for p in run_root.rglob(name)}
    dirs |= {path.parent for path in run_root.rglob(".hydra") if path.is_dir()}
    return sorted(dirs)


# ---------------------------------------------------------------------------------------------
# Grouping and statistics


def _label(key: tuple[str, ...], runs: Sequence[RunRecord]) -> str:
    if key:
        return " ".join(key)
    for run in runs:
        if run.agent is not None or run.env is not None:
            return f"{run.agent or '?'} {run.env or '?'}"
    return UNKNOWN_LABEL


def _group_runs(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """Group runs by label: their overrides minus seed/hydra, else ``agent env``."""
    groups: dict[str, list[RunRecord]] = {}
    unplaced: list[RunRecord] = []
    for run in runs:
        key = group_overrides(run.overrides) if run.overrides is not None else ()
        label = _label(key, [run])
        if label == UNKNOWN_LABEL:
            unplaced.append(run)
        else:
            groups.setdefault(label, []).append(run)
    # A run without results whose only override was the seed belongs to the seed-only sweep it
    # came from; that is decidable only when exactly one group has no other overrides.
    seed_only = [
        label
        for label, members in groups.items()
        if all(not group_overrides(m.overrides or ()) for m in members)
    ]
    for run in unplaced:
        target = seed_only[0] if len(seed_only) == 1 else UNKNOWN_LABEL
        groups.setdefault(target, []).append(run)
    return groups


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def summarise_group(label: str, runs: Sequence[RunRecord], threshold: float | None) -> GroupSummary:
    """Statistics of ``runs`` (the seeds of one configuration) as one :class:`GroupSummary`."""
    completed = sorted(
        (r for r in runs if r.state == "completed"),
        key=lambda r: (r.seed is None, r.seed or 0, str(r.path)),
    )
    returns = [r.final_return for r in completed]
    if threshold is None:
        # The env's own threshold; every seed of a group runs the same env.
        threshold = next((r.reward_threshold for r in runs if r.reward_threshold is not None), None)
    low, high = bootstrap_ci(returns, confidence=CONFIDENCE)
    steps, mean, band_low, band_high = aggregate_curves(
        [list(r.eval_history) for r in completed], confidence=CONFIDENCE
    )
    overrides = next(
        (group_overrides(r.overrides) for r in runs if r.overrides is not None), tuple()
    )
    return GroupSummary(
        label=label,
        overrides=overrides,
        n_completed=len(completed),
        n_total=len(runs),
        n_failed=sum(r.state == "failed" for r in runs),
        mean_return=float(np.mean(returns)) if returns else math.nan,
        ci_low=low,
        ci_high=high,
        iqm=interquartile_mean(returns),
        success_rate=success_rate(returns, threshold),
        threshold=threshold,
        median_wall_time_s=_median([r.wall_time_s for r in completed]),
        median_sps=_median([r.sps for r in completed]),
        seeds=tuple(r.seed for r in completed if r.seed is not None),
        final_returns=tuple(returns),
        failures=tuple(
            FailedRun(label=label, seed=r.seed, error=r.error, path=r.path)
            for r in runs
            if r.state == "failed"
        ),
        incomplete_paths=tuple(r.path for r in runs if r.state == "incomplete"),
        curve_steps=steps,
        curve_mean=mean,
        curve_low=band_low,
        curve_high=band_high,
    )


# ---------------------------------------------------------------------------------------------
# Output

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


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


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
            f"| {_md_cell(f.error)} | {_md_cell(_relative(f.path, run_root))} |"
            for f in failures
        ]
    incomplete = [(g.label, p) for g in groups for p in g.incomplete_paths]
    if incomplete:
        lines += ["", "## Incomplete runs", ""]
        lines += [f"- {label}: `{_relative(p, run_root)}`" for label, p in incomplete]
    path.write_text("\n".join(lines) + "\n")


def plot_learning_curves(groups: Sequence[GroupSummary], path: Path) -> None:
    """Plot each group's mean eval return against env steps with its CI band."""
    # The object-oriented API with an explicit Agg canvas leaves pyplot's global backend alone,
    # so this works headless and inside programs that use another backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    plotted = False
    for group in groups:
        if group.curve_steps.size == 0:
            continue
        (line,) = axes.plot(
            group.curve_steps,
            group.curve_mean,
            marker="o" if group.curve_steps.size == 1 else None,
            label=f"{group.label} (n={group.n_completed})",
        )
        axes.fill_between(
            group.curve_steps, group.curve_low, group.curve_high, color=line.get_color(), alpha=0.2
        )
        plotted = True
    for threshold in sorted({g.threshold for g in groups if g.threshold is not None}):
        axes.axhline(
            threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}"
        )
    if not plotted:
        axes.text(
            0.5, 0.5, "no eval history in completed runs", ha="center", transform=axes.transAxes
        )
    axes.set_xlabel("env steps")
    axes.set_ylabel("mean eval return")
    axes.set_title(f"Learning curves (mean, {CONFIDENCE:.0%} bootstrap CI over seeds)")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def summarize(
    run_root: Path, out_dir: Path | None = None, threshold: float | None = None
) -> list[GroupSummary]:
    """Summarise every run under ``run_root`` and write the report files.

    Args:
        run_root: Folder searched recursively for ``results.json`` (a Hydra multirun directory
            or any folder of runs).
        out_dir: Where ``summary.csv``, ``summary.md`` and ``learning_curves.png`` go; created if
            missing. Defaults to ``run_root``.
        threshold: Return counted as success; overrides each env's ``reward_threshold``.

    Returns:
        One ``GroupSummary`` per configuration, sorted by label.

    Raises:
        SummaryError: ``run_root`` is not a directory or holds no results.json.
    """
    run_root = Path(run_root)
    if not run_root.is_dir():
        raise SummaryError(f"{run_root} does not exist or is not a directory.")
    if not any(p.is_file() for p in run_root.rglob(RESULTS_FILE)):
        raise SummaryError(
            f"no {RESULTS_FILE} found under {run_root}. Point DIR at a Hydra multirun folder "
            f"(e.g. multirun/DATE/TIME) or a folder of run directories; runs write "
            f"{RESULTS_FILE} when they finish or fail."
        )
    runs = [read_run(run_dir) for run_dir in find_run_dirs(run_root)]
    groups = [
        summarise_group(label, members, threshold)
        for label, members in sorted(_group_runs(runs).items())
    ]
    out_dir = Path(out_dir) if out_dir is not None else run_root
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(groups, out_dir / "summary.csv")
    write_markdown(groups, out_dir / "summary.md", run_root)
    plot_learning_curves(groups, out_dir / "learning_curves.png")
    return groups


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


def print_report(
    groups: Sequence[GroupSummary], run_root: Path, out_dir: Path, console: Console
) -> None:
    """Print the table, the failed and incomplete runs, and where the files went."""
    console.print(render_table(groups))
    failures = [f for g in groups for f in g.failures]
    if failures:
        failed = Table(title=f"Failed runs ({len(failures)})", title_style="bold red")
        for column in ("Group", "Seed", "Error", "Path"):
            failed.add_column(column)
        for f in failures:
            failed.add_row(
                f.label,
                str(f.seed) if f.seed is not None else "?",
                f.error,
                _relative(f.path, run_root),
            )
        console.print(failed)
    n_incomplete = sum(len(g.incomplete_paths) for g in groups)
    if n_incomplete:
        console.print(f"{n_incomplete} incomplete run(s) (in progress, interrupted or partial).")
    written = ", ".join(
        str(out_dir / n) for n in ("summary.csv", "summary.md", "learning_curves.png")
    )
    console.print(f"Wrote {written}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 when DIR has nothing to summarise)."""
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.summarize",
        description="Summarise a sweep of runs (every results.json under DIR), grouped by "
        "overrides without the seed.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="multirun or runs folder")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="OUTDIR", help="output folder (default: DIR)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="X",
        help="return counted as success (default: each env's reward_threshold)",
    )
    args = parser.parse_args(argv)
    try:
        groups = summarize(args.dir, out_dir=args.out, threshold=args.threshold)
    except SummaryError as error:
        print(f"rl_lab.summarize: error: {error}", file=sys.stderr)
        return 2
    print_report(groups, args.dir, args.out if args.out is not None else args.dir, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
