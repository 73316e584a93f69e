"""The on-policy loop end to end: bootstrapping, run directory, learning, checkpoints, resume."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.on_policy import OnPolicyLoop
from rl_lab.rl.task import build_agent
from rl_lab.tracking import Tracker

QUIET = ["progress=false", "eval.episodes=3", "eval.final_episodes=5", "logging.log_freq=100"]


class Counter(gym.Env):
    """Observation = steps taken in the episode; terminates at ``terminate_at`` (if set)."""

    observation_space = gym.spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate_at: int | None = None) -> None:
        self.terminate_at, self.t = terminate_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return np.array([self.t], np.float32), 1.0, terminated, False, {}


gym.register("rl_lab_test/Counter-v0", entry_point=Counter, max_episode_steps=5)


def make_loop(compose_cfg, tmp_path: Path, *overrides: str, resume_from=None) -> OnPolicyLoop:
    cfg = compose_cfg(*QUIET, *overrides)
    torch.manual_seed(cfg.seed)
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    return OnPolicyLoop(agent, cfg, tmp_path, Tracker(tmp_path / "tb"), resume_from=resume_from)


@pytest.mark.parametrize("terminate_at", [None, 5])
def test_truncated_steps_bootstrap_from_the_real_last_observation(
    compose_cfg, tmp_path, terminate_at
):
    """Episodes of 5 steps: cut by the time limit (bootstrap) or terminal (no bootstrap)."""
    overrides = ["agent=ppo", "env=rl_lab_test/Counter-v0", "env.num_envs=2", "agent.n_steps=12"]
    if terminate_at:
        overrides.append(f"+env.kwargs.terminate_at={terminate_at}")
    loop = make_loop(compose_cfg, tmp_path, *overrides, "agent.batch_size=24")
    seen = []
    real_value = loop.agent.value

    def value(obs, state=None, episode_starts=None):
        seen.append(np.array(obs))
        return real_value(obs, state, episode_starts)

    loop.agent.value = value
    obs, _ = loop.envs.reset(seed=0)
    loop.collect_rollout(obs, np.ones(2, bool))
    buffer = loop.buffer
    ends = buffer.truncated | buffer.terminated
    assert ends[4].all() and ends[9].all() and ends.sum() == 4  # steps 5 and 10 of each env
    assert (buffer.terminated == ends).all() == bool(terminate_at)
    assert buffer.episode_starts[[0, 5, 10]].all() and buffer.episode_starts.sum() == 6
    assert (buffer.obs[5] == 0).all()  # the reset observation is what the policy saw next
    if terminate_at:
        assert not seen and not buffer.bootstrap_values.any()
    else:  # V(final_obs) with final_obs = [5], not the reset observation [0]
        assert [s.tolist() for s in seen] == [[[5.0], [5.0]]] * 2
        expected = real_value(np.array([[5.0]], np.float32))[0]
        np.testing.assert_allclose(buffer.bootstrap_values[ends], expected, rtol=1e-6)
        assert not buffer.bootstrap_values[~ends].any()
    loop.close()


def test_continuous_run_leaves_the_run_directory_and_dashboard(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", "env=Pendulum-v1", "env.num_envs=2", "agent.n_steps=128",
        "agent.batch_size=64", "agent.n_epochs=2", "agent.normalize_obs=true",
        "agent.normalize_reward=true", "agent.clip_range_vf=0.2", "total_steps=512",
        "eval.freq=256", "record_video=true",
    ]  # fmt: skip
    results = app.run(compose_cfg(*QUIET, *overrides), tmp_path, overrides)
    assert (results["agent"], results["env"], results["env_steps"]) == ("ppo", "Pendulum-v1", 512)
    assert results["gradient_steps"] == 2 * 2 * 4  # rollouts x epochs x minibatches
    assert [h["env_steps"] for h in results["eval_history"]] == [256, 512]
    assert (tmp_path / results["video"]).stat().st_size > 1000
    tags = set(EventAccumulator(str(tmp_path / "tb")).Reload().Tags()["scalars"])
    assert {
        "losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl",
        "losses/clipfrac", "losses/explained_variance", "charts/action_std",
        "charts/learning_rate", "charts/clip_range", "charts/episodic_return", "charts/SPS",
        "eval/mean_return",
    } <= tags  # fmt: skip
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    assert best["normalization"]["obs"] is not None and best["policy_state"] is None


def test_recurrent_checkpoint_round_trip_resume_and_eval(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo_lstm", "env=CartPoleNoVel-v1", "env.num_envs=4", "agent.n_steps=32",
        "agent.batch_size=64", "agent.n_epochs=2", "agent.network.lstm.hidden_size=16",
        "agent.normalize_obs=true", "agent.normalize_reward=true", "eval.freq=128",
        "checkpointing.freq=256",
    ]  # fmt: skip
    run_dir = tmp_path / "run"
    app.run(compose_cfg(*QUIET, *overrides, "total_steps=256"), run_dir, overrides)
    saved = checkpoint.load(run_dir / "checkpoints" / "last.pt", kind="rl")
    assert saved["loop"]["env_steps"] == 256
    norm, lstm = saved["normalization"], saved["policy_state"]
    assert norm["obs"]["count"] == pytest.approx(1e-4 + 4 * 65)  # 4 envs: reset + 64 steps
    assert norm["reward"]["count"] > 200
    assert lstm.shape == (2, 2, 1, 4, 16) and lstm.abs().sum() > 0

    # a loop built from the checkpoint holds the same statistics and recurrent state
    loop = make_loop(compose_cfg, tmp_path / "probe", *overrides, resume_from=saved)
    torch.testing.assert_close(loop.policy_state, lstm)
    rms = loop.envs.env.obs_rms
    np.testing.assert_array_equal(rms.mean, norm["obs"]["mean"].numpy())
    assert loop.envs.return_rms.count == norm["reward"]["count"]
    loop.close()

    resumed = app.run(
        compose_cfg(*QUIET, *overrides, "resume=true", "total_steps=512"),
        run_dir,
        ["resume=true", "total_steps=512"],
    )
    assert resumed["env_steps"] == 512
    assert [h["env_steps"] for h in resumed["eval_history"]] == [128, 256, 384, 512]
    last = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert last["agent"]["updates"] == 2 * saved["agent"]["updates"]
    assert last["normalization"]["obs"]["count"] == pytest.approx(1e-4 + 2 * 4 * 65)  # continued

    # mode=eval: the same weights, frozen statistics and fresh recurrent states give the same
    # episodes as the run's final evaluation
    cfg = compose_cfg(
        "mode=eval", f"checkpoint={run_dir / 'checkpoints' / 'last.pt'}", "episodes=5",
        "record_video=true",
    )  # fmt: skip
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == resumed["eval"]["returns"]
    assert (tmp_path / "eval" / "videos" / "eval_episode.gif").is_file()


def final_eval(compose_cfg, tmp_path, *overrides: str) -> float:
    overrides = (*overrides, "eval.freq=0", "checkpointing.freq=0", "eval.final_episodes=10")
    results = app.run(compose_cfg(*QUIET, *overrides), tmp_path, list(overrides))
    json.loads((tmp_path / "results.json").read_text())  # written
    return results["eval"]["mean_return"]


RANDOM_CARTPOLE = 25  # a uniformly random policy scores about 22 on CartPole(NoVel)


def test_ppo_learns_cartpole(compose_cfg, tmp_path):
    assert final_eval(compose_cfg, tmp_path, "agent=ppo", "total_steps=10000") > 4 * RANDOM_CARTPOLE


def test_a2c_learns_cartpole(compose_cfg, tmp_path):
    assert final_eval(compose_cfg, tmp_path, "agent=a2c", "total_steps=10000") > 4 * RANDOM_CARTPOLE


class Cue(gym.Env):
    """A memory task: the first observation shows a cue (+-1); after ``delay`` blank steps a
    query asks for it, paying +1 for the matching action and -1 otherwise. A memoryless policy
    scores 0 on average; one that remembers the cue scores 1."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)  # (cue, is_query)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: int = 3) -> None:
        self.delay, self.t, self.cue = delay, 0, 1.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, float(self.np_random.choice([-1.0, 1.0]))
        return np.array([self.cue, 0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t <= self.delay:
            return np.array([0.0, float(self.t == self.delay)], np.float32), 0.0, False, False, {}
        reward = 1.0 if (action == 1) == (self.cue > 0) else -1.0
        return np.zeros(2, np.float32), reward, True, False, {}


gym.register("rl_lab_test/Cue-v0", entry_point=Cue)


def test_recurrent_ppo_learns_to_remember(compose_cfg, tmp_path):
    common = [
        "env=rl_lab_test/Cue-v0", "env.num_envs=8", "agent.n_steps=16", "agent.batch_size=64",
        "agent.n_epochs=4", "agent.learning_rate=3e-3", "total_steps=4096",
        "agent.network.lstm.hidden_size=16", "agent.network.encoder.hidden_sizes=[16]",
    ]  # fmt: skip
    assert final_eval(compose_cfg, tmp_path / "lstm", "agent=ppo_lstm", *common) == 1.0
    memoryless = final_eval(compose_cfg, tmp_path / "mlp", "agent=ppo", *common)
    assert memoryless < 0.7  # the task does need memory
