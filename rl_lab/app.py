"""What ``python -m rl_lab`` does once Hydra has composed the config.

Resolve the device, apply resume semantics, validate, write the run's provenance, dispatch to
the task, and turn :class:`~rl_lab.errors.RLLabError` into one clear message (and, in a
multirun, a ``failed`` ``results.json`` instead of stopping the other jobs).
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rl_lab.allocator import reuse_freed_memory
from rl_lab.errors import ConfigError, InterruptedRunError, RLLabError
from rl_lab.run_dir import write_json, write_run_info

log = logging.getLogger("rl_lab")

#: Tasks by ``task.name`` (conf/task/<name>.yaml), as the module that runs them. Each module
#: has ``validate_config(cfg)`` (every check, shared keys included, before any long work) and
#: ``run(cfg, run_dir, device) -> results`` (dispatching on ``cfg.mode``; the results dict
#: carries the ``objective`` the main returns to Hydra sweepers).
TASKS: dict[str, str] = {
    "rl": "rl_lab.rl.task",
    "supervised": "rl_lab.supervised.task",
    "gan": "rl_lab.gan.task",
}

#: Config groups whose choice cannot change when a run is resumed, and the key that records it.
_GROUP_KEYS = {
    "task": "task.name",
    "agent": "agent.name",
    "env": "env.id",
    "model": "model.name",
    "dataset": "dataset.name",
}

#: Root keys that runs saved by older versions lack, and the value they take on resume.
_NEWER_KEYS = {"reuse_freed_memory": True}


def task_module(name: str) -> Any:
    """The module that runs ``task=<name>``."""
    if name not in TASKS:
        raise ConfigError(
            f"Unknown task '{name}'. Available tasks: {', '.join(TASKS)}. Choose one with "
            "`task=<name>`."
        )
    return importlib.import_module(TASKS[name])


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when available else ``cpu``; an unavailable CUDA is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name} was asked for but this machine has no usable CUDA GPU (torch "
            f"{torch.__version__}). Use device=cpu or device=auto."
        )
    return name


def resume_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The saved config of the run in ``run_dir``, with this command's plain overrides on top.

    Group choices (``agent=``, ``env=``) must match the saved run; other ``key=value``
    overrides (e.g. ``total_steps=100000`` to train longer) are applied.
    """
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file() or not (run_dir / "checkpoints" / "last.pt").is_file():
        raise ConfigError(
            f"resume=true found no run to continue in {run_dir} (it needs config.yaml and "
            "checkpoints/last.pt). Point hydra.run.dir at the run directory, e.g. "
            "`python -m rl_lab resume=true hydra.run.dir=outputs/runs/<date>/<run>`."
        )
    saved = OmegaConf.load(saved_path)
    for key, value in _NEWER_KEYS.items():
        if key not in saved:
            saved[key] = value
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in ("resume", "mode") or key.startswith("hydra"):
            continue
        if key in _GROUP_KEYS:
            path = _GROUP_KEYS[key]
            if OmegaConf.select(cfg, path) != OmegaConf.select(saved, path):
                raise ConfigError(
                    f"Cannot change `{key}` when resuming: the run in {run_dir} has "
                    f"{path}={OmegaConf.select(saved, path)}. Drop `{override}` or start a new "
                    "run in another directory."
                )
            continue
        if key in ("preset", "experiment"):
            continue
        OmegaConf.update(saved, key, OmegaConf.select(cfg, key), force_add=True)
    with open_dict(saved):
        saved.resume = True
    return saved


def run(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run the configured task in ``run_dir``; returns its results."""
    if cfg.resume:
        cfg = resume_config(cfg, run_dir, overrides)
    elif cfg.mode == "train" and (run_dir / "checkpoints" / "last.pt").exists():
        raise ConfigError(
            f"{run_dir} already holds a run (checkpoints/last.pt exists). Continue it with "
            "`resume=true`, or choose a new directory with hydra.run.dir=... ."
        )
    task = task_module(cfg.task.name)
    task.validate_config(cfg)
    device = resolve_device(cfg.device)
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    if cfg.reuse_freed_memory:
        reuse_freed_memory()
    write_run_info(run_dir, cfg, device, overrides)
    return task.run(cfg, run_dir, device)


def run_and_report(cfg: DictConfig, run_dir: Path, overrides: list[str], multirun: bool) -> float:
    """:func:`run` with errors reported as one paragraph; returns the run's objective.

    In a single run an error exits with status 2 (130 when interrupted). In a multirun the job
    records ``status: failed`` in its ``results.json`` and returns NaN so the sweep goes on.
    """
    try:
        results = run(cfg, run_dir, overrides)
    except RLLabError as exc:
        interrupted = isinstance(exc, InterruptedRunError)
        log.error("%s", exc)
        results_path = run_dir / "results.json"
        if not interrupted or not results_path.exists():
            write_json(
                results_path,
                {
                    "status": "interrupted" if interrupted else "failed",
                    "error": str(exc),
                    "error_type": type(exc).__name__,
                    "seed": OmegaConf.select(cfg, "seed"),
                    "overrides": overrides,
                },
            )
        if multirun:
            return math.nan
        sys.exit(130 if interrupted else 2)
    results["overrides"] = overrides
    write_json(run_dir / "results.json", results)
    return float(results["objective"])
