from pathlib import Path

import pytest
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from rl_lab.baselines.mapping import SB3_ALGOS, _flatten, sb3_kwargs
from rl_lab.errors import ConfigError
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.task import build_agent, validate_rl_config

PRESETS = sorted((Path(__file__).resolve().parents[2] / "conf" / "preset" / "dqn").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(SB3_ALGOS))
def test_every_agent_key_is_mapped(compose_cfg, name):
    algo = SB3_ALGOS[name]
    cfg = compose_cfg(f"agent={algo.ours}")
    assert set(_flatten(cfg.agent)) <= algo.covered_keys()


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_presets_map_one_to_one(compose_cfg, preset):
    ours = compose_cfg("agent=dqn", f"env={preset.stem}")
    theirs = compose_cfg("agent=sb3_dqn", f"env={preset.stem}")
    assert {k: v for k, v in theirs.agent.items() if k != "name"} == {
        k: v for k, v in ours.agent.items() if k != "name"
    }
    assert theirs.total_steps == ours.total_steps
    kwargs = sb3_kwargs(SB3_ALGOS["sb3_dqn"], theirs.agent)
    a = ours.agent
    assert kwargs["policy"] == "MlpPolicy"
    assert kwargs["policy_kwargs"]["net_arch"] == list(a.network.encoder.hidden_sizes)
    assert kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU
    for key in (
        "buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq",
        "gradient_steps", "target_update_interval", "exploration_fraction",
        "exploration_initial_eps", "exploration_final_eps", "max_grad_norm",
    ):  # fmt: skip
        assert kwargs[key] == a[key], key
    assert kwargs["learning_rate"] == a.learning_rate


def test_linear_learning_rate_becomes_an_sb3_schedule(compose_cfg):
    cfg = compose_cfg("agent=sb3_dqn", "agent.lr_schedule=linear", "agent.learning_rate=0.01")
    schedule = sb3_kwargs(SB3_ALGOS["sb3_dqn"], cfg.agent)["learning_rate"]
    assert isinstance(schedule, LinearSchedule)
    assert schedule(1.0) == pytest.approx(0.01) and schedule(0.25) == pytest.approx(0.0025)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("agent.double_q=true", "agent.double_q=True cannot be reproduced"),
        ("agent.network.head=dueling", "no dueling head"),
        ("agent.loss=mse", "Huber"),
        ("agent.network.encoder.dropout=0.1", "no dropout"),
    ],
)
def test_options_sb3_lacks_are_errors_that_name_them(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_rl_config(compose_cfg("agent=sb3_dqn", override))


def test_unknown_sb3_agent_lists_the_supported_ones(compose_cfg):
    cfg = compose_cfg("agent=sb3_dqn", "agent.name=sb3_foo")
    with pytest.raises(ConfigError, match="Available agents: .*sb3_dqn"):
        validate_rl_config(cfg)


def test_built_sb3_model_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=sb3_dqn", "agent.network.encoder.hidden_sizes=[32,16]")
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    model = agent.model
    assert model.batch_size == 64 and model.target_update_interval == 10
    assert model.train_freq.frequency == 256 and model.gradient_steps == 128
    linears = [m for m in model.policy.q_net.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [32, 16, 2]
