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

import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rl_lab import hydra_env_source
from rl_lab.app import CONFIG_DIR, run_and_report

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
        # env ids need no file (rl_lab.hydra_env_source); other choices are files in conf/
        if group == "env" or (Path(CONFIG_DIR) / group / f"{name}.yaml").is_file():
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


def cli() -> None:
    """``rl-lab``: :func:`main`, with the choices a checkpoint implies added to the command."""
    from rl_lab.errors import RLLabError

    try:
        implied = checkpoint_choices(sys.argv[1:])
    except RLLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:1] = implied
    main()


if __name__ == "__main__":
    cli()
