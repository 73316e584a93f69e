from pathlib import Path

import pytest
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from rl_lab.baselines.mapping import SB3_ALGOS, _flatten, sb3_kwargs
from rl_lab.errors import ConfigError
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.task import build_agent, validate_rl_config

CONF = Path(__file__).resolve().parents[2] / "conf"
PRESETS = [
    (algo.name, path.stem)
    for algo in SB3_ALGOS.values()
    for path in sorted((CONF / "preset" / algo.ours).glob("*.yaml"))
]


@pytest.mark.parametrize("name", sorted(SB3_ALGOS))
def test_every_agent_key_is_mapped(compose_cfg, name):
    algo = SB3_ALGOS[name]
    cfg = compose_cfg(f"agent={algo.ours}")
    assert set(_flatten(cfg.agent)) <= algo.covered_keys()


@pytest.mark.parametrize(("name", "env"), PRESETS, ids=lambda x: str(x))
def test_presets_map_one_to_one(compose_cfg, name, env):
    algo = SB3_ALGOS[name]
    ours = compose_cfg(f"agent={algo.ours}", f"env={env}")
    theirs = compose_cfg(f"agent={name}", f"env={env}")
    assert {k: v for k, v in theirs.agent.items() if k != "name"} == {
        k: v for k, v in ours.agent.items() if k != "name"
    }
    assert theirs.total_steps == ours.total_steps
    kwargs = sb3_kwargs(algo, theirs.agent, action_dim=1)
    for key in algo.direct:
        assert kwargs[key] == ours.agent[key], key
    learning_rate = kwargs["learning_rate"]
    if ours.agent.lr_schedule == "linear":
        assert isinstance(learning_rate, LinearSchedule)
        assert learning_rate(1.0) == pytest.approx(ours.agent.learning_rate)
        assert learning_rate(0.0) == 0.0
    else:
        assert learning_rate == ours.agent.learning_rate
    assert kwargs["policy"] == "MlpPolicy"
    net = ours.agent.network
    if name == "sb3_dqn":
        assert kwargs["policy_kwargs"]["net_arch"] == list(net.encoder.hidden_sizes)
    else:
        assert kwargs["policy_kwargs"]["net_arch"] == {
            "pi": list(net.actor.hidden_sizes),
            "qf": list(net.critic.hidden_sizes),
        }
        assert kwargs["action_noise"]._sigma.tolist() == [ours.agent.action_noise_std]
    assert kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU


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


def test_built_sb3_td3_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=sb3_td3", "env=Pendulum-v1", "agent.action_noise_std=0.3")
    validate_rl_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.policy_delay == 2 and model.gamma == 0.98 and model.buffer_size == 200_000
    assert model.action_noise._sigma.tolist() == [0.3]
    actor = [m.out_features for m in model.actor.mu.modules() if isinstance(m, nn.Linear)]
    assert actor == [400, 300, 1]


def test_td3_actor_and_critic_activations_must_match(compose_cfg):
    cfg = compose_cfg("agent=sb3_td3", "env=Pendulum-v1", "agent.network.actor.activation=tanh")
    with pytest.raises(ConfigError, match="one activation for actor and critic"):
        validate_rl_config(cfg)
