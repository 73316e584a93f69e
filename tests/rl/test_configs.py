"""The typed agent configs (rl_lab.rl.configs): one declaration per key gives its default, its
rule, its meaning, what Hydra composes and what the agent receives; presets hold differences."""

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.agents import AGENTS
from rl_lab.config import Rule, build_config, describe, rules_of, schema, with_overrides
from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError
from rl_lab.nets import INIT_SCHEMES
from rl_lab.rl import dqn
from rl_lab.rl.configs import (
    AGENT_CONFIGS,
    INIT_CHOICES,
    DDPGConfig,
    DQNConfig,
    PPOConfig,
    PPOLSTMConfig,
    TD3Config,
)
from rl_lab.rl.task import build_agent, validate_config

PRESETS = Path(__file__).resolve().parents[2] / "conf" / "preset"
PRESET_FILES = sorted(
    p for p in PRESETS.glob("*/**/*.yaml") if not p.relative_to(PRESETS).parts[0].startswith("_")
)


def test_every_agent_has_a_config_class_and_every_field_a_meaning():
    assert sorted(AGENT_CONFIGS) == sorted(AGENTS)
    for name, cls in AGENT_CONFIGS.items():
        assert cls().name == name
        for row in describe(cls, "agent"):
            key, _, allowed, meaning = row
            assert meaning or not allowed, f"{key} has no meaning"


def test_the_choices_are_the_zoo_s_and_the_agent_s():
    assert set(INIT_CHOICES) == set(INIT_SCHEMES)
    loss = next(f for f in fields(DQNConfig) if f.name == "loss")
    assert set(loss.metadata["choices"]) == set(dqn._LOSSES)


def test_rules_come_from_the_declarations():
    rules = {rule.key: rule for rule in rules_of(PPOConfig, "agent")}
    assert rules["agent.learning_rate"] == Rule(
        "agent.learning_rate", float, low=0.0, low_open=True
    )
    assert rules["agent.clip_range_vf"].nullable and rules["agent.clip_range_vf"].kind is float
    assert rules["agent.network.lstm.hidden_size"].low == 1  # nested config classes recurse
    assert rules["agent.lr_schedule"].choices == ("constant", "linear")
    assert "agent.network.encoder" not in rules  # a free-form zoo spec: the zoo checks it


def test_subclasses_change_defaults_not_keys():
    assert [f.name for f in fields(DDPGConfig)] == [f.name for f in fields(TD3Config)]
    assert (DDPGConfig().n_critics, DDPGConfig().policy_delay) == (1, 1)
    assert PPOLSTMConfig().recurrent and not PPOConfig().recurrent
    assert list(schema(DQNConfig))[0] == "name"  # the name first in every composed config


def test_build_and_override():
    config = build_config(DQNConfig, {"gamma": 0.9, "network": {"head": "dueling"}})
    assert config.gamma == 0.9 and config.network.head == "dueling"
    assert config.network.encoder == DQNConfig().network.encoder  # other nested fields kept
    changed = with_overrides(config, {"network": {"encoder": {"type": "nature_cnn"}}})
    assert changed.network.encoder == {"type": "nature_cnn"}  # a spec is replaced whole
    assert changed.network.head == "dueling"
    with pytest.raises(TypeError, match="no field.*gama"):
        with_overrides(config, {"gama": 0.9})
    with pytest.raises(TypeError, match="no field.*batchsize"):
        build_config(DQNConfig, {"batchsize": 1})
    with pytest.raises(FrozenInstanceError):
        config.gamma = 0.5  # type: ignore[misc]


def test_the_composed_agent_is_the_schema(compose_cfg):
    for name, cls in AGENT_CONFIGS.items():
        cfg = compose_cfg(f"agent={name}", "env=Acrobot-v1" if name != "td3" else "env=Pendulum-v1")
        if cfg.tuned_preset is None:
            assert OmegaConf.to_container(cfg.agent) == schema(cls)


def test_the_agent_receives_its_typed_config(compose_cfg):
    cfg = compose_cfg("agent=ddpg", "env=Pendulum-v1", "agent.tau=0.02")
    validate_config(cfg)
    agent = build_agent(cfg, *_spaces(cfg), "cpu")
    assert isinstance(agent.config, DDPGConfig)
    assert agent.config.tau == 0.02 and agent.config.n_critics == 1


def _spaces(cfg):
    from rl_lab.rl.envs import env_spaces

    return env_spaces(cfg.env)


def test_a_bad_value_is_one_paragraph_from_the_declared_rule(compose_cfg):
    cfg = compose_cfg("agent=ppo", "agent.n_epochs=0", "agent.clip_range_schedule=cosine")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert "`agent.n_epochs=0` is invalid: expected an integer >= 1" in str(info.value)
    assert "one of constant, linear" in str(info.value)


def test_integral_floats_are_still_accepted(compose_cfg):
    cfg = compose_cfg("agent=dqn", "agent.batch_size=6.4e1")
    validate_config(cfg)
    assert cfg.agent.batch_size == 64 and isinstance(cfg.agent.batch_size, int)


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: str(p.relative_to(PRESETS)))
def test_presets_hold_only_differences_and_name_themselves(compose_cfg, path):
    agent, *env = path.relative_to(PRESETS).with_suffix("").parts
    preset = OmegaConf.to_container(OmegaConf.load(path))
    assert "tuned_preset" not in preset  # derived when the file is loaded
    defaults = flatten(schema(AGENT_CONFIGS[agent]))
    same = [
        key
        for key, value in flatten(preset.get("agent") or {}).items()
        if key in defaults and defaults[key] == value and type(defaults[key]) is type(value)
    ]
    assert not same, f"{path.name} restates the defaults of {same}: drop them"
    env_id = "/".join(env)
    cfg = compose_cfg(f"agent={agent}", f"env={'ALE/Pong-v5' if env_id == 'ALE/atari' else env_id}")
    assert cfg.tuned_preset == f"{agent}/{env_id}"


def test_the_schema_command_prints_every_key(capsys):
    assert schema_cli.main(["agent=sac"]) == 0
    out = capsys.readouterr().out
    for key in flatten(schema(AGENT_CONFIGS["sac"])):
        assert f"agent.{key}" in out
    assert "auto_<v>" in out  # the meaning of ent_coef
    assert schema_cli.main(["agent=sacc"]) == 2
    assert "Available: agent=dqn|td3" in capsys.readouterr().err
    assert schema_cli.main(["--markdown", "dqn"]) == 0
    assert "| `agent.gamma` | 0.99 |" in capsys.readouterr().out


def test_the_rl_run_keys_are_the_run_config_class(compose_cfg):
    from rl_lab.rl.configs import RL_RULES, RLRunConfig

    cfg = compose_cfg("agent=td3", "env=Taxi-v4")  # no preset: every value is a default
    defaults = flatten(schema(RLRunConfig))
    composed = flatten(OmegaConf.to_container(cfg))
    assert {key: composed[key] for key in defaults} == defaults
    assert {rule.key for rule in RL_RULES} == {"mode", *defaults}
    assert schema_cli.main(["task=rl"]) == 0


def test_a_saved_run_config_gets_the_run_keys_added_since(compose_cfg):
    from rl_lab.rl.task import upgrade_saved_config

    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg("agent=dqn")))
    del saved.eval.select, saved.checkpointing
    upgrade_saved_config(saved)
    assert saved.eval.select == "last" and saved.checkpointing.save_buffer is True


# ------------------------------------------------------------------------------- the env
@pytest.mark.parametrize(
    ("env_id", "cls"),
    [
        ("CartPole-v1", "EnvConfig"),
        ("Acrobot-v1", "EnvConfig"),
        ("ALE/Breakout-v5", "AtariEnvConfig"),
    ],
)
def test_the_composed_env_is_its_config_class_with_the_id(compose_cfg, env_id, cls):
    from rl_lab.rl import configs

    cfg = compose_cfg("agent=reinforce", f"env={env_id}", "~preset")  # the env node alone
    expected = {**schema(getattr(configs, cls)), "id": env_id}
    assert OmegaConf.to_container(cfg.env) == expected


def test_env_rules_come_from_the_env_config_classes():
    from rl_lab.rl.configs import ATARI_RULES, ENV_RULES, AtariEnvConfig, EnvConfig

    plain = {k for k in flatten(schema(EnvConfig)) if k != "kwargs"}  # free-form
    assert {rule.key for rule in ENV_RULES} == {f"env.{k}" for k in plain}
    atari = {k for k in flatten(schema(AtariEnvConfig)) if k != "kwargs"} - plain
    assert {rule.key for rule in ATARI_RULES} == {f"env.{k}" for k in atari}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("env.num_envs=0", "env.num_envs"),
        ("env.vectorization=threads", "env.vectorization"),
        ("env.atari.frame_skip=0", "env.atari.frame_skip"),
        ("env.backend=envpool", "env.backend"),
    ],
)
def test_bad_env_values_are_refused_by_the_derived_rules(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("agent=dqn", "env=ALE/Pong-v5", override))


def test_the_schema_cli_lists_the_env_settings(capsys):
    assert schema_cli.main(["env=atari"]) == 0
    out = capsys.readouterr().out
    assert "env.atari.repeat_action_probability" in out and "env.backend" in out
    assert schema_cli.main(["env=default"]) == 0
    assert "env.atari" not in capsys.readouterr().out


@pytest.mark.parametrize("agent", ["dqn", "ppo", "a2c", "ppo_lstm", "reinforce"])
def test_the_encoder_option_replaces_the_agents_mlp(compose_cfg, agent):
    cfg = compose_cfg(f"agent={agent}", "env=Acrobot-v1", "encoder=nature_cnn")
    # replaced, not merged: no MLP key is left over
    assert dict(cfg.agent.network.encoder) == {"type": "nature_cnn", "features": 512}
    validate_config(OmegaConf.merge(cfg, {"mode": "eval"}))  # the keys are the agent's
    wider = compose_cfg(f"agent={agent}", "encoder=nature_cnn", "agent.network.encoder.features=64")
    assert dict(wider.agent.network.encoder) == {"type": "nature_cnn", "features": 64}
    # without the option, the agent keeps its own MLP
    assert compose_cfg(f"agent={agent}").agent.network.encoder.type == "mlp"


@pytest.mark.parametrize("agent", ["td3", "ddpg", "sac"])
def test_an_encoder_option_is_refused_for_agents_without_one_encoder(compose_cfg, agent):
    cfg = compose_cfg(f"agent={agent}", "env=Pendulum-v1", "encoder=nature_cnn")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert f"agent={agent} has no setting `agent.network.encoder`" in message
    assert "dqn, a2c, ppo, ppo_lstm, reinforce" in message
    assert "agent.network.actor, agent.network.critic" in message
