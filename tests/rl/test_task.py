"""The rl task module: the agent registry and its typed configs, the implementation choice,
saved-config upgrades, action-space checks, presets, validation before work, what results.json
records."""

from __future__ import annotations

import logging

import gymnasium as gym
import pytest
from omegaconf import OmegaConf, open_dict

from rl_lab import app
from rl_lab.errors import ConfigError
from rl_lab.rl import task
from rl_lab.rl.configs import AGENT_CONFIGS, DQNConfig, PPOConfig
from rl_lab.rl.task import available_presets, preset_message
from tests.conftest import TINY


def test_a_run_says_which_preset_it_applied_or_that_none_exists(compose_cfg):
    level, line = preset_message(compose_cfg("agent=ppo", "env=Pendulum-v1"))
    assert level == logging.INFO and "ppo/Pendulum-v1 applied" in line
    level, line = preset_message(compose_cfg("agent=dqn", "env=CartPole-v0"))
    assert (
        level == logging.WARNING and "No tuned preset exists for agent=dqn on CartPole-v0" in line
    )
    assert "Nearest presets of dqn: CartPole-v1" in line
    level, line = preset_message(compose_cfg("agent=a2c", "env=LunarLanderContinuous-v3"))
    assert "Agents with a preset for LunarLanderContinuous-v3: " in line and "ppo" in line
    assert "CartPole-v1" in available_presets()["dqn"] and "_atari" not in available_presets()


def test_results_record_the_preset(compose_cfg, tmp_path):
    results = app.run(compose_cfg(*TINY), tmp_path, [])
    assert results["preset"] == "dqn/CartPole-v1"


def test_select_best_scores_best_pt_on_episodes_it_was_not_picked_on(compose_cfg, tmp_path):
    from rl_lab import checkpoint

    overrides = [*TINY, "eval.select=best", "eval.episodes=3", "eval.final_episodes=4"]
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    selection = results["selection"]
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    last = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert selection["env_steps"] == best["loop"]["env_steps"]
    assert selection["selection_mean_return"] == max(
        h["mean_return"] for h in results["eval_history"]
    )
    assert selection["final_seed"] == 1_000_000 + 3  # after the 3 selection episodes
    assert results["eval"]["episodes"] == 4
    # the last policy competed on the selection episodes too; last.pt keeps it for resuming
    assert results["eval_history"][-1]["env_steps"] == 1200 and last["loop"]["env_steps"] == 1200
    # the reported score is best.pt's on the disjoint episodes: mode=eval with those seeds agrees
    eval_overrides = [
        "mode=eval", f"checkpoint={tmp_path / 'checkpoints' / 'best.pt'}", "episodes=4",
        "eval.seed=1000003",
    ]  # fmt: skip
    scored = app.run(compose_cfg(*eval_overrides), tmp_path / "eval", eval_overrides)
    assert scored["eval"]["returns"] == results["eval"]["returns"]
    assert last["agent"]["updates"] == 250 >= best["agent"]["updates"]


@pytest.mark.parametrize("name", sorted(AGENT_CONFIGS))
def test_every_agent_class_names_a_loop_and_its_rules_cover_its_config(name):
    cls = task.agent_class(name)
    assert cls.LOOP in task.LOOPS
    keys = {rule.key for rule in task.agent_rules(name)}
    assert "agent.gamma" in keys and "agent.name" in keys


def test_build_agent_hands_the_agent_its_typed_config(compose_cfg):
    cfg = compose_cfg("agent=dqn", "env=CartPole-v1", "agent.learning_rate=0.002")
    env = gym.make("CartPole-v1")
    agent = task.build_agent(cfg, env.observation_space, env.action_space, "cpu")
    assert isinstance(agent.config, DQNConfig)
    assert agent.config.learning_rate == 0.002
    assert agent.config.network.encoder["hidden_sizes"] == [256, 256]  # the preset's
    assert agent.total_steps == cfg.total_steps


def test_the_loop_follows_the_agent_kind(compose_cfg):
    dqn, ppo = compose_cfg("agent=dqn"), compose_cfg("agent=ppo")
    assert task.implementation(dqn) is task.RL_LAB
    assert task.RL_LAB.loop_class(dqn) is task.LOOPS["off_policy"]
    assert task.RL_LAB.loop_class(ppo) is task.LOOPS["on_policy"]
    assert task.RL_LAB.extra_results(object()) == {}


def test_a_ppo_config_built_from_the_composed_node_keeps_nested_settings(compose_cfg):
    cfg = compose_cfg("agent=ppo", "env=CartPole-v1", "agent.network.lstm.hidden_size=32")
    env = gym.make("CartPole-v1")
    agent = task.build_agent(cfg, env.observation_space, env.action_space, "cpu")
    assert isinstance(agent.config, PPOConfig)
    assert agent.config.network.lstm.hidden_size == 32
    assert agent.config.n_steps == 32  # ppo/CartPole-v1's rollout


def test_a_saved_config_from_before_impl_is_upgraded():
    old = OmegaConf.create({"agent": {"name": "sb3_dqn"}, "eval": {"episodes": 5}})
    task.upgrade_saved_config(old)
    assert (old.impl, old.agent.name, old.eval.select) == ("sb3", "dqn", "last")
    ours = OmegaConf.create({"agent": {"name": "ppo"}})
    task.upgrade_saved_config(ours)
    assert ours.impl == "rl_lab" and ours.agent.name == "ppo"


def test_resuming_with_another_impl_is_refused(compose_cfg, tmp_path):
    cfg = compose_cfg("agent=dqn", "impl=sb3")
    payload = {"config": OmegaConf.to_container(compose_cfg("agent=dqn"))}
    with pytest.raises(ConfigError, match="Cannot change `impl` when resuming"):
        task.check_same_impl(cfg, payload, tmp_path / "last.pt")
    task.check_same_impl(compose_cfg("agent=dqn"), payload, tmp_path / "last.pt")


@pytest.mark.parametrize(
    ("agent", "space", "ok"),
    [
        ("dqn", gym.spaces.Discrete(3), True),
        ("dqn", gym.spaces.Box(-1, 1, (2,)), False),
        ("td3", gym.spaces.Box(-1, 1, (2, 2)), True),
        ("ppo", gym.spaces.Box(-1, 1, (2,)), True),
        ("ppo", gym.spaces.Box(-1, 1, (2, 2)), False),
        ("sac", gym.spaces.MultiDiscrete([2, 2]), False),
    ],
)
def test_action_spaces(agent, space, ok):
    if ok:
        task.check_action_space(agent, "Some-v0", space)
        return
    with pytest.raises(ConfigError, match=f"agent={agent} cannot act in Some-v0"):
        task.check_action_space(agent, "Some-v0", space)


def test_a_space_no_agent_acts_in_says_so():
    space = gym.spaces.Text(5)
    with pytest.raises(ConfigError, match="No rl_lab agent acts in it"):
        task.check_action_space("dqn", "Text-v0", space)


def test_available_presets_are_keyed_by_agent_and_skip_private_files():
    presets = task.available_presets()
    assert "CartPole-v1" in presets["dqn"] and "ALE/atari" in presets["ppo"]
    assert not any(agent.startswith("_") for agent in presets)
    assert set(presets) <= set(AGENT_CONFIGS)


def test_validate_config_refuses_a_bad_agent_value_with_its_rule(compose_cfg):
    cfg = compose_cfg("agent=dqn", "agent.gamma=1.5")
    with pytest.raises(ConfigError, match=r"agent\.gamma"):
        task.validate_config(cfg)


def test_a_preset_of_another_env_is_warned_about(compose_cfg, caplog):
    cfg = compose_cfg("agent=dqn", "env=CartPole-v1", "env.id=Acrobot-v1")
    with caplog.at_level(logging.WARNING, logger=task.log.name):
        task.validate_config(cfg)
    assert "tuned for CartPole-v1" in caplog.text


def test_a_preset_turned_off_is_not_reported_as_missing(compose_cfg):
    for overrides in (["~preset"], ["experiment=dli_cartpole_dqn"]):
        cfg = compose_cfg("agent=dqn", "env=CartPole-v1", *overrides)
        assert cfg.get("tuned_preset") is None
        level, line = preset_message(cfg)
        assert level == logging.INFO and "is not applied" in line and "No tuned" not in line


@pytest.mark.parametrize("impl", ["rl_lab", "sb3"])
def test_stop_at_ends_training_and_scores_on_other_episodes(compose_cfg, tmp_path, impl):
    overrides = [*TINY, f"impl={impl}", "eval.stop_at=0", "eval.episodes=3",
                 "eval.final_episodes=4"]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    # every CartPole return is >= 0, so the first periodic evaluation (at 400 steps) stops it
    assert results["stopped_early_at"] == results["env_steps"] == 400 < 1200
    assert [h["env_steps"] for h in results["eval_history"]] == [400, 400]
    # the final score: the last policy on 4 episodes seeded after the 3 that stopped it
    eval_overrides = ["mode=eval", f"checkpoint={tmp_path / 'checkpoints' / 'last.pt'}",
                      "episodes=4", "eval.seed=1000003"]  # fmt: skip
    scored = app.run(compose_cfg(*eval_overrides), tmp_path / "eval", eval_overrides)
    assert scored["eval"]["returns"] == results["eval"]["returns"]


def test_a_run_without_stop_at_trains_its_budget(compose_cfg, tmp_path):
    results = app.run(compose_cfg(*TINY), tmp_path, [])
    assert results["stopped_early_at"] is None and results["env_steps"] == 1200


def test_ppo_cartpole_fast_composes_and_trains_on_native_envs(compose_cfg, tmp_path):
    overrides = ["experiment=ppo_cartpole_fast", "total_steps=1024", "eval.freq=512",
                 "progress=false"]  # fmt: skip
    cfg = compose_cfg(*overrides)
    task.validate_config(cfg)
    assert cfg.get("tuned_preset") is None and cfg.env.vectorization == "native"
    assert (cfg.eval.stop_at, cfg.agent.n_steps, cfg.env.num_envs) == (490, 16, 32)
    results = app.run(cfg, tmp_path, overrides)
    assert results["status"] == "completed" and results["env_steps"] == 1024
    assert results["eval"]["episodes"] == 20


def test_dqn_cartpole_fast_composes_and_trains_on_native_envs(compose_cfg, tmp_path):
    overrides = ["experiment=dqn_cartpole_fast", "total_steps=1536", "eval.freq=1024",
                 "eval.episodes=2", "progress=false"]  # fmt: skip
    cfg = compose_cfg(*overrides)
    task.validate_config(cfg)
    assert cfg.get("tuned_preset") is None and cfg.env.vectorization == "native"
    a = cfg.agent
    assert (a.train_freq, a.gradient_steps, a.learning_rate) == (16, 32, 2.3e-3)
    assert (cfg.eval.stop_at, cfg.env.num_envs) == (490, 8)
    results = app.run(cfg, tmp_path, overrides)
    assert results["status"] == "completed" and results["env_steps"] == 1536
    # a phase of 32 gradient steps every 16 vector steps (128 env steps) once 1,000 are in the
    # replay: at 1,024, 1,152, 1,280, 1,408 and 1,536
    assert results["gradient_steps"] == 32 * 5
    assert results["eval"]["episodes"] == 20


def test_sb3_refuses_native_vectorization(compose_cfg):
    with pytest.raises(ConfigError, match="impl=sb3 steps its own vector envs"):
        task.validate_config(compose_cfg("agent=ppo", "impl=sb3", "env.vectorization=native"))


def test_the_books_dqn_agent_composes_with_its_own_settings_only(compose_cfg):
    cfg = compose_cfg("experiment=dli_cartpole_dqn")
    task.validate_config(cfg)
    a = cfg.agent
    assert (a.buffer_size, a.batch_size, a.gradient_steps, a.gamma) == (2000, 1, 32, 0.95)
    assert a.train_freq_unit == "episode" and a.target_network is False
    assert a.exploration_schedule == "exponential" and a.exploration_final_eps == 0.01
    assert list(a.network.encoder.hidden_sizes) == [32, 32]
    # the default, not the tuned preset's 10 (and unused: the book's agent has no target network)
    assert a.target_update_interval == DQNConfig().target_update_interval != 10


def test_a_saved_config_gets_the_settings_added_since_at_their_defaults(compose_cfg):
    saved = compose_cfg("agent=dqn", "env=CartPole-v1")
    with open_dict(saved):
        del saved.agent.target_network, saved.agent.network.head
        saved.agent.learning_rate = 0.123
    task.upgrade_saved_config(saved)
    assert saved.agent.target_network is True and saved.agent.network.head == "q"
    assert saved.agent.learning_rate == 0.123  # what was saved stays
    assert list(saved.agent.network.encoder.hidden_sizes) == [256, 256]


def test_a_checkpoint_from_before_a_new_setting_still_evaluates_and_resumes(compose_cfg, tmp_path):
    from rl_lab import checkpoint

    app.run(compose_cfg(*TINY), tmp_path / "run", [])
    for name in ("best.pt", "last.pt"):  # as an older rl_lab wrote them: without the setting
        path = tmp_path / "run" / "checkpoints" / name
        payload = checkpoint.load(path)
        del payload["config"]["agent"]["exploration_schedule"]
        checkpoint.save(payload, path)
    overrides = ["mode=eval", f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'best.pt'}"]
    scored = app.run(compose_cfg(*overrides), tmp_path / "eval", overrides)
    assert scored["status"] == "completed" and len(scored["eval"]["returns"]) == 20
    resumed = [*TINY, "total_steps=1600", "resume=true"]
    results = app.run(compose_cfg(*resumed), tmp_path / "run", resumed)
    assert results["env_steps"] == 1600
