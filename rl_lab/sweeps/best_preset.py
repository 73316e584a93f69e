"""The best trial of a search as a ready-to-run ``experiment=<name>`` preset.

After an Optuna search (``python -m rl_lab -m experiment=dqn_cartpole_search``) the
:class:`BestTrialPreset` callback writes ``<sweep dir>/<name>.yaml``, for example
``dqn_cartpole_best.yaml``::

    # @package _global_
    # Best trial of experiment=dqn_cartpole_search: job 13, objective 500 ...
    defaults:
      - _self_
      - override /task: rl
      - override /agent: dqn
      - override /env: CartPole-v1
    agent:
      learning_rate: 0.00081
      ...

The preset holds the best job's config groups and every value in which its resolved config
differs from the config those groups compose to on their own: the search experiment's settings,
the command-line overrides of the sweep and the trial's sampled values. So ``python -m rl_lab
experiment=<name>`` (once the file is in ``conf/experiment/``) trains exactly the best trial's
config; a sweep never writes into ``conf/`` itself, the file is reviewed and copied.

Rewrite it from a finished or interrupted sweep with::

    python -m rl_lab.sweeps.best_preset SWEEP_DIR --name dqn_cartpole_best
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rl_lab.config_dict import config_dict
from rl_lab.errors import RLLabError
from rl_lab.reports.runs import RESULTS_FILE, job_number, read_hydra_config, read_results

log = logging.getLogger(__name__)

#: Config groups that a preset never selects: the search itself, and the tuned preset, which the
#: task picks from the agent and env.
_SKIPPED_GROUPS = ("experiment", "hparams_search", "preset")
#: Top-level keys that do not change what a run computes: the launcher's settings, the progress
#: bar.
_SKIPPED_KEYS = ("launcher", "progress")

#: Composes the root config with the given overrides (no ``hydra`` node).
Composer = Callable[[Sequence[str]], DictConfig]


class PresetError(RLLabError):
    """No best trial can be written (no completed job, unreadable job directory)."""


@dataclass(frozen=True)
class BestJob:
    """The job of a sweep with the best objective."""

    path: Path
    number: int  # hydra.job.num (= the Optuna trial number)
    objective: float
    seed: int | None
    choices: dict[str, str]  # config-group choices, e.g. {"agent": "dqn", "env": "CartPole-v1"}
    config: dict[str, Any]  # the job's resolved config (its config.yaml)


def find_best_job(sweep_dir: Path, direction: str = "maximize") -> BestJob:
    """The completed job under ``sweep_dir`` with the best finite ``objective``.

    Ties go to the lowest job number, as Optuna's ``best_trial`` picks the earliest trial.

    Raises:
        PresetError: No job has completed with a finite objective.
    """
    if direction not in ("maximize", "minimize"):
        raise PresetError(f"direction must be maximize or minimize, not {direction!r}.")
    candidates = []
    for results_path in sorted(Path(sweep_dir).glob(f"*/{RESULTS_FILE}")):
        results = read_results(results_path)
        if results is None or results.status != "completed":
            continue
        if not math.isfinite(results.objective):
            continue
        run_dir = results_path.parent
        hydra_cfg = read_hydra_config(run_dir)
        order = job_number(run_dir, hydra_cfg)
        order = sys.maxsize if order is None else order  # unnumbered jobs lose ties
        sign = -1.0 if direction == "maximize" else 1.0
        candidates.append((sign * results.objective, order, run_dir, results, hydra_cfg))
    if not candidates:
        raise PresetError(
            f"no completed job with a finite objective under {sweep_dir}: nothing to write. "
            "Check the jobs' results.json (status, error) with `python -m rl_lab.summarize "
            f"{sweep_dir}`."
        )
    _, number, run_dir, results, hydra_cfg = min(candidates, key=lambda c: (c[0], c[1]))
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise PresetError(f"{run_dir} has results.json but no config.yaml; cannot rebuild it.")
    choices = OmegaConf.select(hydra_cfg, "hydra.runtime.choices") if hydra_cfg else None
    return BestJob(
        path=run_dir,
        number=number,
        objective=results.objective,
        seed=results.seed,
        choices={str(k): str(v) for k, v in (choices or {}).items() if v is not None},
        config=config_dict(OmegaConf.load(config_path), resolve=False),
    )


def group_overrides(choices: Mapping[str, str]) -> list[str]:
    """``group=choice`` overrides that select the same config groups, minus search-only ones."""
    return [
        f"{group}={choice}"
        for group, choice in choices.items()
        if not group.startswith("hydra/") and group not in _SKIPPED_GROUPS
    ]


def config_difference(config: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``config`` that differs from ``baseline``, as a nested dict.

    Mappings are compared key by key; any other value (lists included) as a whole. Keys only in
    ``baseline`` cannot be expressed by a preset and are left out.
    """
    difference: dict[str, Any] = {}
    for key, value in config.items():
        if key not in baseline:
            difference[key] = value
        elif isinstance(value, Mapping) and isinstance(baseline[key], Mapping):
            nested = config_difference(value, baseline[key])
            if nested:
                difference[key] = nested
        elif value != baseline[key]:
            difference[key] = value
    return difference


def _container(cfg: DictConfig) -> dict[str, Any]:
    try:
        return config_dict(cfg, resolve=True)
    except Exception:  # an interpolation only the running app can resolve: compare unresolved
        return config_dict(cfg, resolve=False)


def render_preset(
    name: str, best: BestJob, values: Mapping[str, Any], sweep_dir: Path, source: str | None
) -> str:
    """The YAML text of the preset ``name`` for ``best`` (header, defaults, values)."""
    searched = f"experiment={source}" if source else "a sweep"
    header = [
        "# @package _global_",
        f"# Best trial of {searched}: job {best.number}, objective {best.objective:g} (the value",
        f"# the run returned; RL: final greedy evaluation mean), seed {best.seed}.",
        f"# Sweep: {sweep_dir} ({best.path.name}); written {datetime.now():%Y-%m-%d %H:%M}.",
        f"# Run it: python -m rl_lab experiment={name}",
    ]
    groups = [o.split("=", 1) for o in group_overrides(best.choices)]
    defaults = ["defaults:", "  - _self_"]
    defaults += [f"  - override /{group}: {choice}" for group, choice in groups]
    body = OmegaConf.to_yaml(OmegaConf.create(dict(values))) if values else ""
    return "\n".join(header + defaults) + "\n" + body


def write_best_preset(
    sweep_dir: Path,
    name: str,
    compose: Composer,
    direction: str = "maximize",
    out_dir: Path | None = None,
) -> Path:
    """Write the best job of ``sweep_dir`` as the preset ``<out_dir>/<name>.yaml``.

    Args:
        sweep_dir: The multirun directory (one sub-directory per job).
        name: Name of the preset (``experiment=<name>``); also the file name.
        compose: Composes the root config for a list of overrides; the preset holds what the best
            job's config adds to ``compose(<its group choices>)``.
        direction: ``maximize`` or ``minimize``, as the sweep's objective.
        out_dir: Where the file goes; defaults to ``sweep_dir``.

    Returns:
        The path of the written preset.
    """
    sweep_dir = Path(sweep_dir)
    best = find_best_job(sweep_dir, direction)
    baseline = _container(compose(group_overrides(best.choices)))
    values = config_difference(best.config, baseline)
    for key in _SKIPPED_KEYS:
        values.pop(key, None)
    text = render_preset(name, best, values, sweep_dir, best.choices.get("experiment"))
    path = Path(out_dir or sweep_dir) / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hydra_composer(config_dir: str | None = None, config_name: str = "config") -> Composer:
    """A :data:`Composer` for rl_lab's config: the running app's Hydra, or ``config_dir``."""

    def compose_cfg(overrides: Sequence[str]) -> DictConfig:
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        if GlobalHydra.instance().is_initialized():  # inside `python -m rl_lab -m ...`
            return compose(config_name=config_name, overrides=list(overrides))
        import rl_lab.__main__ as entry  # registers the env config source and resolvers

        with initialize_config_dir(config_dir=config_dir or entry.CONFIG_DIR, version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))

    return compose_cfg


class BestTrialPreset(Callback):
    """Hydra callback: at the end of a multirun, write its best job as ``<sweep dir>/<name>.yaml``.

    Args:
        name: The preset's name (``experiment=<name>`` once copied into ``conf/experiment/``).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the preset; a sweep without a completed job only logs why there is none."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        direction = str(OmegaConf.select(config, "hydra.sweeper.direction", default="maximize"))
        config_name = OmegaConf.select(config, "hydra.job.config_name", default="config")
        try:
            path = write_best_preset(
                sweep_dir, self.name, hydra_composer(config_name=config_name), direction
            )
        except PresetError as exc:
            log.error("No best-trial preset: %s", exc)
            return
        log.info(
            "Best trial written as a preset: %s. Run it with: cp %s conf/experiment/ && "
            "python -m rl_lab experiment=%s",
            path,
            path,
            self.name,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rl_lab.sweeps.best_preset SWEEP_DIR``: (re)write the best-trial preset."""
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.sweeps.best_preset",
        description="Write the best job of a sweep as a ready-to-run experiment preset.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR")
    parser.add_argument("--name", required=True, help="preset name, e.g. dqn_cartpole_best")
    parser.add_argument("--direction", choices=("maximize", "minimize"), default="maximize")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: SWEEP_DIR)")
    args = parser.parse_args(argv)
    try:
        path = write_best_preset(
            args.sweep_dir, args.name, hydra_composer(), args.direction, args.out
        )
    except PresetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
