"""What ``python -m rl_lab`` does once Hydra has composed the config.

Every check comes first, while nothing has been written: the keys the user typed, resume
semantics, the run directory (who owns it, what it holds, whether it can be written), the
task's own validation and the device. Only then does the run take the directory's lock,
write its provenance and dispatch to the task. :class:`~rl_lab.errors.RLLabError` becomes one
clear paragraph (and, in a multirun, a ``failed`` ``results.json`` instead of stopping the
other jobs).

The run directory's rules:

- a run that is refused writes nothing into a directory that already holds a run;
- a finished run's ``results.json``, ``config.yaml`` and ``run_info.json`` are replaced only by
  a resume of that same run (``resume=true`` on a run that already reached its budget changes
  nothing);
- one process at a time owns a directory (:class:`~rl_lab.run_dir.RunDirLock`);
- an interrupted run's ``results.json`` says where it stopped this time, unless the directory
  holds a finished run, whose results stay.
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rl_lab import checkpoint
from rl_lab.allocator import reuse_freed_memory
from rl_lab.config import FREE_FORM, unknown_keys, unknown_keys_message
from rl_lab.config_dict import CONF_DIR, load_mapping
from rl_lab.errors import (
    ConfigError,
    InterruptedRunError,
    RLLabError,
    RunDirError,
    RunPrunedError,
)
from rl_lab.run_dir import (
    RunDirLock,
    cannot_write,
    check_writable,
    finished_results,
    holds_run,
    read_json,
    write_hydra_record,
    write_json,
    write_run_info,
)
from rl_lab.tracking import claim_run_log

log = logging.getLogger("rl_lab")

#: The ``conf/`` folder Hydra composes runs from.
CONFIG_DIR = str(CONF_DIR)

#: Tasks by ``task.name`` (conf/task/<name>.yaml), as the module that runs them. Each module
#: has ``validate_config(cfg)`` (every check, shared keys included, before any long work) and
#: ``run(cfg, run_dir, device) -> results`` (dispatching on ``cfg.mode``; the results dict
#: carries the ``objective`` the main returns to Hydra sweepers).
TASKS: dict[str, str] = {
    "rl": "rl_lab.rl.task",
    "supervised": "rl_lab.supervised.task",
    "gan": "rl_lab.gan.task",
}

#: Config groups whose choice cannot change when a run is resumed or a checkpoint is evaluated,
#: and the key that records it.
GROUP_KEYS = {
    "task": "task.name",
    "agent": "agent.name",
    "env": "env.id",
    "model": "model.name",
    "dataset": "dataset.name",
    "impl": "impl",
}

#: Root keys that runs saved by older versions lack, and the value they take on resume.
_NEWER_KEYS = {"reuse_freed_memory": True}

#: Keys that modes working from a checkpoint (``mode=eval``, ``mode=sample``) read from the
#: command line; everything else comes from the checkpoint's own config, so overriding it would
#: have no effect and is refused.
CHECKPOINT_MODE_KEYS: dict[tuple[str, str], frozenset[str]] = {
    ("rl", "eval"): frozenset({"episodes", "eval.seed", "record_video"}),
    ("supervised", "eval"): frozenset(),
    ("gan", "eval"): frozenset({"metrics"}),
    ("gan", "sample"): frozenset({"n", "label", "interpolation_steps", "seed"}),
}
_ANY_MODE_KEYS = frozenset(
    {"mode", "checkpoint", "device", "torch_threads", "reuse_freed_memory", "progress"}
)

#: Modes that work from a checkpoint; ``export`` is the same for every task.
CHECKPOINT_MODES = ("eval", "sample", "export")

#: ``reference(overrides)``: the config composed from ``overrides`` (see :func:`run`).
Composer = Callable[[list[str]], DictConfig]


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


def override_key(override: str) -> str:
    """``+agent.lr=1`` → ``agent.lr``; ``agent=dqn`` → ``agent``; ``hydra/launcher=x`` →
    ``hydra/launcher``."""
    return override.split("=", 1)[0].lstrip("+~")


def _is_free_form(key: str) -> bool:
    return any(key == f or key.startswith(f + ".") for f in FREE_FORM)


def check_known_keys(cfg: DictConfig, overrides: list[str], reference: Composer | None) -> None:
    """Refuse keys that ``+key=value`` overrides added and the task does not know.

    Without ``+`` Hydra already refuses an unknown key; with it, Hydra adds whatever was typed.
    The config composed from the same overrides minus the additions is the schema: every key of
    ``cfg`` must be in it (or under a free-form mapping such as ``env.kwargs``).
    """
    additions = [
        o
        for o in overrides
        if o.startswith("+") and not override_key(o).startswith("hydra") and "=" in o
    ]
    if not additions or reference is None:
        return
    kept = [o for o in overrides if o not in additions]
    schema = reference(kept)
    unknown = [k for k in unknown_keys(cfg, schema) if not _is_free_form(k)]
    if unknown:
        raise ConfigError(unknown_keys_message(unknown, schema, _context(cfg)))


def _context(cfg: DictConfig) -> str:
    task = OmegaConf.select(cfg, "task.name")
    if task == "rl":
        return f"task=rl with agent={OmegaConf.select(cfg, 'agent.name')}"
    return f"task={task}"


def resume_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The saved config of the run in ``run_dir``, with this command's plain overrides on top.

    Group choices (``agent=``, ``env=``) must match the saved run; other ``key=value``
    overrides (e.g. ``total_steps=100000`` to train longer) are applied; a key the saved run
    does not have is refused.
    """
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file() or not (run_dir / "checkpoints" / "last.pt").is_file():
        raise ConfigError(
            f"resume=true found no run to continue in {run_dir} (it needs config.yaml and "
            "checkpoints/last.pt). Point hydra.run.dir at the run directory, e.g. "
            "`python -m rl_lab resume=true hydra.run.dir=outputs/runs/<date>/<run>`."
        )
    saved = load_mapping(saved_path)  # a run's config.yaml holds a mapping
    for key, value in _NEWER_KEYS.items():
        if key not in saved:
            saved[key] = value
    unknown = []
    for override in overrides:
        key = override_key(override)
        if key in ("resume", "mode") or key.startswith("hydra"):
            continue
        if key in GROUP_KEYS:
            path = GROUP_KEYS[key]
            if OmegaConf.select(cfg, path) != OmegaConf.select(saved, path):
                raise ConfigError(
                    f"Cannot change `{key}` when resuming: the run in {run_dir} has "
                    f"{path}={OmegaConf.select(saved, path)}. Drop `{override}` or start a new "
                    "run in another directory."
                )
            continue
        if key in ("preset", "experiment"):
            raise ConfigError(
                f"Cannot apply `{override}` when resuming: the run in {run_dir} keeps the "
                "settings it started with. Override single keys (e.g. total_steps=...) or start "
                "a new run in another directory."
            )
        if OmegaConf.select(saved, key, default=_MISSING) is _MISSING and not _is_free_form(key):
            unknown.append(key)
            continue
        OmegaConf.update(saved, key, OmegaConf.select(cfg, key), force_add=True)
    if unknown:
        raise ConfigError(unknown_keys_message(unknown, saved, f"the run in {run_dir}"))
    with open_dict(saved):
        saved.resume = True
    return saved


_MISSING = object()


def check_checkpoint_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """``mode=eval``/``sample`` take the task, agent, env, model and dataset from the checkpoint:
    a group choice that differs from it is refused (with what the checkpoint holds), and so is
    any other override the mode does not read."""
    payload = checkpoint.load(cfg.checkpoint, mmap=True)
    saved = OmegaConf.create(payload.get("config") or {})
    holds = ", ".join(
        f"{group}={OmegaConf.select(saved, path)}"
        for group, path in GROUP_KEYS.items()
        if OmegaConf.select(saved, path) is not None
    )
    read_here = CHECKPOINT_MODE_KEYS.get((cfg.task.name, cfg.mode), frozenset()) | _ANY_MODE_KEYS
    if cfg.mode == "export":
        read_here |= {"format"}
    ignored = []
    for override in overrides:
        key = override_key(override)
        if key.startswith("hydra") or key == "resume":
            continue
        if key in GROUP_KEYS:
            chosen, held = (
                OmegaConf.select(cfg, GROUP_KEYS[key]),
                OmegaConf.select(saved, GROUP_KEYS[key]),
            )
            if chosen != held:
                raise ConfigError(
                    f"`{override}` conflicts with the checkpoint {cfg.checkpoint}, which holds "
                    f"{holds}. mode={cfg.mode} uses what the checkpoint was trained with: drop "
                    f"`{override}`, or pass a checkpoint trained with {key}={chosen}."
                )
            continue
        if not any(key == k or key.startswith(k + ".") for k in read_here):
            ignored.append(override)
    if ignored:
        usable = ", ".join(sorted(read_here - {"mode", "checkpoint"}))
        raise ConfigError(
            f"mode={cfg.mode} takes its settings from the checkpoint {cfg.checkpoint} ({holds}), "
            f"so {', '.join(f'`{o}`' for o in ignored)} would have no effect. Drop "
            f"{'them' if len(ignored) > 1 else 'it'}; mode={cfg.mode} reads {usable} from the "
            "command line. To train with other settings, start a training run."
        )


def check_export_config(cfg: DictConfig) -> None:
    """``mode=export``: a checkpoint and a known format (``format`` is one of
    :class:`~rl_lab.config.CommonConfig`'s keys, checked by its rules)."""
    from rl_lab.config import COMMON_RULES, validate

    validate(cfg, COMMON_RULES)
    if not cfg.get("checkpoint"):
        raise ConfigError(
            "mode=export needs a checkpoint: pass `checkpoint=outputs/.../checkpoints/best.pt` "
            "(or last.pt) of a run, and format=onnx or format=torchscript."
        )


def export_checkpoint(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """``mode=export``: write the checkpoint's model as ``cfg.format`` into ``run_dir`` and check
    the file against rl_lab on real inputs."""
    from rl_lab.api import load
    from rl_lab.exporting import FORMATS, check_export, export

    model = load(cfg.checkpoint)
    name = {"rl": "policy", "supervised": "classifier", "gan": "generator"}[cfg.task.name]
    path = export(model, run_dir / f"{name}{FORMATS[cfg.format]}", cfg.format)
    check = check_export(model, path, cfg.format)
    log.info("Exported %s to %s; checked on %s", cfg.checkpoint, path, check)
    return {
        "status": "completed",
        "task": cfg.task.name,
        "mode": "export",
        "checkpoint": str(Path(cfg.checkpoint).resolve()),
        "format": cfg.format,
        "file": path.name,
        "check": check,
        "objective": math.nan,
    }


def budget_reached(cfg: DictConfig, results: dict[str, Any]) -> bool:
    """Whether a finished run's ``results`` already cover the budget ``cfg`` asks for."""
    if cfg.task.name == "rl":
        return int(results.get("env_steps") or 0) >= int(cfg.total_steps)
    if results.get("stop_reason"):  # early stopping ended it: more epochs would not run
        return True
    return int(results.get("epochs_run") or 0) >= int(cfg.trainer.epochs)


@dataclass
class Plan:
    """What :func:`prepare` decided: the config to run, its device, and the results of a run
    that is already finished (``resume=true`` with nothing left to do)."""

    cfg: DictConfig
    device: str
    done: dict[str, Any] | None = None


def check_owner(cfg: DictConfig, run_dir: Path) -> None:
    """Refuse a new run in a directory that holds one (``resume=true`` continues it)."""
    if cfg.resume:
        return
    held = holds_run(run_dir)
    if held is not None:
        hint = "Continue it with `resume=true`, or choose" if cfg.mode == "train" else "Choose"
        raise RunDirError(
            f"{run_dir} already holds a run: {held}. rl_lab never overwrites a run. {hint} a new "
            "directory with hydra.run.dir=DIR (or leave hydra.run.dir out to get a fresh one)."
        )


def prepare(
    cfg: DictConfig, run_dir: Path, overrides: list[str], reference: Composer | None = None
) -> Plan:
    """Every check of a run, before anything is written; returns what to run."""
    check_known_keys(cfg, overrides, reference)
    if cfg.resume:
        cfg = resume_config(cfg, run_dir, overrides)
    check_owner(cfg, run_dir)
    if cfg.mode in CHECKPOINT_MODES and cfg.get("checkpoint"):
        check_checkpoint_overrides(cfg, overrides)
    task = task_module(cfg.task.name)
    if cfg.mode == "export":
        check_export_config(cfg)
    else:
        task.validate_config(cfg)
    device = resolve_device(cfg.device)
    done = None
    if cfg.resume:
        # a damaged last.pt is refused here, before config.yaml or run_info.json are touched
        checkpoint.load(run_dir / "checkpoints" / "last.pt", kind=cfg.task.name, mmap=True)
        finished = finished_results(run_dir)
        if finished is not None and budget_reached(cfg, finished):
            done = finished
    if done is None:
        check_writable(run_dir, checkpoints=cfg.mode == "train")
    return Plan(cfg, device, done)


def run(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str],
    reference: Composer | None = None,
    hydra_record: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the configured task in ``run_dir``; returns its results.

    Args:
        cfg: the composed config.
        run_dir: the run directory (Hydra's output dir).
        overrides: the command line's overrides, as Hydra parsed them.
        reference: composes a config from overrides; with it, keys added by ``+key=value`` are
            checked against the config composed without them.
        hydra_record: Hydra's record of the job (``.hydra/*.yaml`` file texts), written once the
            run owns its directory.
    """
    plan = prepare(cfg, run_dir, overrides, reference)
    if plan.done is not None:
        log.info(
            "The run in %s already finished (%s); nothing to do. Ask for a larger budget to "
            "continue it (e.g. total_steps=... or trainer.epochs=...).",
            run_dir,
            _progress_words(plan.done),
        )
        return plan.done
    cfg = plan.cfg
    with RunDirLock(run_dir):
        check_owner(cfg, run_dir)  # again: another process may have finished a run here since
        claim_run_log()
        try:
            if hydra_record:
                write_hydra_record(run_dir, hydra_record)
            if cfg.torch_threads is not None:
                torch.set_num_threads(cfg.torch_threads)
            if cfg.reuse_freed_memory:
                reuse_freed_memory()
            write_run_info(run_dir, cfg, plan.device, overrides, resume=bool(cfg.resume))
            on_cuda = str(plan.device).startswith("cuda")
            if on_cuda:
                torch.cuda.reset_peak_memory_stats(plan.device)
            if cfg.mode == "export":
                results = export_checkpoint(cfg, run_dir)
            else:
                results = task_module(cfg.task.name).run(cfg, run_dir, plan.device)
            if on_cuda:  # what the run held at most on the GPU (tensors, not the CUDA context)
                peak = torch.cuda.max_memory_allocated(plan.device)
                results["peak_gpu_memory_mb"] = round(peak / 2**20, 1)
            results["overrides"] = overrides
            write_json(run_dir / "results.json", results)
            return results
        except RLLabError as exc:
            record_failure(run_dir, cfg, overrides, exc)
            raise
        except OSError as exc:  # a full disk, a folder made read-only mid-run
            stopped = RunDirError(
                cannot_write(Path(exc.filename or run_dir), exc)
                + " The run stopped; its checkpoints are written to a temporary file and renamed "
                "only when complete, so the last one written is intact: continue from it with "
                f"`python -m rl_lab resume=true hydra.run.dir={run_dir}` once the disk is fixed."
            )
            record_failure(run_dir, cfg, overrides, stopped)
            raise stopped from exc


def _progress_words(results: dict[str, Any]) -> str:
    if "env_steps" in results:
        return f"{int(results['env_steps']):,} env steps"
    return f"{results.get('epochs_run', '?')} epochs"


def record_failure(run_dir: Path, cfg: DictConfig, overrides: list[str], exc: RLLabError) -> None:
    """Write a ``failed``/``interrupted``/``pruned`` ``results.json`` unless that would replace a
    finished run's results (by the caller that owns ``run_dir``)."""
    if finished_results(run_dir) is not None:
        return
    if isinstance(exc, RunPrunedError):
        status = "pruned"
    else:
        status = "interrupted" if isinstance(exc, InterruptedRunError) else "failed"
    try:
        write_json(
            run_dir / "results.json",
            {
                "status": status,
                "error": str(exc),
                "error_type": type(exc).__name__,
                "seed": OmegaConf.select(cfg, "seed"),
                "overrides": overrides,
            },
        )
    except OSError as write_error:  # a full or read-only disk: the console has the message
        log.error("Could not record the failure in %s/results.json: %s", run_dir, write_error)


def record_refusal(
    run_dir: Path,
    cfg: DictConfig,
    overrides: list[str],
    exc: RLLabError,
    hydra_record: dict[str, str] | None = None,
) -> None:
    """A run refused before it owned ``run_dir``: the ``failed`` ``results.json``, Hydra's
    record and the log go only into a directory that holds no run and that no other process
    owns (e.g. a sweep's job directory, so the sweep's report shows the failed job)."""
    if holds_run(run_dir) is not None or read_json(run_dir / "run_info.json") is not None:
        return
    try:
        with RunDirLock(run_dir):
            claim_run_log()
            if hydra_record:
                write_hydra_record(run_dir, hydra_record)
            record_failure(run_dir, cfg, overrides, exc)
    except (RunDirError, OSError):
        pass  # it cannot be written or is another process's: the console has the message


def run_and_report(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str],
    multirun: bool,
    reference: Composer | None = None,
    hydra_record: dict[str, str] | None = None,
) -> float:
    """:func:`run` with errors reported as one paragraph; returns the run's objective.

    In a single run an error exits with status 2 (130 when interrupted). A run refused before
    it owned its directory records ``status: failed`` there only where that replaces no run
    (:func:`record_refusal`). In a multirun the job returns NaN so the sweep goes on.
    """
    try:
        results = run(cfg, run_dir, overrides, reference, hydra_record)
    except RLLabError as exc:
        record_refusal(run_dir, cfg, overrides, exc, hydra_record)
        log.error("%s", exc)
        if multirun:
            return math.nan
        sys.exit(130 if isinstance(exc, InterruptedRunError) else 2)
    return float(results["objective"])
