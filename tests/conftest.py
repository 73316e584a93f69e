"""Shared fixtures: compose the real Hydra config in-process, and tiny-budget overrides."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import rl_lab.__main__ as entry  # registers the env config source and resolvers

ROOT = Path(__file__).resolve().parent.parent

#: A DQN run on CartPole that finishes in about a second.
TINY = [
    "total_steps=1200",
    "agent.learning_starts=200",
    "agent.train_freq=4",
    "agent.gradient_steps=1",
    "agent.batch_size=16",
    "agent.buffer_size=2000",
    "agent.target_update_interval=100",
    "agent.network.encoder.hidden_sizes=[16,16]",
    "eval.freq=400",
    "eval.episodes=3",
    "eval.final_episodes=3",
    "checkpointing.freq=400",
    "logging.log_freq=200",
    "progress=false",
    "device=cpu",  # exact-equality tests: the same on a machine with a GPU
    "eval.select=last",  # the final policy is the last one (the preset picks best.pt)
]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where torch sees a CUDA device (scripts/gpu_check.sh runs
    them with ``-m cuda`` on a GPU machine); elsewhere they are skipped, saying why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run scripts/gpu_check.sh on a GPU)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def compose_cfg():
    """``compose_cfg(*overrides) -> DictConfig`` from conf/ (without the hydra node)."""

    def _compose(*overrides: str) -> DictConfig:
        # device=cpu unless a test asks for another: results must not depend on a GPU being there
        pinned = [] if any(o.startswith("device=") for o in overrides) else ["device=cpu"]
        with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[*pinned, *overrides])

    return _compose


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test, as runs use by default (``torch_threads=1``):
    tiny networks are fastest that way, and on the shared test machine extra threads only wait.
    The caller's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m rl_lab ARGS`` in a subprocess; returns the completed process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rl_lab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
