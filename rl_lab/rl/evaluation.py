"""Greedy evaluation on separate envs, with fixed per-episode seeds, and episode GIFs.

Episode ``i`` of every evaluation starts from ``env.reset(seed=eval_seed + i)``, so two runs (or
ours and a baseline) are always scored on the same starting states. The episodes run side by
side in one vector env, so evaluation costs one batched forward pass per time step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from rl_lab.rl.envs import make_env, make_vec_env

Policy = Callable[[np.ndarray], np.ndarray]  # (n, *obs_shape) -> (n, *action_shape)


def greedy_policy(
    agent: Any, n_envs: int, obs_normalizer: Callable[[np.ndarray], np.ndarray] | None = None
) -> Policy:
    """A fresh greedy policy for ``n_envs`` parallel episodes that start now.

    Agents with memory (recurrent policies) provide ``predict_fn(n_envs)``, a function that keeps
    one state per env from its first call, so a new one is made for every evaluation; other
    agents are played with ``predict``. ``obs_normalizer`` (frozen training statistics, see
    :class:`rl_lab.rl.normalization.FrozenObsNormalizer`) is applied to the raw observations.
    """
    make = getattr(agent, "predict_fn", None)
    policy: Policy = make(n_envs) if make is not None else agent.predict
    if obs_normalizer is None:
        return policy
    return lambda obs: policy(obs_normalizer(obs))


@dataclass
class EvalResult:
    """Returns and lengths of the evaluation episodes, in episode order."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    def as_dict(self) -> dict[str, object]:
        """The ``eval`` block of ``results.json``."""
        return {
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "episodes": len(self.returns),
            "mean_length": float(np.mean(self.lengths)),
            "returns": [float(r) for r in self.returns],
        }


class Evaluator:
    """Runs ``episodes`` greedy episodes at once on a vector env built from ``env_cfg``.

    Args:
        env_cfg: the run's env config (its ``num_envs`` is ignored).
        episodes: episodes per evaluation.
        seed: episode ``i`` is reset with ``seed + i``.
        native: with ``env.vectorization=native``, play on the env's own vectorized
            implementation, whose episodes all come from one generator seeded with ``seed``
            (other episodes than the seeded ones; a run's periodic evaluations use it for
            speed). Otherwise such an env is evaluated on ``SyncVectorEnv``.
    """

    def __init__(self, env_cfg: DictConfig, episodes: int, seed: int, native: bool = False) -> None:
        self.episodes = episodes
        self.seed = seed
        self.native = native and env_cfg.vectorization == "native"
        vectorization = None
        if env_cfg.vectorization == "native" and not self.native:
            vectorization = "sync"
        # evaluation envs: Atari games are played whole (no life-loss terminals), unclipped
        self.envs = make_vec_env(
            env_cfg, num_envs=episodes, training=False, vectorization=vectorization
        )

    def evaluate(self, policy: Policy) -> EvalResult:
        """Play one episode per sub-env with ``policy``; later episodes are ignored.

        ``policy`` is called once per step on all sub-envs; give a fresh one (see
        :func:`greedy_policy`) to each call when it carries state between steps.
        """
        n = self.episodes
        # one seed per sub-env: gymnasium's VectorEnv.reset is typed for one int, but its vector
        # envs (and the wrappers, which pass the seed on) take a list
        if self.native:
            obs, _ = self.envs.reset(seed=self.seed)
        else:
            obs, _ = self.envs.reset(seed=[self.seed + i for i in range(n)])  # type: ignore[arg-type]
        returns = np.zeros(n)
        lengths = np.zeros(n, dtype=np.int64)
        running = np.ones(n, dtype=bool)
        while running.any():
            obs, rewards, terminated, truncated, _ = self.envs.step(policy(obs))
            returns += rewards * running
            lengths += running
            running &= ~(terminated | truncated)
        return EvalResult(returns.tolist(), lengths.tolist())

    def close(self) -> None:
        self.envs.close()


def record_episode_gif(
    env_cfg: DictConfig,
    policy: Policy,
    path: Path,
    seed: int,
    fps: int = 30,
    max_frames: int = 2000,
) -> Path:
    """Play one greedy episode from ``reset(seed=seed)`` and write it as an animated GIF."""
    env = make_env(env_cfg, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
        done = False
        while not done and len(frames) < max_frames:
            obs, _, terminated, truncated, _ = env.step(policy(obs[None])[0])
            frames.append(env.render())
            done = terminated or truncated
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    # render_mode="rgb_array" renders each frame as one (height, width, 3) uint8 array
    images = [Image.fromarray(cast(np.ndarray, frame)) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
