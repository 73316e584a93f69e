"""The trials of an Optuna sweep, sorted by objective, with the best one marked.

Hydra's Optuna sweeper runs each trial as one job of the multirun (job number = trial number)
and, when the search ends, writes ``optimization_results.yaml`` (best parameters and value) into
the sweep directory. :func:`optuna_search` recognises such a sweep from that file or, while it is
still running, from a job's ``.hydra/hydra.yaml``; :func:`rank_trials` orders the trials for the
summary; :func:`read_trials` turns the sweep's runs into trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rl_lab.reports.runs import RunRecord, job_number, run_objective

#: Written by the Optuna sweeper into the sweep directory when the search ends.
OPTUNA_RESULTS_FILE = "optimization_results.yaml"


@dataclass(frozen=True)
class OptunaSearch:
    """What the sweep directory says about the search.

    ``best_value`` is None while the search is running (no ``optimization_results.yaml`` yet).
    """

    direction: str  # "maximize" or "minimize"
    param_keys: tuple[str, ...]  # keys of hydra.sweeper.params (the search space)
    n_trials: int | None
    best_value: float | None = None
    best_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Trial:
    """One trial (= one job) of the search."""

    number: int
    state: str  # "completed", "failed" or "incomplete"
    objective: float  # nan unless completed
    params: dict[str, str]  # the searched keys and their values, as in the job's overrides
    path: Path


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception:  # missing, partial or unparsable: treated as absent
        return None


def optuna_search(sweep_dir: Path) -> OptunaSearch | None:
    """The Optuna search in ``sweep_dir``, or None when it is not an Optuna sweep."""
    sweep_dir = Path(sweep_dir)
    sweeper = None
    for hydra_yaml in sorted(sweep_dir.glob("*/.hydra/hydra.yaml")):
        loaded = _load_yaml(hydra_yaml)
        if isinstance(loaded, dict):
            sweeper = (loaded.get("hydra") or {}).get("sweeper")
            break
    results = _load_yaml(sweep_dir / OPTUNA_RESULTS_FILE)
    is_optuna = isinstance(sweeper, dict) and "optuna" in str(sweeper.get("_target_", "")).lower()
    if not is_optuna and not (isinstance(results, dict) and results.get("name") == "optuna"):
        return None
    sweeper = sweeper if isinstance(sweeper, dict) else {}
    direction = sweeper.get("direction", "maximize")
    if not isinstance(direction, str):  # a list: multi-objective, ranked on the first
        direction = str(direction[0]) if direction else "maximize"
    best_value = results.get("best_value") if isinstance(results, dict) else None
    return OptunaSearch(
        direction=direction.lower(),
        param_keys=tuple(sweeper.get("params") or ()),
        n_trials=sweeper.get("n_trials"),
        best_value=float(best_value) if isinstance(best_value, (int, float)) else None,
        best_params=results.get("best_params") if isinstance(results, dict) else None,
    )


def trial_params(
    overrides: Sequence[Sequence[str]], param_keys: Sequence[str]
) -> list[dict[str, str]]:
    """The searched values of each trial: keys of the search space and keys that vary.

    Args:
        overrides: Each trial's overrides (``key=value`` strings).
        param_keys: Keys of ``hydra.sweeper.params``.
    """
    parsed = [dict(o.split("=", 1) for o in trial if "=" in o) for trial in overrides]
    all_keys = {key for trial in parsed for key in trial}
    # A key some trials lack (a job that has only started) varies only if its values do.
    varying = {k for k in all_keys if len({t[k] for t in parsed if k in t}) > 1}
    keys = [k for k in param_keys if k in all_keys]
    keys += sorted(varying - set(keys))
    return [{k: trial[k] for k in keys if k in trial} for trial in parsed]


def read_trials(runs: Sequence[RunRecord], search: OptunaSearch) -> list[Trial]:
    """The runs of an Optuna sweep as trials (number, state, objective, searched values).

    Runs without a job number (not a job of the sweep) are left out.
    """
    numbered = [(r, n) for r in runs if (n := job_number(r.path)) is not None]
    params = trial_params([list(r.overrides or ()) for r, _ in numbered], search.param_keys)
    return [
        Trial(
            number=number,
            state=run.state,
            objective=run_objective(run),
            params=values,
            path=run.path,
        )
        for (run, number), values in zip(numbered, params, strict=True)
    ]


def rank_trials(trials: Sequence[Trial], direction: str) -> list[Trial]:
    """Completed trials best first (ties: lower trial number), then failed, then unfinished."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(trial: Trial) -> tuple[int, float, int]:
        if trial.state == "completed" and math.isfinite(trial.objective):
            return (0, sign * trial.objective, trial.number)
        return (1 if trial.state == "failed" else 2, 0.0, trial.number)

    return sorted(trials, key=key)


def best_trial(trials: Sequence[Trial], direction: str) -> Trial | None:
    """The trial Optuna reports as best: the best objective, earliest on ties; None if none."""
    ranked = rank_trials(trials, direction)
    if ranked and ranked[0].state == "completed" and math.isfinite(ranked[0].objective):
        return ranked[0]
    return None
