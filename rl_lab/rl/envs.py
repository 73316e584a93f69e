"""Environment construction from ``conf/env`` settings, with gymnasium's vector envs.

Training envs are vectorized (``SyncVectorEnv``, ``AsyncVectorEnv``, or with
``env.vectorization=native`` the env's own vectorized implementation, e.g. CartPole's numpy
``CartPoleVectorEnv``) with the *same-step* autoreset mode: when a sub-env ends, ``step`` returns
the first observation of the next episode and puts the real last observation in
``info["final_obs"]``, which is what a replay buffer must store to bootstrap correctly on
truncation. A native env takes one seed for all its sub-envs, so the final evaluation of a run
(the standard seeded episodes, one seed per sub-env) plays on ``SyncVectorEnv``s.

``ALE/*`` ids get the Atari preprocessing of :mod:`rl_lab.rl.atari`; its training envs differ
from its evaluation envs (``training``), other envs are the same in both roles.

Observations reach the networks as a ``Box``: ``Discrete``, ``MultiDiscrete``, ``MultiBinary``,
``Dict`` and ``Tuple`` observations are flattened by gymnasium's ``FlattenObservation``
(``spaces.flatten``: one-hot for the discrete parts, concatenated, as float32); a ``Box`` of any
shape is kept (the MLP encoder flattens it, the Nature CNN reads image stacks). Other spaces
(``Text``, ``Graph``, ``Sequence``) are refused by :func:`check_observation_space`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from omegaconf import DictConfig

from rl_lab.config_dict import config_dict
from rl_lab.errors import ConfigError
from rl_lab.rl.atari import is_atari, make_atari_env, make_atari_vec_env
from rl_lab.rl.configs import AtariSettings
from rl_lab.rl.envs_custom import register_custom_envs


def _register_namespaces(env_id: str) -> None:
    """Register rl_lab's own envs, and import optional env packages, so ids are in the registry."""
    register_custom_envs()
    if env_id.startswith("ALE/") or env_id.lower().startswith("ale"):
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:  # pragma: no cover - ale-py is a dependency
            pass


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return the spec of a registered env id, or raise a ConfigError with close matches."""
    _register_namespaces(env_id)
    try:
        return gym.spec(env_id)
    except gym.error.Error as exc:
        known = list(gym.registry.keys())
        close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
        hint = f"Did you mean: {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"Unknown environment id '{env_id}' ({exc}). {hint}Pass a registered Gymnasium id as "
            "`env=<id>` (e.g. env=CartPole-v1, env=LunarLander-v3, env=ALE/Pong-v5); "
            '`python -c "import gymnasium; gymnasium.pprint_registry()"` lists them.'
        ) from None


#: Observation spaces that :func:`encode_observations` flattens into a ``Box``.
FLATTENED = (
    gym.spaces.Discrete,
    gym.spaces.MultiDiscrete,
    gym.spaces.MultiBinary,
    gym.spaces.Dict,
    gym.spaces.Tuple,
)


def _flattenable(space: gym.Space) -> bool:
    if isinstance(space, gym.spaces.Dict):
        return all(_flattenable(part) for part in space.spaces.values())
    if isinstance(space, gym.spaces.Tuple):
        return all(_flattenable(part) for part in space.spaces)
    return isinstance(space, (gym.spaces.Box, *FLATTENED))


def check_observation_space(space: gym.Space, env_id: str) -> None:
    """Raise a ConfigError for an observation space the networks cannot be given."""
    if not _flattenable(space):
        raise ConfigError(
            f"{env_id} has the observation space {space}, which rl_lab cannot encode for its "
            "networks: it takes Box observations of any shape, and Discrete, MultiDiscrete, "
            "MultiBinary, Dict and Tuple ones made of those (flattened, one-hot for the discrete "
            "parts). Wrap the env so that it observes one of those."
        )


def encode_observations(env: gym.Env) -> gym.Env:
    """``env`` with observations the networks take: non-``Box`` spaces flattened to a ``Box``."""
    if isinstance(env.observation_space, gym.spaces.Box):
        return env
    check_observation_space(env.observation_space, env.spec.id if env.spec else str(env))
    # float32: the one-hot parts come out in the integer dtype of their space
    return gym.wrappers.DtypeObservation(gym.wrappers.FlattenObservation(env), np.float32)


class SameStepCartPole(VectorWrapper):
    """Gymnasium's ``CartPoleVectorEnv`` with the same-step autoreset mode of every other
    training env.

    ``CartPoleVectorEnv`` only has the next-step mode: the step after an episode ends resets
    that sub-env, ignores its action and returns reward 0. This wrapper restarts the ended
    sub-envs at once, from the env's own generator and reset bounds (as its next step would),
    and reports their last observations in ``info["final_obs"]`` / ``info["_final_obs"]``.
    """

    def __init__(self, env: VectorEnv) -> None:
        inner = env.unwrapped
        if type(inner).__name__ != "CartPoleVectorEnv" or not hasattr(inner, "prev_done"):
            raise ConfigError(
                f"env.vectorization=native supports gymnasium's CartPoleVectorEnv, not "
                f"{type(inner).__name__}: use env.vectorization=sync or async for this env."
            )
        super().__init__(env)
        self.metadata = {**env.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self._cartpole: Any = inner

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = terminated | truncated
        if done.any():
            env = self._cartpole
            final = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(done):
                final[i] = obs[i].copy()
            env.state[:, done] = env.np_random.uniform(
                low=env.low, high=env.high, size=(4, int(done.sum()))
            )
            env.steps[done] = 0
            env.prev_done[:] = False
            obs = obs.copy()
            obs[done] = env.state[:, done].T.astype(obs.dtype)
            infos = {**infos, "final_obs": final, "_final_obs": done}
        return obs, rewards, terminated, truncated, infos


def _make_native_vec_env(env_cfg: DictConfig, num_envs: int, **kwargs: Any) -> VectorEnv:
    spec = check_env_id(env_cfg.id)
    if spec.vector_entry_point is None:
        native = [k for k, v in gym.registry.items() if v.vector_entry_point is not None]
        raise ConfigError(
            f"env.vectorization=native needs an env with its own vectorized implementation, and "
            f"{env_cfg.id} has none (gymnasium registers one for: {', '.join(native)}). Use "
            "env.vectorization=sync or async."
        )
    envs = gym.make_vec(
        env_cfg.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )
    return SameStepCartPole(envs)


def _make_kwargs(env_cfg: DictConfig) -> dict[str, Any]:
    kwargs = config_dict(env_cfg.kwargs, resolve=True) if env_cfg.kwargs else {}
    if env_cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(env_cfg.max_episode_steps)
    return kwargs


def make_vec_env(
    env_cfg: DictConfig,
    num_envs: int | None = None,
    render_mode: str | None = None,
    training: bool = True,
    vectorization: str | None = None,
) -> VectorEnv:
    """Build the vectorized env described by ``env_cfg`` (id, num_envs, vectorization, kwargs);
    ``vectorization`` replaces ``env_cfg.vectorization``.

    Episode returns and lengths are reported in ``info["episode"]`` by gymnasium's
    ``RecordEpisodeStatistics`` (Atari: whole games, raw scores). Seed it with
    ``env.reset(seed=...)``. ``training=False`` gives evaluation envs (Atari: no life-loss
    terminals, no reward clipping).
    """
    check_env_id(env_cfg.id)
    num_envs = int(num_envs or env_cfg.num_envs)
    vectorization = vectorization or str(env_cfg.vectorization)
    native = vectorization == "native"
    if native and is_atari(env_cfg.id):
        raise ConfigError(
            f"env.vectorization=native is not for Atari games ({env_cfg.id}): their vectorized "
            "implementation is ale-py's, `env.backend=ale_vector`."
        )
    if is_atari(env_cfg.id):
        return make_atari_vec_env(env_cfg, num_envs, training, render_mode)
    kwargs = _make_kwargs(env_cfg)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if native:
        return RecordEpisodeStatistics(_make_native_vec_env(env_cfg, num_envs, **kwargs))
    envs = gym.make_vec(
        env_cfg.id,
        num_envs=num_envs,
        vectorization_mode=vectorization,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        # gymnasium types the wrappers as returning a Wrapper, but it only calls each on the
        # env and keeps what comes back; encode_observations returns Box envs as they are
        wrappers=[encode_observations],  # type: ignore[list-item]
        **kwargs,
    )
    return RecordEpisodeStatistics(envs)


def env_spaces(env_cfg: DictConfig) -> tuple[gym.Space, gym.Space]:
    """The single-env observation and action spaces of ``env_cfg`` (as the vector env sees them).

    Raises:
        ConfigError: gymnasium cannot build the env with these settings (e.g. an ``env.kwargs``
            key the env does not take).
    """
    try:
        envs = make_vec_env(env_cfg, num_envs=1)
    except ConfigError:
        raise
    except (TypeError, ValueError, gym.error.Error) as exc:
        kwargs = ", ".join(f"{k}={v!r}" for k, v in _make_kwargs(env_cfg).items())
        raise ConfigError(
            f"gymnasium could not build {env_cfg.id}"
            + (f" with {kwargs}" if kwargs else "")
            + f": {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Fix or "
            "drop the env.kwargs (or env.max_episode_steps) it does not accept."
        ) from exc
    try:
        return envs.single_observation_space, envs.single_action_space
    finally:
        envs.close()


def make_env(
    env_cfg: DictConfig,
    render_mode: str | None = None,
    training: bool = False,
    monitor: Callable[[gym.Env], gym.Env] | None = None,
) -> gym.Env:
    """Build one (non-vectorized) env, e.g. for recording a video.

    Atari games get their preprocessing (always with the gymnasium wrappers), for training
    (life-loss terminals, clipped rewards) or, by default, for evaluation; ``monitor`` wraps
    the game below those training-only steps so it sees whole games with raw scores.
    """
    check_env_id(env_cfg.id)
    if is_atari(env_cfg.id):
        settings = AtariSettings.from_config(env_cfg)
        kwargs = env_cfg.get("kwargs")
        max_steps = env_cfg.get("max_episode_steps")
        return make_atari_env(
            str(env_cfg.id),
            settings,
            training,
            clip_rewards=training and settings.clip_rewards,
            max_episode_steps=None if max_steps is None else int(max_steps),
            render_mode=render_mode,
            monitor=monitor,
            kwargs=config_dict(kwargs, resolve=True) if kwargs else None,
        )
    kwargs = _make_kwargs(env_cfg)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return encode_observations(gym.make(env_cfg.id, **kwargs))


def reward_threshold(env_id: str) -> float | None:
    """The return at which the env counts as solved (from its registration), if any."""
    return check_env_id(env_id).reward_threshold
