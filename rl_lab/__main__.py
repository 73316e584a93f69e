"""``python -m rl_lab`` / ``rl-lab``: the Hydra entry point.

Examples::

    python -m rl_lab agent=dqn env=CartPole-v1
    python -m rl_lab -m agent=dqn env=CartPole-v1 seed=0,1,2,3,4
    python -m rl_lab mode=eval checkpoint=outputs/.../checkpoints/best.pt episodes=20
    python -m rl_lab mode=sample checkpoint=outputs/.../checkpoints/last.pt n=64 label=3

A checkpoint knows its task: with ``checkpoint=`` and no ``task=``, the task (and the agent and
env of an RL checkpoint) come from it. The main returns the final greedy evaluation mean, so
Hydra sweepers can optimise it.
"""

from __future__ import annotations

import atexit
import gc
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import initialize_config_dir
from hydra._internal import utils as hydra_utils
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rl_lab import hydra_env_source
from rl_lab.app import CONFIG_DIR, override_key, run_and_report
from rl_lab.config import unknown_keys_message

hydra_env_source.register()
if not OmegaConf.has_resolver("sanitize"):
    # "ALE/Pong-v5" -> "ALE-Pong-v5": env ids inside run-directory names
    OmegaConf.register_new_resolver("sanitize", lambda s: re.sub(r"[^A-Za-z0-9_.-]", "-", s))

__all__ = ["CONFIG_DIR", "main", "checkpoint_choices"]


def checkpoint_choices(argv: list[str]) -> list[str]:
    """The group choices a ``checkpoint=PATH`` on the command line implies and ``argv`` lacks:
    ``task=<kind>``, and the checkpoint's ``agent=``/``env=`` (RL) or ``model=``/``dataset=``
    choices where conf/ has them (they name the run directory). Empty when there is no
    checkpoint, a ``task=`` is given, or it is a multirun.

    Raises:
        CheckpointError: the checkpoint cannot be read (the caller reports it).
    """
    if "-m" in argv or "--multirun" in argv:
        return []
    values = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith(("+", "~")))
    if not values.get("checkpoint") or "task" in values or "resume" in values:
        return []
    from rl_lab import checkpoint  # torch: only when a checkpoint is named

    payload = checkpoint.load(values["checkpoint"], mmap=True)
    kind = payload.get("kind")
    saved = payload.get("config") or {}
    choices = [f"task={kind}"] if kind in ("rl", "supervised", "gan") else []
    groups = (
        {"agent": "name", "env": "id"} if kind == "rl" else {"model": "name", "dataset": "name"}
    )
    for group, field in groups.items():
        name = (saved.get(group) or {}).get(field)
        if not name or group in values or f"{group}.{field}" in values:
            continue
        if hydra_env_source.is_option(group, name):
            choices.append(f"{group}={name}")
    return choices


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Compose the config (Hydra), run the task, return the final evaluation mean."""
    hc = HydraConfig.get()
    record = {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hc})),
        "overrides.yaml": OmegaConf.to_yaml(hc.overrides.task),
    }
    return run_and_report(
        cfg,
        Path(hc.runtime.output_dir),
        list(hc.overrides.task),
        multirun=hc.mode == RunMode.MULTIRUN,
        reference=lambda overrides: hydra.compose(config_name="config", overrides=overrides),
        hydra_record=record,
    )


def unknown_override_message(exc: Exception, argv: list[str]) -> str | None:
    """Our paragraph for Hydra's refusal of an override of a key the config lacks (Hydra's own
    text advises adding the key with ``+``, which would only hide the typo); ``None`` for other
    errors."""
    found = re.match(r"Could not override '([^']+)'", str(exc))
    if not isinstance(exc, ConfigCompositionException) or found is None:
        return None
    key = found.group(1)
    others = [a for a in argv if "=" in a and not a.startswith("-") and override_key(a) != key]
    # the schema the key was looked up in: the config without the failing override (and,
    # failing that, without sweep values such as seed=0,1, which compose cannot take)
    plain = [a for a in others if "," not in a and "(" not in a]
    schema = _compose_or_none(others) or _compose_or_none(plain) or OmegaConf.create({})
    task = OmegaConf.select(schema, "task.name")
    return unknown_keys_message([key], schema, f"task={task}" if task else "this config")


def null_group_message(exc: Exception, argv: list[str]) -> str | None:
    """Our paragraph for ``group=null`` on the command line (Hydra refuses it with a
    ValueError): a group's default is removed with ``~group``; ``None`` for other errors."""
    if not (isinstance(exc, ValueError) and "Config group override must be" in str(exc)):
        return None
    groups = [a.partition("=")[0] for a in argv if a.endswith("=null") and "." not in a]
    group = groups[0] if groups else "GROUP"
    return (
        f"`{group}=null` cannot remove the {group} group from the command line. Write "
        f"`~{group}` instead (e.g. `~preset` runs without the tuned preset), or pick one of "
        f"its options with `{group}=NAME`."
    )


def _compose_or_none(overrides: list[str]) -> DictConfig | None:
    try:
        if GlobalHydra.instance().is_initialized():
            return hydra.compose(config_name="config", overrides=overrides)
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return hydra.compose(config_name="config", overrides=overrides)
    except Exception:  # a second bad key, say: no suggestions then
        return None


def _report_unknown_overrides(report: Callable[[Callable[[], Any]], Any]) -> Any:
    """Wrap Hydra's error reporter so that an unknown key gets :func:`unknown_override_message`."""

    def run_and_report(func: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            try:
                return func()
            except Exception as exc:
                message = unknown_override_message(exc, sys.argv[1:]) or null_group_message(
                    exc, sys.argv[1:]
                )
                if message is None:
                    raise
                print(f"Error: {message}", file=sys.stderr)
                sys.exit(2)

        return report(guarded)

    return run_and_report


def cli() -> None:
    """``rl-lab``: :func:`main`, with the choices a checkpoint implies added to the command and
    unknown keys explained."""
    from rl_lab.errors import RLLabError

    try:
        implied = checkpoint_choices(sys.argv[1:])
    except RLLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:1] = implied
    hydra_utils.run_and_report = _report_unknown_overrides(hydra_utils.run_and_report)
    # At exit the interpreter's last garbage collections walk every object of the imported
    # libraries (torch's alone: tenths of a second); frozen objects are left out of them.
    # Finalizers and other exit handlers run as usual.
    atexit.register(gc.freeze)
    main()


if __name__ == "__main__":
    cli()
