"""Summarise a sweep of runs: one row per configuration, aggregated over seeds.

Usage::

    python -m rl_lab.summarize DIR [--out OUTDIR] [--threshold X]

Every run directory under DIR (searched recursively) is one run. Runs are grouped by their
command-line overrides with ``seed=...``, Hydra's own settings (``hydra.*``, ``hydra/...``) and
the launcher's (``launcher.*``) removed, so the seeds of one configuration land in one row. For
each group the final evaluation return (``eval.mean_return``; a task without one: the run's
``objective``) of the completed runs is summarised by its mean, a 95% percentile-bootstrap CI,
the interquartile mean, the success rate against the reward threshold (see ``rl_lab.stats``) and
the median wall time.

Writes into OUTDIR (default DIR) and prints the table:

- ``summary.csv``, ``summary.md``: the table; failed runs with the first line of their error;
  incomplete runs;
- ``learning_curves.png`` (all groups) and ``curves/NN_<group>.png`` (one per group, with each
  seed's curve);
- ``hparams/``: a TensorBoard HPARAMS view of every job with the same set of keys
  (``tensorboard --logdir OUTDIR/hparams``, see ``rl_lab.sweeps.hparams_view``);
- Optuna sweeps: ``trials.csv``, ``trials.md``, the trials sorted by objective, best marked.

It works while a sweep runs and when some jobs failed: a run directory without ``results.json``
(a started run has ``run_info.json``, a Hydra job ``.hydra/``), or with a partial one, counts as
an incomplete run of the group its overrides name.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
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
from rl_lab.sweeps.hparams_view import Session, write_hparams_view
from rl_lab.sweeps.trials import OptunaSearch, Trial, best_trial, optuna_search, rank_trials
from rl_lab.sweeps.trials import trial_params as _trial_params

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
    objective: float = math.nan  # the value the run returned to the sweeper
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
    # eval_history of each completed run, in the order of ``final_returns``
    histories: tuple[tuple[tuple[int, float], ...], ...] = ()
    failures: tuple[FailedRun, ...] = ()
    incomplete_paths: tuple[Path, ...] = ()
    curve_steps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    curve_mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    curve_low: np.ndarray = field(default_factory=lambda: np.empty(0))
    curve_high: np.ndarray = field(default_factory=lambda: np.empty(0))


class SummaryError(RLLabError):
    """The run root cannot be summarised (missing, or holds no run directory)."""


# ---------------------------------------------------------------------------------------------
# Reading runs


def _override_key(override: str) -> str:
    # "+seed=1", "++seed=1" and "~seed" all address the key "seed".
    return override.split("=", 1)[0].lstrip("+~")


# Overrides that do not define a configuration: the seed, Hydra's and the launcher's settings,
# the progress bar.
_UNGROUPED_KEYS = ("seed", "hydra", "launcher", "progress")
_UNGROUPED_PREFIXES = ("hydra.", "hydra/", "launcher.")


def group_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """Drop the overrides that vary within a group or do not change a run's result.

    That is ``seed=...``, Hydra's settings (``hydra.*`` keys and ``hydra/...`` config groups:
    launcher, sweeper), the launcher's short settings (``launcher.address=auto``) and
    ``progress=...``.
    """
    kept = []
    for override in overrides:
        key = _override_key(override)
        if key in _UNGROUPED_KEYS or key.startswith(_UNGROUPED_PREFIXES):
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
    objective = _number(data.get("objective"))
    final_return = _number(eval_block.get("mean_return"))
    if not math.isfinite(final_return):
        final_return = objective  # tasks whose results have no eval return

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
        objective=objective,
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
        histories=tuple(r.eval_history for r in completed),
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


def _short(label: str, limit: int = 60) -> str:
    # Legends and titles: long override lists (a search's trials) would squeeze the plot away.
    return label if len(label) <= limit else label[: limit - 3] + "..."


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
            label=f"{_short(group.label)} (n={group.n_completed})",
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


def _slug(text: str, limit: int = 80) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:limit] or "group"


def plot_group_curves(group: GroupSummary, path: Path) -> None:
    """One group's learning curve: every completed seed (thin) and the mean with its CI band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A fixed layout: constrained layout doubles the drawing time, and a search has many groups.
    figure = Figure(figsize=(7, 4.5))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.87, bottom=0.11)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, history in enumerate(h for h in group.histories if h):
        steps, values = zip(*history, strict=True)
        label = "each seed" if index == 0 else None
        axes.plot(steps, values, color="C0", alpha=0.3, linewidth=0.8, label=label)
    if group.curve_steps.size:
        axes.plot(group.curve_steps, group.curve_mean, color="C0", linewidth=2, label="mean")
        axes.fill_between(
            group.curve_steps, group.curve_low, group.curve_high, color="C0", alpha=0.2
        )
    else:
        axes.text(0.5, 0.5, "no eval history yet", ha="center", transform=axes.transAxes)
    if group.threshold is not None:
        axes.axhline(group.threshold, color="black", linestyle="--", linewidth=1)
    axes.set_xlabel("env steps")
    axes.set_ylabel("mean eval return")
    title = _short(group.label, 90)
    axes.set_title(
        f"{title}\n{group.n_completed}/{group.n_total} runs, mean and "
        f"{CONFIDENCE:.0%} bootstrap CI",
        fontsize="small",
    )
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=90)


def write_group_curves(groups: Sequence[GroupSummary], folder: Path) -> list[Path]:
    """``folder/NN_<group>.png`` for every group; older plots in ``folder`` are replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    paths = []
    for index, group in enumerate(groups):
        path = folder / f"{index:02d}_{_slug(group.label)}.png"
        plot_group_curves(group, path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# The HPARAMS view and Optuna trials


def _run_objective(run: RunRecord) -> float:
    """The objective a completed run returned (else its final return); nan if not completed."""
    if run.state != "completed":
        return math.nan
    return run.objective if math.isfinite(run.objective) else run.final_return


def _run_hparams(run_dir: Path) -> dict[str, Any]:
    """Flat hyperparameters of a run: its config.yaml (resolved), else Hydra's job config."""
    from rl_lab.tracking import flatten_hparams

    for path in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            try:
                loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            except Exception:  # partial or unparsable file: try the next one
                continue
            if isinstance(loaded, dict):
                return flatten_hparams(loaded)
    return {}


def hparams_sessions(groups: dict[str, list[RunRecord]], run_root: Path) -> list[Session]:
    """One :class:`Session` per run, grouped by configuration, with its final metrics.

    A job whose config cannot be read yet (its directory was just created) is left out: it has
    no values to show, and an empty row would turn every numeric column into text.
    """
    sessions = []
    for label, members in sorted(groups.items()):
        for run in sorted(members, key=lambda r: str(r.path)):
            hparams = _run_hparams(run.path)
            if not hparams:
                continue
            metrics = {
                "objective": _run_objective(run),
                "run/wall_time_s": run.wall_time_s,
                "run/sps": run.sps,
            }
            sessions.append(
                Session(
                    name=_relative(run.path, run_root),
                    group=label,
                    hparams=hparams,
                    status=run.state,
                    metrics=metrics if run.state == "completed" else {},
                )
            )
    return sessions


def _trial_number(run_dir: Path) -> int | None:
    path = run_dir / ".hydra" / "hydra.yaml"
    if path.is_file():
        try:
            number = OmegaConf.select(OmegaConf.load(path), "hydra.job.num")
        except Exception:  # partial file of a job that is starting
            number = None
        if isinstance(number, int):
            return number
    prefix = run_dir.name.split("_", 1)[0]  # hydra.sweep.subdir starts with the job number
    return int(prefix) if prefix.isdigit() else None


def read_trials(runs: Sequence[RunRecord], search: OptunaSearch) -> list[Trial]:
    """The runs of an Optuna sweep as trials (number, state, objective, searched values)."""
    numbered = [(r, _trial_number(r.path)) for r in runs]
    numbered = [(r, n) for r, n in numbered if n is not None]
    params = _trial_params([list(r.overrides or ()) for r, _ in numbered], search.param_keys)
    return [
        Trial(
            number=number,
            state=run.state,
            objective=_run_objective(run),
            params=values,
            path=run.path,
        )
        for (run, number), values in zip(numbered, params, strict=True)
    ]


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
                    _relative(trial.path, run_root),
                ]
            )
    finished = sum(t.state != "incomplete" for t in trials)
    planned = f"/{search.n_trials}" if search.n_trials else ""
    lines = [
        f"# Optuna trials: `{run_root}`",
        "",
        f"{finished}{planned} trials finished; objective {search.direction}d; best marked ★.",
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


# ---------------------------------------------------------------------------------------------
# The report


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
    grouped = _group_runs(runs)
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


def render_trials(trials: Sequence[Trial], search: OptunaSearch) -> Table:
    """The Optuna trials best first as a ``rich`` table; the best row is marked ★."""
    best = best_trial(trials, search.direction)
    finished = sum(t.state != "incomplete" for t in trials)
    planned = f"/{search.n_trials}" if search.n_trials else ""
    table = Table(
        title=f"Optuna trials ({finished}{planned} finished, objective {search.direction}d)",
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


def print_report(
    groups: Sequence[GroupSummary],
    run_root: Path,
    out_dir: Path,
    console: Console,
    report: SweepReport | None = None,
) -> None:
    """Print the table, the failed and incomplete runs, the trials and where the files went."""
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
    if report is not None and report.search is not None:
        console.print(render_trials(report.trials, report.search))
    files = report.files if report is not None else [out_dir / "summary.csv"]
    written = ", ".join(str(path) for path in files)
    console.print(f"Wrote {written}", soft_wrap=True)
    if report is not None:
        console.print(f"HPARAMS view: tensorboard --logdir {out_dir / 'hparams'}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 when DIR has nothing to summarise)."""
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.summarize",
        description="Summarise a sweep of runs (every run directory under DIR, finished or "
        "not), grouped by overrides without the seed.",
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
        report = build_report(args.dir, out_dir=args.out, threshold=args.threshold)
    except SummaryError as error:
        print(f"rl_lab.summarize: error: {error}", file=sys.stderr)
        return 2
    print_report(report.groups, args.dir, report.out_dir, Console(), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
