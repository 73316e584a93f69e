"""Reading runs: where the run directories are, and what a run's ``results.json`` says.

:class:`Results` is the schema of ``results.json`` and :func:`read_results` the one reader of it
(reports, sweeps, benchmark scripts). A run writes the file when it ends: completed, failed or
interrupted (those two as a stub with ``status``, ``error``, ``seed`` and ``overrides``); older
runs lack some entries. A missing entry or one of the wrong type reads as "not recorded" (None,
nan, empty), so a report never stops at one odd file.

:func:`read_run` turns one run directory, finished or not, into a :class:`RunRecord`: its
``results.json`` if it has one, else what ``run_info.json`` (written when a run starts) or
Hydra's ``.hydra/`` record says about it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_lab.errors import RLLabError
from rl_lab.run_dir import read_json

RESULTS_FILE = "results.json"
#: Written by ``rl_lab.run_dir`` when a run starts.
RUN_INFO_FILE = "run_info.json"


class ResultsError(RLLabError):
    """A ``results.json`` that must be there is missing or unreadable."""


def _number(value: Any) -> float:
    # bool is an int subclass, but True is no return.
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


def _optional_text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(str(item) for item in value) if isinstance(value, list) else None


def _history(raw: Any) -> tuple[tuple[int, float], ...]:
    """``eval_history`` as ``(env_steps, mean_return)`` points; malformed entries are skipped."""
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


@dataclass(frozen=True)
class Evaluation:
    """The ``eval`` block: the final greedy evaluation (returns in the env's reward units)."""

    mean_return: float = math.nan
    std_return: float = math.nan
    episodes: int | None = None
    mean_length: float = math.nan  # env steps per episode
    returns: tuple[float, ...] = ()  # one per episode

    @classmethod
    def from_dict(cls, raw: Any) -> Evaluation | None:
        """The block as written by ``rl_lab.rl.evaluation``; None when ``raw`` is no mapping."""
        if not isinstance(raw, Mapping):
            return None
        returns = raw.get("returns")
        return cls(
            mean_return=_number(raw.get("mean_return")),
            std_return=_number(raw.get("std_return")),
            episodes=_optional_int(raw.get("episodes")),
            mean_length=_number(raw.get("mean_length")),
            returns=tuple(_number(r) for r in returns) if isinstance(returns, list) else (),
        )


@dataclass(frozen=True)
class Results:
    """A run's ``results.json``.

    Entries every task shares are typed fields; a task's own (``test`` accuracy of a
    classifier, a GAN's sample scores, ``episodes``, ``gradient_steps``) are in ``raw``, the
    whole file as parsed. Times are wall-clock seconds; ``sps`` is env steps per second.
    """

    status: str = ""  # "completed", "failed", "interrupted"; "" when the file has none
    task: str = "rl"  # runs from before the supervised and GAN tasks were all RL
    mode: str = "train"
    agent: str | None = None  # e.g. "dqn", "sb3_dqn"
    impl: str | None = None  # "rl_lab" or "sb3"
    env: str | None = None
    seed: int | None = None
    env_steps: int | None = None
    eval: Evaluation | None = None
    # (env_steps, mean_return) of every periodic evaluation, in order
    eval_history: tuple[tuple[int, float], ...] = ()
    best_eval: float = math.nan  # the best periodic evaluation's mean return
    wall_time_s: float = math.nan
    sps: float = math.nan
    reward_threshold: float | None = None  # the env's, when it has one
    objective: float = math.nan  # the value the run returned (to a sweeper)
    stopped_early_at: int | None = None  # env steps at which eval.stop_at ended training
    overrides: tuple[str, ...] | None = None  # command-line overrides; None when not recorded
    error: str = ""  # a failed or interrupted run's message, whole
    error_type: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        """Results from the parsed file; missing or mistyped entries take the defaults."""
        best = data.get("best_eval")
        threshold = _number(data.get("reward_threshold"))
        return cls(
            status=str(data.get("status") or ""),
            task=str(data.get("task") or "rl"),
            mode=str(data.get("mode") or "train"),
            agent=_optional_text(data.get("agent")),
            impl=_optional_text(data.get("impl")),
            env=_optional_text(data.get("env")),
            seed=_optional_int(data.get("seed")),
            env_steps=_optional_int(data.get("env_steps")),
            eval=Evaluation.from_dict(data.get("eval")),
            eval_history=_history(data.get("eval_history")),
            # a mapping with the checkpoint it was saved to; a bare number is accepted too
            best_eval=_number(best.get("mean_return") if isinstance(best, Mapping) else best),
            wall_time_s=_number(data.get("wall_time_s")),
            sps=_number(data.get("sps")),
            reward_threshold=threshold if math.isfinite(threshold) else None,
            objective=_number(data.get("objective")),
            stopped_early_at=_optional_int(data.get("stopped_early_at")),
            overrides=_strings(data.get("overrides")),
            error=str(data.get("error") or "").strip(),
            error_type=str(data.get("error_type") or ""),
            raw=dict(data),
        )

    @property
    def final_return(self) -> float:
        """The final evaluation's mean return; tasks without one: the objective (nan if none)."""
        value = self.eval.mean_return if self.eval is not None else math.nan
        return value if math.isfinite(value) else self.objective

    def first_reached(self, threshold: float) -> tuple[int, int | None] | None:
        """``(env steps, training episodes)`` of the first periodic evaluation whose mean
        return reached ``threshold`` (episodes ``None`` where the run did not record them);
        ``None`` when none did."""
        history = self.raw.get("eval_history")
        for entry in history if isinstance(history, list) else ():
            if not isinstance(entry, Mapping) or _number(entry.get("mean_return")) < threshold:
                continue
            steps = _optional_int(entry.get("env_steps"))
            if steps is not None:
                return steps, _optional_int(entry.get("episodes"))
        return None

    @property
    def error_line(self) -> str:
        """The first line of the error message ("" when there is none)."""
        return self.error.splitlines()[0] if self.error else ""

    def headline(self) -> dict[str, float]:
        """The numbers a benchmark row shows: ``mean_return`` (final), ``wall_time_s``, ``sps``."""
        return {"mean_return": self.final_return, "wall_time_s": self.wall_time_s, "sps": self.sps}


def read_results(path: Path, *, required: bool = False) -> Results | None:
    """Read a run's ``results.json``.

    Args:
        path: The file, or the run directory that holds it.
        required: Raise instead of returning None (the caller has just seen the run finish).

    Returns:
        The results; None when the file is missing, unreadable, caught mid-write or holds no
        JSON object.

    Raises:
        ResultsError: ``required`` and there are no readable results.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    data = read_json(path)
    if isinstance(data, dict):
        return Results.from_dict(data)
    if required:
        state = "is not a JSON object" if path.is_file() else "does not exist"
        raise ResultsError(f"{path} {state}: the run did not record its results.")
    return None


# ---------------------------------------------------------------------------------------------
# Overrides and Hydra's record of a job


def override_key(override: str) -> str:
    """The config key an override addresses: ``+seed=1``, ``++seed=1`` and ``~seed`` → ``seed``."""
    return override.split("=", 1)[0].lstrip("+~")


def seed_from_overrides(overrides: Sequence[str]) -> int | None:
    """The value of the ``seed=...`` override; None without one or when it is no integer."""
    for override in overrides:
        if override_key(override) == "seed" and "=" in override:
            try:
                return int(override.split("=", 1)[1])
            except ValueError:
                return None
    return None


def read_hydra_config(run_dir: Path) -> DictConfig | None:
    """Hydra's ``.hydra/hydra.yaml`` of a job; None when missing or not (yet) parsable."""
    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    try:
        loaded = OmegaConf.load(path)
    except Exception:  # a partial file of a job that is starting
        return None
    return loaded if isinstance(loaded, DictConfig) else None


def job_number(run_dir: Path, hydra_config: DictConfig | None = None) -> int | None:
    """The job's number in its multirun (an Optuna sweep's trial number).

    ``hydra.job.num`` of ``hydra_config`` (read from ``run_dir`` when not given), else the
    leading number of the directory's name; None when neither says.
    """
    config = hydra_config if hydra_config is not None else read_hydra_config(run_dir)
    number = OmegaConf.select(config, "hydra.job.num") if config is not None else None
    if isinstance(number, int):
        return number
    prefix = Path(run_dir).name.split("_", 1)[0]  # hydra.sweep.subdir starts with the number
    return int(prefix) if prefix.isdigit() else None


def started_run_info(run_dir: Path) -> tuple[tuple[str, ...] | None, int | None]:
    """Overrides and seed of a run that has not written results.json (yet).

    Taken from ``run_info.json``, else from Hydra's ``.hydra/overrides.yaml``; ``(None, None)``
    when neither can be read.
    """
    info = read_json(run_dir / RUN_INFO_FILE)
    if isinstance(info, dict) and isinstance(info.get("overrides"), list):
        overrides = tuple(str(item) for item in info["overrides"])
        seed = _optional_int(info.get("seed"))
        return overrides, seed if seed is not None else seed_from_overrides(overrides)
    path = run_dir / ".hydra" / "overrides.yaml"
    if path.is_file():
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path))
        except Exception:  # any parse error just means "configuration unknown"
            loaded = None
        if isinstance(loaded, list):
            overrides = tuple(str(item) for item in loaded)
            return overrides, seed_from_overrides(overrides)
    return None, None


# ---------------------------------------------------------------------------------------------
# Run directories


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
    error: str = ""  # a failed run's first error line


def read_run(run_dir: Path) -> RunRecord:
    """Read one run directory; never raises on missing or malformed files."""
    results = read_results(run_dir / RESULTS_FILE)
    if results is None:
        # Not yet written, or caught mid-write by a run still in progress.
        overrides, seed = started_run_info(run_dir)
        return RunRecord(path=run_dir, state="incomplete", overrides=overrides, seed=seed)

    overrides = results.overrides
    if overrides is None:
        overrides = started_run_info(run_dir)[0]
    seed = results.seed
    if seed is None and overrides is not None:
        seed = seed_from_overrides(overrides)
    final_return = results.final_return
    if results.status == "failed":
        state = "failed"
    elif results.status == "completed" and math.isfinite(final_return):
        state = "completed"
    else:
        state = "incomplete"
    return RunRecord(
        path=run_dir,
        state=state,
        overrides=overrides,
        seed=seed,
        agent=results.agent,
        env=results.env,
        final_return=final_return,
        objective=results.objective,
        wall_time_s=results.wall_time_s,
        sps=results.sps,
        reward_threshold=results.reward_threshold,
        eval_history=results.eval_history,
        error=(results.error_line or "(no error message)") if state == "failed" else "",
    )


def run_objective(run: RunRecord) -> float:
    """The objective a completed run returned (else its final return); nan if not completed."""
    if run.state != "completed":
        return math.nan
    return run.objective if math.isfinite(run.objective) else run.final_return


def find_run_dirs(run_root: Path) -> list[Path]:
    """Run directories under ``run_root``, finished or not.

    A run directory holds ``results.json``, or ``run_info.json`` (written when a run starts), or
    a ``.hydra/`` folder (a Hydra job). The sweep root of a multirun has none of these itself,
    so it is not mistaken for a run.
    """
    dirs = {p.parent for name in (RESULTS_FILE, RUN_INFO_FILE) for p in run_root.rglob(name)}
    dirs |= {path.parent for path in run_root.rglob(".hydra") if path.is_dir()}
    return sorted(dirs)


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` for tables and run names (``path`` itself when outside)."""
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)
