"""Private configs (``_`` names: shared parts of other configs) are never offered as choices:
not in Hydra's "Available options", not in ``--help``, not in tab completion; the configs that
list them in their defaults still compose with them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.plugins.completion_plugin import DefaultCompletionPlugin

import rl_lab.__main__ as entry
from tests.conftest import ROOT, run_cli

CONF = Path(entry.CONFIG_DIR)

#: Every private config file and folder of conf/, as (group, name): ("preset", "_atari").
PRIVATE = sorted(
    (str(path.parent.relative_to(CONF)), path.stem)
    for path in CONF.rglob("_*")
    if path.is_dir() or path.suffix == ".yaml"
)


def is_private(option: str) -> bool:
    """Whether a listed option, a group path or a completion names a private config."""
    return any(part.startswith("_") for part in re.split(r"[/=]", option) if part)


def test_conf_has_private_configs_to_hide():
    names = {f"{group}/{name}" for group, name in PRIVATE}
    assert "encoder/_clear" in names
    assert "hydra/launcher/_ray_settings" in names


def test_a_misspelt_agent_lists_the_agents_and_no_private_config(tmp_path):
    proc = run_cli("agent=dqnn", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0
    listing = proc.stderr.split("Available options in 'agent':", 1)[1]
    options = re.findall(r"^\t(\S+)$", listing.split("Config search path:", 1)[0], re.M)
    assert {"dqn", "ppo", "a2c", "ppo_lstm", "td3"} <= set(options)
    assert not [o for o in options if is_private(o)], options


def test_help_lists_no_private_config_or_group():
    groups = {}
    for flag in ("--help", "--hydra-help"):
        proc = run_cli(flag)
        assert proc.returncode == 0, proc.stderr
        groups.update(re.findall(r"^([\w/-]+): (.+)$", proc.stdout, re.M))
    assert {"agent", "env", "preset/dqn", "hydra/launcher"} <= set(groups)
    assert not [g for g in groups if is_private(g)]
    for group, options in groups.items():
        assert not [o for o in options.split(", ") if is_private(o)], (group, options)


def test_tab_completion_of_agent_offers_no_private_config():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMP_LINE": "rl-lab agent="}
    proc = subprocess.run(
        [sys.executable, "-m", "rl_lab", "-sc", "query=bash"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    offered = proc.stdout.split()
    assert {"agent=dqn", "agent=ppo", "agent=a2c", "agent=td3"} <= set(offered)
    assert not [o for o in offered if is_private(o)], offered


@pytest.fixture
def hydra_loader():
    """Hydra's config loader for conf/, as the CLI and the tests' compose use it."""
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


@pytest.mark.parametrize("line", ["agent=", "env=", "preset/", "preset/dqn/", "hydra/launcher="])
def test_completions_offer_no_private_config(hydra_loader, line):
    offered = DefaultCompletionPlugin(hydra_loader)._query(config_name="config", line=line)
    assert offered and not [o for o in offered if is_private(o)], offered


@pytest.mark.parametrize(("group", "name"), PRIVATE)
def test_no_group_lists_a_private_config(hydra_loader, group, name):
    listed = hydra_loader.get_group_options(group, results_filter=None)
    assert listed and name not in listed  # files and sub-folders alike


def test_private_configs_still_compose_into_the_configs_that_use_them(compose_cfg):
    ppo = compose_cfg("agent=ppo")  # agent/_actor_critic
    assert ppo.agent.network.init == "orthogonal" and ppo.agent.normalize_obs is False
    acrobot = compose_cfg("env=Acrobot-v1")  # env/_base, through the gymenv:// source
    assert acrobot.env.num_envs == 1 and acrobot.env.vectorization == "sync"
    pong = compose_cfg("agent=ppo", "env=ALE/Pong-v5")  # encoder/nature_cnn, encoder/_clear
    assert dict(pong.agent.network.encoder) == {"type": "nature_cnn", "features": 512}  # replaced
    ray = compose_cfg("hydra/launcher=ray")  # hydra/launcher/_ray_settings
    assert ray.launcher.cpus_per_job == 1
