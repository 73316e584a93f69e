import pytest
from omegaconf import OmegaConf

from rl_lab.config import Rule, validate
from rl_lab.errors import ConfigError
from rl_lab.rl.task import validate_config


def test_defaults_compose_to_the_tuned_cartpole_preset(compose_cfg):
    cfg = compose_cfg()
    validate_config(cfg)
    assert cfg.agent.name == "dqn" and cfg.env.id == "CartPole-v1"
    assert cfg.total_steps == 50_000  # from conf/preset/dqn/CartPole-v1.yaml


def test_command_line_overrides_win_over_the_preset(compose_cfg):
    cfg = compose_cfg("agent.learning_rate=0.01", "total_steps=1234")
    assert cfg.agent.learning_rate == 0.01 and cfg.total_steps == 1234


def test_any_registered_env_id_composes_without_a_preset_file(compose_cfg):
    # an id without conf/env/<id>.yaml and without a preset (Acrobot-v1 has RL Zoo's preset now)
    cfg = compose_cfg("env=CartPole-v0")
    validate_config(cfg)
    assert cfg.env.id == "CartPole-v0" and cfg.env.num_envs == 1
    assert cfg.agent.learning_rate == 6.3e-4  # the agent's defaults: no CartPole-v1 preset
    assert cfg.tuned_preset is None


def test_namespaced_env_ids_compose(compose_cfg):
    assert compose_cfg("env=ALE/Pong-v5").env.id == "ALE/Pong-v5"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("agent.batch_size=0", r"agent.batch_size=0.*integer >= 1"),
        ("agent.learning_rate=-1", r"agent.learning_rate=-1.*> 0"),
        ("agent.gamma=1.5", r"agent.gamma=1.5.*<= 1"),
        ("agent.loss=l1", r"agent.loss='l1'.*one of huber, mse"),
        ("device=tpu", r"device='tpu'.*auto, cpu, cuda"),
        ("agent.double_q=1", r"agent.double_q=1.*true or false"),
        ("eval.episodes=0", r"eval.episodes=0"),
    ],
)
def test_invalid_values_name_the_key_and_the_allowed_range(compose_cfg, override, expected):
    with pytest.raises(ConfigError, match=expected):
        validate_config(compose_cfg(override))


def test_all_problems_are_reported_at_once(compose_cfg):
    with pytest.raises(ConfigError) as info:
        validate_config(compose_cfg("agent.batch_size=0", "agent.gamma=2"))
    assert "agent.batch_size" in str(info.value) and "agent.gamma" in str(info.value)


def test_buffer_must_hold_a_batch(compose_cfg):
    with pytest.raises(ConfigError, match="buffer_size=10 is smaller than agent.batch_size=64"):
        validate_config(compose_cfg("agent.buffer_size=10"))


def test_unknown_env_suggests_close_matches(compose_cfg):
    with pytest.raises(ConfigError, match="Did you mean: CartPole-v1"):
        validate_config(compose_cfg("env=CartPol-v1"))
    with pytest.raises(ConfigError, match="Unknown environment id 'Nope-v0'"):
        validate_config(compose_cfg("env.id=Nope-v0"))


def test_integral_floats_are_accepted_for_integers():
    cfg = OmegaConf.create({"total_steps": 5e4, "lr": 1})
    validate(cfg, [Rule("total_steps", int, low=1), Rule("lr", float)])
    assert cfg.total_steps == 50_000 and isinstance(cfg.total_steps, int)
    assert isinstance(cfg.lr, float)
    with pytest.raises(ConfigError):
        validate(OmegaConf.create({"total_steps": 1.5}), [Rule("total_steps", int)])


def test_changing_only_env_id_warns_that_the_preset_is_for_another_env(compose_cfg, caplog):
    cfg = compose_cfg("env.id=Acrobot-v1")
    assert cfg.tuned_preset == "dqn/CartPole-v1"
    validate_config(cfg)
    assert "tuned for CartPole-v1" in caplog.text and "env=Acrobot-v1" in caplog.text
    caplog.clear()
    validate_config(compose_cfg("env=Acrobot-v1"))
    assert "tuned" not in caplog.text


@pytest.mark.parametrize("task", ["rl", "supervised", "gan"])
def test_the_shared_keys_are_the_common_config_class(compose_cfg, task):
    from rl_lab.config import COMMON_RULES, CommonConfig, schema

    cfg = compose_cfg(f"task={task}", "device=auto")
    defaults = schema(CommonConfig)
    assert {key: cfg[key] for key in defaults} == defaults
    assert {rule.key for rule in COMMON_RULES} == set(defaults)
