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
