import numpy as np
from omegaconf import OmegaConf

from rl_lab.rl.envs import check_env_id, make_env, make_vec_env


def test_cartpole_no_velocity_drops_the_velocities():
    spec = check_env_id("CartPoleNoVel-v1")  # registers it
    assert spec.max_episode_steps == 500 and spec.reward_threshold == 475
    cfg = OmegaConf.create({"id": "CartPoleNoVel-v1", "max_episode_steps": None, "kwargs": {}})
    env = make_env(cfg)
    full = make_env(OmegaConf.merge(cfg, {"id": "CartPole-v1"}))
    assert env.observation_space.shape == (2,)
    obs, _ = env.reset(seed=3)
    full_obs, _ = full.reset(seed=3)
    for _ in range(5):
        np.testing.assert_array_equal(obs, full_obs[[0, 2]])
        obs, *_ = env.step(1)
        full_obs, *_ = full.step(1)
    assert env.observation_space.contains(obs)
    env.close()
    full.close()


def test_cartpole_no_velocity_works_in_async_vector_envs():
    cfg = OmegaConf.create(
        {"id": "CartPoleNoVel-v1", "num_envs": 2, "vectorization": "async",
         "max_episode_steps": None, "kwargs": {}}
    )  # fmt: skip
    envs = make_vec_env(cfg)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 2)
    envs.close()
