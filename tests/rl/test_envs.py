"""Environment construction (rl_lab/rl/envs.py): ids, settings, same-step autoreset."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from rl_lab.errors import ConfigError
from rl_lab.rl.envs import check_env_id, env_spaces, make_env, make_vec_env


def env_cfg(**overrides):
    base = {"id": "CartPole-v1", "num_envs": 2, "vectorization": "sync",
            "max_episode_steps": None, "kwargs": {}}  # fmt: skip
    return OmegaConf.create({**base, **overrides})


def test_an_unknown_id_names_the_close_matches():
    with pytest.raises(ConfigError, match="Did you mean: CartPole-v1"):
        check_env_id("CartPol-v1")
    assert check_env_id("CartPole-v1").reward_threshold == 475.0


def test_max_episode_steps_and_kwargs_reach_gymnasium():
    envs = make_vec_env(env_cfg(max_episode_steps=7, kwargs={"sutton_barto_reward": True}))
    envs.reset(seed=0)
    lengths = []
    for _ in range(8):
        _, rewards, _, truncated, infos = envs.step(np.zeros(2, dtype=np.int64))
        if "episode" in infos:
            lengths += list(infos["episode"]["l"][infos["_episode"]])
    envs.close()
    assert lengths and max(lengths) <= 7  # the time limit of the config, not the env's 500
    assert rewards.max() <= 0.0  # Sutton & Barto's reward: 0 per step, -1 on failure


def test_same_step_autoreset_keeps_the_real_last_observation():
    envs = make_vec_env(env_cfg(max_episode_steps=3, num_envs=1))
    obs, _ = envs.reset(seed=0)
    for _ in range(3):
        next_obs, _, terminated, truncated, infos = envs.step(np.zeros(1, dtype=np.int64))
    envs.close()
    assert truncated[0] or terminated[0]
    assert "final_obs" in infos and not np.array_equal(infos["final_obs"][0], next_obs[0])


def test_spaces_and_a_bad_kwarg():
    obs_space, action_space = env_spaces(env_cfg())
    assert obs_space.shape == (4,) and action_space.n == 2
    with pytest.raises(ConfigError, match="gymnasium could not build CartPole-v1 with bogus=1"):
        env_spaces(env_cfg(kwargs={"bogus": 1}))
    assert make_env(env_cfg()).observation_space.shape == (4,)


def test_native_cartpole_resets_in_the_same_step_and_reports_the_last_observation():
    envs = make_vec_env(env_cfg(num_envs=8, vectorization="native"))
    assert type(envs.unwrapped).__name__ == "CartPoleVectorEnv"
    obs, _ = envs.reset(seed=0)
    steps = np.zeros(8, dtype=np.int64)
    ended = 0
    for t in range(600):
        # random play first (short episodes), then a balancing rule (some reach the time limit)
        actions = (obs[:, 2] + obs[:, 3] > 0) if t >= 100 else np.arange(8) % 2 == t % 2
        obs, rewards, terminated, truncated, infos = envs.step(actions.astype(np.int64))
        steps += 1
        done = terminated | truncated
        assert (rewards == 1.0).all()  # no zero-reward reset steps of the next-step mode
        if done.any():
            assert infos["_final_obs"].tolist() == done.tolist()
            assert (infos["episode"]["l"][done] == steps[done]).all()
            for i in np.flatnonzero(done):
                last = infos["final_obs"][i]
                fell = abs(last[0]) > 2.4 or abs(last[2]) > 12 * 2 * np.pi / 360
                assert bool(terminated[i]) == fell
                assert np.abs(obs[i]).max() <= 0.05  # already the next episode's first obs
            ended += int(done.sum())
            steps[done] = 0
    envs.close()
    assert ended > 8 and truncated.dtype == bool


def test_native_vectorization_is_refused_where_gymnasium_has_none():
    with pytest.raises(ConfigError, match="Acrobot-v1 has none.*CartPole-v1"):
        make_vec_env(env_cfg(id="Acrobot-v1", vectorization="native"))
    with pytest.raises(ConfigError, match="env.backend=ale_vector"):
        make_vec_env(env_cfg(id="ALE/Pong-v5", vectorization="native"))
