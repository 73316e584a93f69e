"""What the tests of the continuous-control agents (TD3, DDPG, SAC) share: tiny spaces and
networks, a tiny Pendulum run and its resumption, a replay batch, and parameter snapshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rl_lab import app
from rl_lab.rl.buffers import ReplayBatch

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
# asymmetric bounds, so a unit mistake (env units vs [-1, 1]) shows
ACTIONS = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32))
SMALL = {"type": "mlp", "hidden_sizes": [16]}
NET = {"actor": SMALL, "critic": SMALL, "init": "default"}


def tiny(agent: str) -> list[str]:
    """A run of ``agent`` on Pendulum that finishes in a few seconds (command-line values beat
    the preset)."""
    return [
        f"agent={agent}",
        "env=Pendulum-v1",
        "total_steps=600",
        "agent.learning_starts=200",
        "agent.batch_size=32",
        "agent.buffer_size=2000",
        "agent.network.actor.hidden_sizes=[16,16]",
        "agent.network.critic.hidden_sizes=[16,16]",
        "eval.freq=200",
        "eval.episodes=2",
        "eval.final_episodes=2",
        "checkpointing.freq=200",
        "logging.log_freq=100",
        "progress=false",
    ]


def resumed_twice(compose_cfg, base: list[str], tmp_path: Path, first: int, total: int):
    """Train ``base`` for ``first`` steps, copy the run directory, then resume both to ``total``
    steps: from the same last.pt a run must continue identically. Returns both resumed
    results and the two directories."""
    run, copy = tmp_path / "run", tmp_path / "copy"
    app.run(compose_cfg(*base, f"total_steps={first}"), run, [f"total_steps={first}"])
    shutil.copytree(run, copy)
    resume = ["resume=true", f"total_steps={total}"]
    resumed = app.run(compose_cfg(*base, *resume), run, resume)
    again = app.run(compose_cfg(*base, *resume), copy, resume)
    return resumed, again, run, copy


def make(agent_class: type, **kwargs):
    """An agent of ``agent_class`` (TD3, SAC) on the tiny spaces and networks, seeded; keyword
    arguments override its config."""
    torch.manual_seed(0)
    defaults = {"total_steps": 1000, "network": NET, "learning_rate": 1e-2}
    return agent_class(OBS, ACTIONS, **{**defaults, **kwargs})


def batch(n: int = 8, terminated: float = 0.0, seed: int = 0) -> ReplayBatch:
    """A replay batch on :data:`OBS` and :data:`ACTIONS` (actions in env units)."""
    rng = np.random.default_rng(seed)
    return ReplayBatch(
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        rng.uniform(ACTIONS.low, ACTIONS.high, (n, 2)).astype(np.float32),  # env units
        rng.normal(size=n).astype(np.float32),
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        np.full(n, terminated, np.float32),
    )


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
