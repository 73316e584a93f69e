"""The agent registry and ``impl``: one agent config, two implementations, imported on use."""

import ast
import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from rl_lab import app
from rl_lab.agents import AGENTS, IMPLS, agent_label, load
from rl_lab.errors import ConfigError
from rl_lab.rl.task import validate_config
from tests.conftest import ROOT, TINY, run_cli

#: A tiny DQN run in a fresh interpreter; prints the SB3 (and boto3, which TensorBoard would
#: import for s3:// paths) modules it imported, as JSON.
_DQN_RUN = """
import json, sys
from pathlib import Path
from hydra import compose, initialize_config_dir
import rl_lab.__main__ as entry
from rl_lab import app

overrides = json.loads(sys.argv[1])
with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
    cfg = compose(config_name="config", overrides=overrides)
results = app.run(cfg, Path(sys.argv[2]), overrides)
assert results["status"] == "completed", results
kept_out = ("stable_baselines3", "sb3_contrib", "boto3")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in kept_out)))
"""


def test_a_dqn_run_imports_neither_sb3_nor_sb3_contrib_nor_boto3(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _DQN_RUN, json.dumps(["agent=dqn", *TINY]), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert json.loads((tmp_path / "results.json").read_text())["impl"] == "rl_lab"


def test_rl_never_imports_baselines():
    """The SB3 runner builds on rl/, not the reverse: rl/ names it only in the registry."""
    for path in sorted((ROOT / "rl_lab" / "rl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("rl_lab.baselines", "stable_baselines3", "sb3_")), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


def test_every_registry_path_imports():
    for name, entry in AGENTS.items():
        assert isinstance(load(entry.rl_lab), type), name
        assert entry.sb3 is None or load(entry.sb3).sb3_class, name
    for impl in IMPLS.values():
        trainer = load(impl.trainer)
        assert all(callable(getattr(trainer, m)) for m in ("check_config", "build_agent"))


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_the_run_directory_name_says_who_trained(compose_cfg, impl):
    cfg = compose_cfg("agent=dqn", f"impl={impl}", "env=CartPole-v1")
    assert cfg.task.run_name == f"{agent_label('dqn', impl)}_CartPole-v1"
    assert cfg.tuned_preset == "dqn/CartPole-v1"  # the agent's preset, whoever trains it
    assert cfg.task.run_name == {"rl_lab": "dqn_CartPole-v1", "sb3": "sb3_dqn_CartPole-v1"}[impl]


def test_impl_is_validated_like_the_other_root_keys(compose_cfg):
    with pytest.raises(ConfigError, match=r"`impl='foo'` is invalid: expected one of rl_lab, sb3"):
        validate_config(compose_cfg("impl=foo"))


@pytest.mark.parametrize("name", sorted(n for n, entry in AGENTS.items() if entry.sb3))
def test_the_retired_sb3_spelling_names_the_new_one(compose_cfg, name):
    cfg = compose_cfg(f"agent=sb3_{name}", "agent.gamma=0.9")  # its agent.* overrides compose
    with pytest.raises(ConfigError, match=f"is now spelled `agent={name} impl=sb3`"):
        validate_config(cfg)


def test_the_retired_spelling_is_one_paragraph_on_the_command_line(tmp_path):
    proc = run_cli("agent=sb3_dqn", "agent.learning_rate=0.01", f"hydra.run.dir={tmp_path}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert "agent=sb3_dqn is now spelled `agent=dqn impl=sb3`" in output
    assert "Could not find" not in output


def test_a_saved_config_without_impl_is_upgraded(compose_cfg):
    """Runs saved before ``impl`` existed resume and evaluate as what they were."""
    for name, impl in (("dqn", "rl_lab"), ("sb3_dqn", "sb3")):
        saved = OmegaConf.to_container(compose_cfg("agent=dqn", f"agent.name={name}"), resolve=True)
        del saved["impl"]
        cfg = OmegaConf.create(saved)  # as config.yaml and checkpoints hold it
        validate_config(cfg)
        assert (cfg.agent.name, cfg.impl) == ("dqn", impl)


def test_resume_refuses_another_impl(compose_cfg, tmp_path):
    overrides = ["agent=dqn", *TINY]
    app.run(compose_cfg(*overrides), tmp_path, overrides)
    resume = ["resume=true", "impl=sb3", "total_steps=1600"]
    with pytest.raises(ConfigError, match="Cannot change `impl` when resuming"):
        app.run(compose_cfg(*overrides, *resume), tmp_path, resume)
    assert json.loads((tmp_path / "results.json").read_text())["env_steps"] == 1200  # kept
