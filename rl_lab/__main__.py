"""``python -m rl_lab`` / ``rl-lab``: the Hydra entry point.

Examples::

    python -m rl_lab agent=dqn env=CartPole-v1
    python -m rl_lab -m agent=dqn env=CartPole-v1 seed=0,1,2,3,4
    python -m rl_lab mode=eval checkpoint=outputs/.../checkpoints/best.pt episodes=20

The main returns the final greedy evaluation mean, so Hydra sweepers can optimise it.
"""

from __future__ import annotations

import re
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rl_lab import hydra_env_source
from rl_lab.app import run_and_report

hydra_env_source.register()
if not OmegaConf.has_resolver("sanitize"):
    # "ALE/Pong-v5" -> "ALE-Pong-v5": env ids inside run-directory names
    OmegaConf.register_new_resolver("sanitize", lambda s: re.sub(r"[^A-Za-z0-9_.-]", "-", s))

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Compose the config (Hydra), run the task, return the final evaluation mean."""
    hc = HydraConfig.get()
    return run_and_report(
        cfg,
        Path(hc.runtime.output_dir),
        list(hc.overrides.task),
        multirun=hc.mode == RunMode.MULTIRUN,
    )


if __name__ == "__main__":
    main()
