"""Atari 2600 games (``ALE/<Game>-v5``) with the preprocessing of the DQN papers.

Mnih et al. 2015 (https://doi.org/10.1038/nature14236) and Machado et al. 2018
(https://arxiv.org/abs/1709.06009). Every ``ALE/*`` id is configured by ``env=atari``
(``env.atari.*``: :class:`~rl_lab.rl.configs.AtariSettings`); what a training env and an
evaluation env see:

=========================  ======================================  ==========================
step                       training                                evaluation
=========================  ======================================  ==========================
sticky actions             ``repeat_action_probability`` (0.25)    same
no-op reset                1..``noop_max`` (30) no-ops             same
frame skip + max-pool      ``frame_skip`` (4), max of last two     same
84x84 grayscale            ``screen_size`` (84), INTER_AREA        same
fire on reset              FIRE after a reset if the game has it   same
frame stack                ``frame_stack`` (4), zeros at a reset   same
terminal on life loss      yes (the game goes on)                  no: whole games
reward clipping            to [-1, 1]                              no: raw score
=========================  ======================================  ==========================

The env is made with ``frameskip=1`` and the skip is done here, as in the DQN papers (ALE v5's
own ``frameskip=4`` repeats the action without max-pooling the last two frames, so sprites that
flicker vanish); sticky actions stay at v5's 0.25 (Machado et al.), ``0.0`` is the NoFrameskip-v4
setting of the original papers.

Two backends build the vectorized env (``env.backend``):

- ``gymnasium``: one gymnasium wrapper stack per game (``AtariPreprocessing``,
  ``FrameStackObservation``, ``ClipReward`` where gymnasium has them; :class:`FireReset` and
  :class:`EpisodicLife` here), in gymnasium's ``SyncVectorEnv``/``AsyncVectorEnv``
  (``env.vectorization``).
- ``ale_vector``: ale-py's own C++ vector env (``ale_py.vector_env.AtariVectorEnv``, the engine
  of EnvPool), which steps the games on ``env.atari.num_threads`` threads and preprocesses in
  C++; the same steps, frames resized by ALE's own code.

Either way, :class:`AtariEpisodes` reports *game* returns and lengths (unclipped, over all
lives) in ``info["episode"]``, the way ``RecordEpisodeStatistics`` does for other envs, so the
training curves show game scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.wrappers import AtariPreprocessing, ClipReward, FrameStackObservation, TimeLimit
from gymnasium.wrappers.vector import ClipReward as VectorClipReward
from omegaconf import DictConfig

from rl_lab.config import require
from rl_lab.config_dict import config_dict
from rl_lab.errors import ConfigError
from rl_lab.rl.configs import BACKENDS, AtariSettings

if TYPE_CHECKING:
    from ale_py.env import AtariEnv

#: Env ids that get the Atari preprocessing (and ``conf/env/atari.yaml``).
ATARI_PREFIX = "ALE/"


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an ALE game that gets the Atari preprocessing (``ALE/<Game>-v5``)."""
    return env_id.startswith(ATARI_PREFIX)


def check_atari_config(cfg: DictConfig) -> None:
    """Checks of an Atari run's env config (after
    :data:`~rl_lab.rl.configs.ATARI_RULES`)."""
    require(
        cfg.env.backend != "ale_vector" or not cfg.env.get("kwargs"),
        "env.kwargs are passed to gymnasium.make, which the ale_vector backend does not use. "
        "Remove them or use env.backend=gymnasium.",
    )


# --------------------------------------------------------------------------- per-game wrappers
def _game(env: gym.Env) -> AtariEnv:
    """The ale-py game under ``env``'s wrappers (its action meanings and its ``ale`` interface)."""
    return cast("AtariEnv", env.unwrapped)  # every ALE/ id is made by ale-py's AtariEnv


class FireReset(gym.Wrapper):
    """Press FIRE after every reset, for games that wait for it (Breakout launches the ball).

    Without it an agent can stall at the start of an episode for its whole time limit.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = _game(env).get_action_meanings()
        if "FIRE" not in meanings:
            raise ValueError(f"{env.spec.id if env.spec else env} has no FIRE action")
        self.fire = meanings.index("FIRE")

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(self.fire)
        if terminated or truncated:  # practically never; start over without firing
            obs, info = self.env.reset(**kwargs)
        return obs, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode for the learner, but the game goes on (Mnih et al. 2015).

    ``step`` returns ``terminated=True`` when the life counter drops; the following ``reset``
    then takes one no-op step instead of restarting the game, so later stages of the game stay
    reachable. Only a real game over (or a truncation) resets the game.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = _game(self.env).ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)  # NOOP past the lost life
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = _game(self.env).ale.lives()
        return obs, info


def make_atari_env(
    env_id: str,
    settings: AtariSettings,
    training: bool,
    clip_rewards: bool = False,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    monitor: Callable[[gym.Env], gym.Env] | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> gym.Env:
    """One preprocessed game: observations ``(frame_stack, size, size)`` uint8.

    Args:
        env_id: an ``ALE/<Game>-v5`` id.
        settings: the preprocessing settings.
        training: add the training-only steps (terminal on life loss).
        clip_rewards: clip rewards to ``[-1, 1]`` here (the vector envs of
            :func:`make_atari_vec_env` clip after :class:`AtariEpisodes` instead, so game
            scores stay visible).
        max_episode_steps: time limit in agent steps (``None``: ALE v5's 108,000 frames).
        render_mode: passed to ``gymnasium.make`` (``"rgb_array"`` for videos).
        monitor: a wrapper that records whole-game statistics (e.g. Stable-Baselines3's
            ``Monitor``), placed after the frame skip and before the life-loss and clipping
            steps.
        kwargs: extra keyword arguments for ``gymnasium.make``.
    """
    env = gym.make(
        env_id,
        frameskip=1,  # the skip (with max-pooling) is AtariPreprocessing's
        repeat_action_probability=settings.repeat_action_probability,
        render_mode=render_mode,
        **dict(kwargs or {}),
    )
    env = AtariPreprocessing(
        env,
        noop_max=settings.noop_max,
        frame_skip=settings.frame_skip,
        screen_size=settings.screen_size,
        terminal_on_life_loss=False,  # EpisodicLife below keeps the game going instead
        grayscale_obs=True,
        scale_obs=False,  # uint8 frames: the network scales them on the device
    )
    if max_episode_steps is not None:
        env = TimeLimit(env, max_episode_steps)
    if monitor is not None:
        env = monitor(env)
    if settings.fire_reset and "FIRE" in _game(env).get_action_meanings():
        env = FireReset(env)
    env = FrameStackObservation(env, settings.frame_stack, padding_type="zero")
    if training and settings.terminal_on_life_loss:
        env = EpisodicLife(env)
    if clip_rewards:
        env = ClipReward(env, -1.0, 1.0)
    return env


# --------------------------------------------------------------------------- vector envs
class AtariEpisodes(VectorWrapper):
    """Whole-game returns and lengths in ``info["episode"]`` / ``info["_episode"]``.

    The same keys as gymnasium's ``RecordEpisodeStatistics`` (``r``, ``l``, ``t``), but counted
    over whole games with the raw score: an episode that ends on a lost life (training) does not
    end the game. A game is over when its env was truncated or really reset, which shows as
    ``info["episode_frame_number"]`` going down. Also adds the ``info["_final_obs"]`` mask where
    the backend does not (ale-py's vector env). Needs the same-step autoreset mode.
    """

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        n = self.num_envs
        self.returns = np.zeros(n, dtype=np.float64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.start_times = np.full(n, time.perf_counter())
        self.frame_numbers = np.zeros(n, dtype=np.int64)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, infos = self.env.reset(**kwargs)
        self.returns[:] = 0.0
        self.lengths[:] = 0
        self.start_times[:] = time.perf_counter()
        self.frame_numbers[:] = infos["episode_frame_number"]
        return obs, infos

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self.returns += rewards
        self.lengths += 1
        frame_numbers = np.asarray(infos["episode_frame_number"], dtype=np.int64)
        game_over = truncated | (terminated & (frame_numbers < self.frame_numbers))
        self.frame_numbers[:] = frame_numbers
        if "final_obs" in infos and "_final_obs" not in infos:
            infos["_final_obs"] = terminated | truncated
        if game_over.any():
            now = time.perf_counter()
            infos["episode"] = {
                "r": np.where(game_over, self.returns, 0.0),
                "l": np.where(game_over, self.lengths, 0),
                "t": np.where(game_over, np.round(now - self.start_times, 6), 0.0),
            }
            infos["_episode"] = game_over
            self.returns[game_over] = 0.0
            self.lengths[game_over] = 0
            self.start_times[game_over] = now
        return obs, rewards, terminated, truncated, infos


class _AleVector(VectorWrapper):
    """ale-py's ``AtariVectorEnv`` with gymnasium's vector-env calling conventions.

    ``reset(seed=[s0, s1, ...])`` (one seed per env, as the evaluator passes them) becomes the
    array ALE expects, and actions become the int64 array it asserts. After a lost life (the
    game goes on) ALE's ``info["final_obs"]`` is not the observation the step led to, but the
    returned observation is: it is put in ``final_obs``, so a replay buffer stores the real
    transition.
    """

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.frame_numbers = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        if isinstance(seed, (list, tuple)):
            seed = np.asarray(seed, dtype=np.int64)
        obs, infos = self.env.reset(seed=seed, options=options)
        self.frame_numbers[:] = infos["episode_frame_number"]
        return obs, infos

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(
            np.asarray(actions, dtype=np.int64)
        )
        frame_numbers = np.asarray(infos["episode_frame_number"], dtype=np.int64)
        # ended without a reset (the frame counter went on): a lost life, the game continues
        went_on = (terminated | truncated) & (frame_numbers > self.frame_numbers)
        if went_on.any():
            infos["final_obs"][went_on] = obs[went_on]
        self.frame_numbers[:] = frame_numbers
        return obs, rewards, terminated, truncated, infos


def _ale_vector_env(
    env_id: str,
    settings: AtariSettings,
    num_envs: int,
    training: bool,
    max_episode_steps: int | None,
) -> VectorEnv:
    from ale_py.vector_env import AtariVectorEnv

    spec = gym.spec(env_id)
    max_frames = spec.kwargs.get("max_num_frames_per_episode", 108_000)
    if max_episode_steps is not None:
        max_frames = max_episode_steps * settings.frame_skip
    envs = AtariVectorEnv(
        game=spec.kwargs["game"],
        num_envs=num_envs,
        num_threads=settings.num_threads,
        max_num_frames_per_episode=max_frames,
        repeat_action_probability=settings.repeat_action_probability,
        full_action_space=bool(spec.kwargs.get("full_action_space", False)),
        autoreset_mode=AutoresetMode.SAME_STEP,
        img_height=settings.screen_size,
        img_width=settings.screen_size,
        grayscale=True,
        stack_num=settings.frame_stack,
        frameskip=settings.frame_skip,
        maxpool=True,
        noop_max=settings.noop_max,
        episodic_life=False,  # ALE's episodic_life restarts the game on a lost life
        life_loss_info=training and settings.terminal_on_life_loss,  # terminal, game goes on
        reward_clipping=False,  # clipped after AtariEpisodes has counted the raw score
        use_fire_reset=settings.fire_reset,
    )
    return _AleVector(envs)


def make_atari_vec_env(
    env_cfg: DictConfig,
    num_envs: int,
    training: bool,
    render_mode: str | None = None,
) -> VectorEnv:
    """The vectorized, preprocessed games of ``env_cfg`` (same-step autoreset).

    Args:
        env_cfg: the env config (``id``, ``backend``, ``vectorization``, ``atari``, ...).
        num_envs: parallel games.
        training: training envs (life loss is terminal, rewards clipped) or evaluation envs
            (whole games, raw scores).
        render_mode: gymnasium backend only.
    """
    settings = AtariSettings.from_config(env_cfg)
    max_steps = env_cfg.get("max_episode_steps")
    max_steps = None if max_steps is None else int(max_steps)
    backend = env_cfg.get("backend", "gymnasium")
    if backend == "ale_vector":
        if render_mode is not None:
            raise ConfigError(
                "env.backend=ale_vector cannot render; use env.backend=gymnasium for videos."
            )
        envs: VectorEnv = _ale_vector_env(env_cfg.id, settings, num_envs, training, max_steps)
    elif backend == "gymnasium":
        kwargs = env_cfg.get("kwargs")
        make_one = partial(
            make_atari_env,
            str(env_cfg.id),
            settings,
            training,
            max_episode_steps=max_steps,
            render_mode=render_mode,
            kwargs=config_dict(kwargs, resolve=True) if kwargs else None,
        )
        vector_cls = AsyncVectorEnv if env_cfg.vectorization == "async" else SyncVectorEnv
        envs = vector_cls([make_one] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        raise ConfigError(f"env.backend={backend!r} is not one of {', '.join(BACKENDS)}.")
    envs = AtariEpisodes(envs)
    if training and settings.clip_rewards:
        envs = VectorClipReward(envs, -1.0, 1.0)
    return envs
