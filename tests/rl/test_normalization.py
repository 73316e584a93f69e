import numpy as np
import pytest
from omegaconf import OmegaConf

from rl_lab import checkpoint
from rl_lab.rl.envs import make_vec_env
from rl_lab.rl.normalization import (
    OBS_CLIP,
    FrozenObsNormalizer,
    NormalizeObservation,
    load_normalization_state,
    normalization_state,
    wrap_normalization,
)

ENV = OmegaConf.create(
    {"id": "CartPole-v1", "num_envs": 3, "vectorization": "sync", "max_episode_steps": 30,
     "kwargs": {}}
)  # fmt: skip


def lockstep(raw, envs, steps, seed=0):
    """Random play of two copies of the env with the same seeds and actions: pairs of steps."""
    rng = np.random.default_rng(seed)
    pairs = [(raw.reset(seed=seed), envs.reset(seed=seed))]
    for _ in range(steps):
        actions = rng.integers(0, 2, raw.num_envs)
        pairs.append((raw.step(actions), envs.step(actions)))
    return pairs


def test_observations_and_final_observations_are_normalised_with_the_same_stats():
    raw = make_vec_env(ENV)
    envs = wrap_normalization(make_vec_env(ENV), True, False, 0.99)
    assert isinstance(envs, NormalizeObservation)
    seen = np.concatenate([r[0] for r, _ in lockstep(raw, envs, 60)])  # (3 * 61, 4) raw obs
    rms = envs.obs_rms
    np.testing.assert_allclose(rms.mean, seen.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rms.var, seen.var(0), rtol=1e-3)

    envs.update_running_mean = False  # fixed stats: compare step by step with the formula
    mean, var = rms.mean.copy(), rms.var.copy()

    def expected(obs):
        return np.clip((obs - mean) / np.sqrt(var + 1e-8), -OBS_CLIP, OBS_CLIP)

    ended = 0
    for (raw_obs, *_, raw_info), (obs, *_, info) in lockstep(raw, envs, 80, seed=1)[1:]:
        np.testing.assert_allclose(obs, expected(raw_obs), rtol=1e-5, atol=1e-6)
        assert obs.dtype == np.float32
        for i in np.flatnonzero(info.get("_final_obs", [])):
            ended += 1
            want = expected(raw_info["final_obs"][i])
            np.testing.assert_allclose(info["final_obs"][i], want, rtol=1e-5, atol=1e-6)
    assert ended > 3  # episodes of at most 30 steps did end (and were checked)
    np.testing.assert_array_equal(rms.mean, mean)  # frozen
    raw.close()
    envs.close()


def test_reward_normalisation_keeps_episode_statistics_raw():
    envs = wrap_normalization(make_vec_env(ENV), False, True, 0.99)
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    rewards, returns = [], []
    for _ in range(200):
        _, reward, *_, info = envs.step(rng.integers(0, 2, 3))
        rewards.append(reward)
        if "episode" in info:
            returns += list(info["episode"]["r"][info["_episode"]])
    assert np.abs(np.concatenate(rewards) - 1.0).min() > 1e-3  # scaled, CartPole pays 1.0
    assert all(r == int(r) and r >= 8 for r in returns)  # raw episode returns (lengths)
    envs.close()


def test_state_round_trip_through_a_checkpoint_and_frozen_normaliser(tmp_path):
    envs = wrap_normalization(make_vec_env(ENV), True, True, 0.99)
    lockstep(make_vec_env(ENV), envs, 50)
    state = normalization_state(envs)
    assert state["obs"] is not None and state["reward"] is not None
    checkpoint.save({"kind": "rl", "normalization": state}, tmp_path / "c.pt")
    loaded = checkpoint.load(tmp_path / "c.pt")["normalization"]  # weights_only load
    fresh = wrap_normalization(make_vec_env(ENV), True, True, 0.99)
    load_normalization_state(fresh, loaded)
    obs_norm = fresh.env
    np.testing.assert_array_equal(obs_norm.obs_rms.mean, envs.env.obs_rms.mean)
    np.testing.assert_array_equal(obs_norm.obs_rms.var, envs.env.obs_rms.var)
    assert obs_norm.obs_rms.count == envs.env.obs_rms.count
    assert fresh.return_rms.var == pytest.approx(envs.return_rms.var)
    frozen = FrozenObsNormalizer.from_state(loaded)
    batch = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(frozen(batch), envs.env.normalize(batch))
    assert FrozenObsNormalizer.from_state({"obs": None, "reward": None}) is None
    assert FrozenObsNormalizer.from_state(None) is None
    envs.close()
    fresh.close()
