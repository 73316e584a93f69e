import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.evaluation import greedy_policy
from rl_lab.rl.task import build_agent
from tests.conftest import TINY


def test_sb3_run_follows_the_run_directory_contract(compose_cfg, tmp_path):
    overrides = ["agent=dqn", "impl=sb3", *TINY, "total_steps=800"]
    results = app.run(compose_cfg(*overrides), tmp_path / "run", overrides)
    assert results["agent"] == "sb3_dqn" and results["status"] == "completed"
    assert results["env_steps"] >= 800 and results["eval"]["episodes"] == 3
    assert [h["env_steps"] for h in results["eval_history"]][:2] == [400, 800]
    run = tmp_path / "run"
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"last.pt", "best.pt"}
    events = EventAccumulator(str(run / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/mean_return", "charts/episodic_return", "charts/epsilon"} <= tags
    assert "train/loss" in tags  # SB3's own logger writes into the same folder

    # mode=eval loads the SB3 policy weights from last.pt and scores it identically
    cfg = compose_cfg("mode=eval", f"checkpoint={run / 'checkpoints' / 'last.pt'}", "episodes=3")
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]

    # resume continues the SB3 model from its own zip and replay buffer
    resume = ["resume=true", "total_steps=1600"]
    resumed = app.run(compose_cfg(*overrides, *resume), run, resume)
    assert resumed["env_steps"] >= 1600
    assert json.loads((run / "results.json").read_text())["env_steps"] == resumed["env_steps"]


def test_sb3_td3_runs_on_a_continuous_env(compose_cfg, tmp_path):
    overrides = [
        "agent=td3", "impl=sb3", "env=Pendulum-v1", "total_steps=400", "agent.learning_starts=200",
        "agent.network.actor.hidden_sizes=[16]", "agent.network.critic.hidden_sizes=[16]",
        "eval.freq=200", "eval.episodes=2", "eval.final_episodes=2", "progress=false",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["agent"] == "sb3_td3" and results["env_steps"] == 400
    assert "action_noise_std" in results["sb3_notes"]
    assert results["eval"]["mean_return"] < 0  # Pendulum returns are negative


#: A few hundred steps of an on-policy SB3 agent, evaluated on two episodes.
TINY_ON_POLICY = [
    "total_steps=256", "agent.n_steps=32", "agent.network.encoder.hidden_sizes=[16]",
    "eval.freq=128", "eval.episodes=2", "eval.final_episodes=2", "checkpointing.freq=128",
    "logging.log_freq=64", "progress=false",
]  # fmt: skip


def _scalar_tags(run) -> set[str]:
    return set(EventAccumulator(str(run / "tb")).Reload().Tags()["scalars"])


def test_sb3_a2c_runs(compose_cfg, tmp_path):
    overrides = ["agent=a2c", "impl=sb3", "env=CartPole-v1", "env.num_envs=2", *TINY_ON_POLICY]
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["agent"] == "sb3_a2c" and results["env_steps"] == 256
    assert results["gradient_steps"] == 256 // (32 * 2)  # one step per rollout
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    assert {"charts/learning_rate", "train/value_loss"} <= _scalar_tags(tmp_path)


def test_sb3_ppo_normalises_with_frozen_stats_in_eval_and_resumes(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", "impl=sb3", "env=Pendulum-v1", "env.num_envs=2", "agent.batch_size=32",
        "agent.n_epochs=2", "agent.normalize_obs=true", "agent.normalize_reward=true",
        *TINY_ON_POLICY,
    ]  # fmt: skip
    run = tmp_path / "run"
    results = app.run(compose_cfg(*overrides), run, overrides)
    assert results["env_steps"] == 256 and results["eval"]["mean_return"] < 0
    assert results["gradient_steps"] == 4 * 2 * 2  # rollouts x epochs x minibatches
    assert {"charts/clip_range", "charts/action_std"} <= _scalar_tags(run)
    payload = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert payload["normalization"]["obs"]["mean"].shape == (3,)
    assert payload["normalization"]["reward"] is not None

    # mode=eval applies the saved observation statistics, frozen: the same returns
    cfg = compose_cfg("mode=eval", f"checkpoint={run / 'checkpoints' / 'last.pt'}", "episodes=2")
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]

    # resume reloads SB3's zip and the VecNormalize statistics
    resume = ["resume=true", "total_steps=384"]
    resumed = app.run(compose_cfg(*overrides, *resume), run, resume)
    assert resumed["env_steps"] == 384 and resumed["gradient_steps"] == 6 * 2 * 2


def test_sb3_ppo_lstm_runs_and_its_checkpoint_plays_the_same(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo_lstm", "impl=sb3", "env=CartPoleNoVel-v1", "env.num_envs=2",
        "agent.batch_size=32",
        "agent.n_epochs=2", "agent.network.lstm.hidden_size=16", *TINY_ON_POLICY,
    ]  # fmt: skip
    run = tmp_path / "run"
    results = app.run(compose_cfg(*overrides), run, overrides)
    assert results["agent"] == "sb3_ppo_lstm" and results["env_steps"] == 256
    assert "batch_size" in results["sb3_notes"]
    assert json.loads((run / "results.json").read_text())["eval"]["episodes"] == 2

    # the Evaluator plays it with one LSTM state per episode; mode=eval reproduces the returns
    cfg = compose_cfg("mode=eval", f"checkpoint={run / 'checkpoints' / 'last.pt'}", "episodes=2")
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]


def test_sb3_recurrent_greedy_policy_keeps_one_lstm_state_per_env(compose_cfg):
    cfg = compose_cfg(
        "agent=ppo_lstm", "impl=sb3", "env=Pendulum-v1", "agent.network.lstm.hidden_size=8",
        "agent.network.init=default",
    )  # fmt: skip
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    observations = np.random.default_rng(0).normal(size=(3, 2, 3)).astype(np.float32)
    policy = greedy_policy(agent, n_envs=2)
    played = [policy(obs) for obs in observations]
    state, starts = None, np.ones(2, dtype=bool)
    for obs, actions in zip(observations, played, strict=True):
        expected, state = agent.model.predict(
            obs, state=state, episode_start=starts, deterministic=True
        )
        starts = np.zeros(2, dtype=bool)
        np.testing.assert_array_equal(actions, expected)
    assert not np.allclose(played[-1], agent.predict(observations[-1]))  # the memory matters


@pytest.mark.filterwarnings("ignore:`n_steps=3` is ignored")
def test_a_loaded_sb3_dqn_keeps_its_n_step_buffer(tmp_path):
    # load_extra_state silences SB3's "n_steps is ignored" warning on load: the saved model
    # brings NStepReplayBuffer back with its n-step settings
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.buffers import NStepReplayBuffer

    model = DQN("MlpPolicy", gym.make("CartPole-v1"), n_steps=3, gamma=0.9, buffer_size=100)
    model.save(tmp_path / "dqn.zip")
    loaded = DQN.load(tmp_path / "dqn.zip", env=gym.make("CartPole-v1"))
    assert isinstance(loaded.replay_buffer, NStepReplayBuffer)
    assert (loaded.replay_buffer.n_steps, loaded.replay_buffer.gamma) == (3, 0.9)


@pytest.mark.parametrize("name", ["sac", "ddpg"])
def test_sb3_sac_and_ddpg_run_on_a_continuous_env(compose_cfg, tmp_path, name):
    overrides = [
        f"agent={name}", "impl=sb3", "env=Pendulum-v1", "total_steps=400",
        "agent.learning_starts=200", "agent.batch_size=32",
        "agent.network.actor.hidden_sizes=[16]", "agent.network.critic.hidden_sizes=[16]",
        "eval.freq=200", "eval.episodes=2", "eval.final_episodes=2", "progress=false",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["agent"] == f"sb3_{name}" and results["env_steps"] == 400
    assert results["gradient_steps"] == 200 and results["eval"]["mean_return"] < 0
    assert "eval/mean_return" in _scalar_tags(tmp_path)
    assert ("target_update_interval" in results["sb3_notes"]) == (name == "sac")
