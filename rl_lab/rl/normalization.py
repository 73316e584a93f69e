"""Running observation and reward normalisation for training envs, and its frozen twin for eval.

``agent.normalize_obs`` scales each observation entry to zero mean and unit variance with
running statistics, then clips to ``[-10, 10]``; ``agent.normalize_reward`` divides rewards by the
running standard deviation of the discounted return (gymnasium's ``NormalizeReward``, as in
Stable-Baselines3's ``VecNormalize``). The statistics are part of the trained model: checkpoints
save them (:func:`normalization_state`) and evaluation applies the observation statistics
frozen (:class:`FrozenObsNormalizer`); reward normalisation is for training only.

Gymnasium's vector ``NormalizeObservation`` refuses same-step autoreset vector envs (the mode
``make_vec_env`` uses) and would leave ``info["final_obs"]`` unnormalised, which the on-policy
loop bootstraps from; :class:`NormalizeObservation` here does both, with gymnasium's
``RunningMeanStd``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.spaces import Box
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.utils import RunningMeanStd
from gymnasium.wrappers.vector import NormalizeReward

#: Added to the variance before the square root (as gymnasium and SB3 do).
EPSILON = 1e-8
#: Normalised observations are clipped to ``[-OBS_CLIP, OBS_CLIP]`` (SB3's ``clip_obs``).
OBS_CLIP = 10.0


def _normalize(obs: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    scaled = (obs - mean) / np.sqrt(var + EPSILON)
    return np.clip(scaled, -OBS_CLIP, OBS_CLIP).astype(np.float32)


class NormalizeObservation(VectorWrapper):
    """Normalise a vector env's observations with running statistics (same-step autoreset).

    The statistics are updated with every observation returned by ``reset`` and ``step`` while
    :attr:`update_running_mean` is true; ``info["final_obs"]`` (the real last observation of
    episodes that ended) is normalised with the same statistics, without updating them.

    Args:
        env: the vector env, with ``Box`` observations.
    """

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        shape = env.single_observation_space.shape
        self.single_observation_space = Box(-OBS_CLIP, OBS_CLIP, shape, np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.obs_rms = RunningMeanStd(shape=shape)
        self.update_running_mean = True

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Normalise ``obs`` with the current statistics (no update)."""
        return _normalize(obs, self.obs_rms.mean, self.obs_rms.var)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if self.update_running_mean:
            self.obs_rms.update(obs)
        return self.normalize(obs)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, infos = self.env.reset(**kwargs)
        return self._observe(obs), infos

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        obs = self._observe(obs)
        if "final_obs" in infos:
            final = infos["final_obs"].copy()  # object array, None where no episode ended
            for i in np.flatnonzero(infos["_final_obs"]):
                final[i] = self.normalize(final[i])
            infos = {**infos, "final_obs": final}
        return obs, rewards, terminated, truncated, infos


def wrap_normalization(
    envs: VectorEnv, normalize_obs: bool, normalize_reward: bool, gamma: float
) -> VectorEnv:
    """Add observation and/or reward normalisation on top of ``envs`` (as configured).

    Episode statistics (``RecordEpisodeStatistics`` inside ``envs``) stay in raw rewards.
    """
    if normalize_obs:
        envs = NormalizeObservation(envs)
    if normalize_reward:
        envs = NormalizeReward(envs, gamma=gamma, epsilon=EPSILON)
    return envs


def _find(envs: Any, cls: type) -> Any:
    while envs is not None:
        if isinstance(envs, cls):
            return envs
        envs = getattr(envs, "env", None)
    return None


def rms_state(rms: Any) -> dict[str, Any]:
    """``{"mean", "var", "count"}`` of a running mean/std (gymnasium's or SB3's), as tensors."""
    # tensors, not NumPy arrays: checkpoints are read with torch.load(weights_only=True)
    return {
        "mean": torch.as_tensor(np.asarray(rms.mean, dtype=np.float64)),
        "var": torch.as_tensor(np.asarray(rms.var, dtype=np.float64)),
        "count": float(rms.count),
    }


def load_rms(rms: Any, state: dict[str, Any]) -> None:
    """Restore what :func:`rms_state` saved into ``rms`` (gymnasium's or SB3's)."""
    rms.mean = state["mean"].numpy().astype(np.float64)
    rms.var = state["var"].numpy().astype(np.float64)
    rms.count = float(state["count"])


def normalization_state(envs: VectorEnv) -> dict[str, Any]:
    """``{"obs": stats or None, "reward": stats or None}`` of the normalisers in ``envs``."""
    obs_norm, reward_norm = _find(envs, NormalizeObservation), _find(envs, NormalizeReward)
    return {
        "obs": rms_state(obs_norm.obs_rms) if obs_norm else None,
        "reward": rms_state(reward_norm.return_rms) if reward_norm else None,
    }


def load_normalization_state(envs: VectorEnv, state: dict[str, Any] | None) -> None:
    """Restore what :func:`normalization_state` saved into the normalisers of ``envs``."""
    if not state:
        return
    obs_norm, reward_norm = _find(envs, NormalizeObservation), _find(envs, NormalizeReward)
    if obs_norm is not None and state.get("obs") is not None:
        load_rms(obs_norm.obs_rms, state["obs"])
    if reward_norm is not None and state.get("reward") is not None:
        load_rms(reward_norm.return_rms, state["reward"])


class FrozenObsNormalizer:
    """The training envs' observation normalisation with fixed statistics, for evaluation.

    Args:
        mean, var: per-entry statistics (copied).
    """

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean = np.array(mean, dtype=np.float64)
        self.var = np.array(var, dtype=np.float64)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalise a batch ``(n, *obs_shape)`` of raw observations."""
        return _normalize(obs, self.mean, self.var)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> FrozenObsNormalizer | None:
        """From a :func:`normalization_state` dict; ``None`` when obs were not normalised."""
        if not state or state.get("obs") is None:
            return None
        return cls(state["obs"]["mean"].numpy(), state["obs"]["var"].numpy())
