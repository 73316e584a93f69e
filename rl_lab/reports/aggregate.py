"""Grouping runs by configuration and the statistics of each group over its seeds.

Runs are grouped by their command-line overrides with ``seed=...``, Hydra's own settings
(``hydra.*``, ``hydra/...``), the launcher's (``launcher.*``) and ``progress`` removed, so the
seeds of one configuration land in one group. A group's final evaluation returns (a task
without one: the run's ``objective``) are summarised by their mean, a percentile-bootstrap CI,
the interquartile mean and the success rate against the reward threshold (``rl_lab.stats``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl_lab.reports.runs import RunRecord, override_key
from rl_lab.stats import aggregate_curves, bootstrap_ci, interquartile_mean, success_rate

CONFIDENCE = 0.95
# Label of runs whose configuration cannot be recovered (no results, no readable overrides).
UNKNOWN_LABEL = "(unknown)"

# Overrides that do not define a configuration: the seed, Hydra's and the launcher's settings,
# the progress bar.
_UNGROUPED_KEYS = ("seed", "hydra", "launcher", "progress")
_UNGROUPED_PREFIXES = ("hydra.", "hydra/", "launcher.")


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


def group_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """Drop the overrides that vary within a group or do not change a run's result.

    That is ``seed=...``, Hydra's settings (``hydra.*`` keys and ``hydra/...`` config groups:
    launcher, sweeper), the launcher's short settings (``launcher.address=auto``) and
    ``progress=...``.
    """
    kept = []
    for override in overrides:
        key = override_key(override)
        if key in _UNGROUPED_KEYS or key.startswith(_UNGROUPED_PREFIXES):
            continue
        kept.append(override)
    return tuple(kept)


def _label(key: tuple[str, ...], runs: Sequence[RunRecord]) -> str:
    if key:
        return " ".join(key)
    for run in runs:
        if run.agent is not None or run.env is not None:
            return f"{run.agent or '?'} {run.env or '?'}"
    return UNKNOWN_LABEL


def group_runs(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
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
    """Statistics of ``runs`` (the seeds of one configuration) as one :class:`GroupSummary`.

    Args:
        label: The group's name in tables and plots.
        runs: Its runs, in any state; only completed ones enter the statistics.
        threshold: Return counted as success; None: the env's ``reward_threshold``.
    """
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
