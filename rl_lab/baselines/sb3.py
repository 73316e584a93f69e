"""Stable-Baselines3 agents behind rl_lab's agent interface, trained by :class:`Sb3Loop`.

``impl=sb3`` (:data:`SB3`, the :class:`~rl_lab.rl.task.Implementation` named in
``rl_lab.agents.IMPLS``): ``agent=dqn impl=sb3`` runs SB3's DQN with the hyperparameters of
``agent=dqn`` and its presets (mapped by ``rl_lab.baselines.mapping``) on the same env
construction, seeds, step budget and evaluation protocol, and leaves the same run directory:
SB3's own TensorBoard scalars (``rollout/``, ``train/``) land in ``tb/`` beside ours
(``charts/episodic_return``, ``eval/mean_return``, ...), which our callback logs at the same env
steps as our own loops. ``agent=a2c``, ``ppo`` and ``ppo_lstm`` (sb3-contrib's RecurrentPPO)
with ``impl=sb3`` do the same for our on-policy agents; their ``normalize_obs``/
``normalize_reward`` wrap the training env in SB3's ``VecNormalize``, whose statistics go into
every checkpoint (as ours do) and are applied frozen in evaluation.

Checkpoints: ``last.pt``/``best.pt`` hold the policy weights (loadable with
``weights_only=True``, used by ``mode=eval``); resume uses SB3's own ``sb3_last.zip`` and
``sb3_replay_buffer.pkl`` written next to ``last.pt`` (and the ``VecNormalize`` statistics
saved in ``last.pt``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from hydra.utils import get_class
from omegaconf import DictConfig
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecMonitor,
    VecNormalize,
    unwrap_vec_normalize,
)

from rl_lab.agents import agent_label
from rl_lab.baselines.mapping import Sb3Algo, sb3_algo, sb3_kwargs
from rl_lab.errors import ConfigError
from rl_lab.rl.atari import is_atari
from rl_lab.rl.envs import env_spaces, make_env
from rl_lab.rl.evaluation import Policy, greedy_policy
from rl_lab.rl.loop import Loop, LoopState, crossed
from rl_lab.rl.normalization import FrozenObsNormalizer, load_rms, rms_state
from rl_lab.signals import GracefulStop
from rl_lab.tracking import ProgressBar

ZIP_NAME, BUFFER_NAME = "sb3_last.zip", "sb3_replay_buffer.pkl"


def make_sb3_env(env_cfg: DictConfig) -> VecEnv:
    """SB3 vector env of ``env.num_envs`` copies of ``make_env(env_cfg)``, with episode stats.

    Atari games get rl_lab's training preprocessing (the same wrappers as ``agent=dqn``'s
    gymnasium backend), with SB3's ``Monitor`` below the life-loss and clipping steps, so the
    episode statistics are whole games with raw scores, as ours.
    """
    vec_cls = SubprocVecEnv if env_cfg.vectorization == "async" else DummyVecEnv
    if is_atari(env_cfg.id):
        factory: Callable[[], gym.Env] = partial(make_env, env_cfg, training=True, monitor=Monitor)
        return vec_cls([factory] * int(env_cfg.num_envs))
    factories: list[Callable[[], gym.Env]] = [partial(make_env, env_cfg)] * int(env_cfg.num_envs)
    return VecMonitor(vec_cls(factories))


def vec_normalize_state(env: VecEnv) -> dict[str, Any] | None:
    """The ``VecNormalize`` statistics of ``env`` in rl_lab's checkpoint format
    (:func:`rl_lab.rl.normalization.normalization_state`); ``None`` without ``VecNormalize``."""
    normalize = unwrap_vec_normalize(env)
    if normalize is None:
        return None
    return {
        "obs": rms_state(normalize.obs_rms) if normalize.norm_obs else None,
        "reward": rms_state(normalize.ret_rms) if normalize.norm_reward else None,
    }


def load_vec_normalize_state(env: VecEnv, state: dict[str, Any] | None) -> None:
    """Restore what :func:`vec_normalize_state` saved into the ``VecNormalize`` ``env``."""
    normalize = unwrap_vec_normalize(env)
    if not state or normalize is None:
        return
    if state.get("obs") is not None:
        load_rms(normalize.obs_rms, state["obs"])
    if state.get("reward") is not None:
        load_rms(normalize.ret_rms, state["reward"])


class Sb3Agent:
    """An SB3 model seen through rl_lab's agent interface (predict, predict_fn, charts, ...).

    Args:
        algo: the mapping of the algorithm.
        cfg: the run config (its ``agent`` is the rl_lab agent's config).
        device: torch device.
    """

    def __init__(self, algo: Sb3Algo, cfg: DictConfig, device: str) -> None:
        self.algo = algo
        self.sb3_class: type[BaseAlgorithm] = get_class(algo.sb3_class)
        #: differences no option controls, recorded in results.json
        self.mapping_notes = dict(algo.notes)
        env = make_sb3_env(cfg.env)
        action_shape = env.action_space.shape
        kwargs = sb3_kwargs(algo, cfg.agent, int(np.prod(action_shape)) if action_shape else None)
        self.policy_name = kwargs.pop("policy")
        normalize = kwargs.pop("vec_normalize", None)
        if normalize is not None:  # outside VecMonitor: episode returns stay raw
            env = VecNormalize(env, **normalize)
        self._optimizer_steps = 0  # gradient steps of on-policy models (see attach)
        model = self.sb3_class(
            self.policy_name,
            env,
            seed=cfg.seed,
            device=device,
            verbose=0,
            **kwargs,
        )
        self.attach(model)

    def attach(self, model: BaseAlgorithm) -> None:
        """Use ``model`` (a new one, or one loaded for resume) from now on.

        On-policy models count epochs in ``_n_updates`` (PPO), so their gradient steps are
        counted here, by a hook on the policy's optimizer.
        """
        self.model: BaseAlgorithm = model
        if isinstance(model, OnPolicyAlgorithm):
            model.policy.optimizer.register_step_post_hook(self._count_optimizer_step)

    def _count_optimizer_step(self, *_: Any) -> None:
        self._optimizer_steps += 1

    @property
    def recurrent(self) -> bool:
        """Whether the policy carries an LSTM state (sb3-contrib's RecurrentPPO)."""
        return isinstance(self.model.policy, RecurrentActorCriticPolicy)

    @property
    def updates(self) -> int:
        """Gradient steps taken so far."""
        if isinstance(self.model, OnPolicyAlgorithm):
            return self._optimizer_steps
        return int(getattr(self.model, "_n_updates", 0))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy (deterministic) actions for a batch of observations.

        Recurrent policies start from a zero state; use :meth:`predict_fn` for whole episodes.
        """
        return self.model.predict(obs, deterministic=True)[0]

    def predict_fn(self, n_envs: int) -> Callable[[np.ndarray], np.ndarray]:
        """A greedy policy for ``n_envs`` parallel episodes that start now.

        Recurrent policies keep the LSTM state of every env inside the returned function (zeros
        at its first call, which is flagged as an episode start); others get :meth:`predict`.
        """
        if not self.recurrent:
            return self.predict
        state: tuple[np.ndarray, ...] | None = None
        starts = np.ones(n_envs, dtype=bool)

        def policy(obs: np.ndarray) -> np.ndarray:
            nonlocal state, starts
            actions, state = self.model.predict(
                obs, state=state, episode_start=starts, deterministic=True
            )
            starts = np.zeros(n_envs, dtype=bool)
            return actions

        return policy

    def charts(self, env_step: int) -> dict[str, float]:
        """Learning rate, and per algorithm exploration rate (DQN), clip range (PPO) and the
        Gaussian policy's mean action std, under our chart tags."""
        model = self.model
        progress = model._current_progress_remaining
        charts = {"charts/learning_rate": float(model.lr_schedule(progress))}
        if hasattr(model, "exploration_rate"):
            charts["charts/epsilon"] = float(model.exploration_rate)
        clip_range = getattr(model, "clip_range", None)  # PPO's schedule of the ratio clip
        if callable(clip_range):
            charts["charts/clip_range"] = float(clip_range(progress))
        log_std = getattr(model.policy, "log_std", None)
        if log_std is not None:
            charts["charts/action_std"] = log_std.detach().exp().mean().item()
        return charts

    def state_dict(self) -> dict[str, Any]:
        """The policy weights (for ``best.pt``/``last.pt`` and ``mode=eval``)."""
        return {"policy": self.model.policy.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load policy weights saved by :meth:`state_dict`."""
        self.model.policy.load_state_dict(state["policy"])
        self._optimizer_steps = int(state.get("updates", 0))


class _LoopCallback(BaseCallback):
    """Drives our loop bookkeeping from inside ``model.learn``: episodes, eval, checkpoints."""

    def __init__(self, loop: Sb3Loop, bar: ProgressBar, stop: GracefulStop) -> None:
        super().__init__()
        self.loop, self.bar, self.stop = loop, bar, stop
        self.start_steps = loop.state.env_steps
        self.start_time = time.perf_counter() - loop.state.wall_time_s

    def _on_step(self) -> bool:
        loop, state = self.loop, self.loop.state
        before, state.env_steps = state.env_steps, int(self.num_timesteps)
        state.vector_steps += 1
        for info in self.locals.get("infos", []):
            if "episode" in info:
                state.episodes += 1
                loop._recent_returns.append(float(info["episode"]["r"]))
                loop.tracker.scalars(
                    {
                        "charts/episodic_return": info["episode"]["r"],
                        "charts/episodic_length": info["episode"]["l"],
                    },
                    state.env_steps,
                )
        state.wall_time_s = time.perf_counter() - self.start_time
        sps = (state.env_steps - self.start_steps) / max(state.wall_time_s, 1e-9)
        if crossed(before, state.env_steps, loop._log_freq):
            self.bar.update(state.env_steps, loop._recent_return(), sps)
        loop.after_steps(before, {}, sps, self.stop)  # SB3 logs its own losses
        return state.stopped_early_at is None  # False ends model.learn (eval.stop_at)


class Sb3Loop(Loop):
    """Runs ``model.learn`` with our callback; the rest is the shared :class:`Loop`."""

    agent: Sb3Agent

    def make_envs(self) -> Any:
        return self.agent.model.get_env()

    def run(self) -> LoopState:
        """Train the SB3 model until ``total_steps``; returns the loop state."""
        agent, state, cfg = self.agent, self.state, self.cfg
        agent.model.set_logger(configure(str(self.run_dir / "tb"), ["tensorboard"]))
        total = int(cfg.total_steps)
        description = f"{agent_label(cfg.agent.name, cfg.impl)} {cfg.env.id} seed={cfg.seed}"
        with (
            GracefulStop() as stop,
            ProgressBar(total, description, cfg.progress, state.env_steps) as bar,
        ):
            callback = _LoopCallback(self, bar, stop)
            extra: dict[str, Any] = {}
            if isinstance(agent.model, OnPolicyAlgorithm):
                # SB3 writes its train/ scalars every log_interval rollouts (A2C's default is
                # 100): about every logging.log_freq env steps, like our own scalars
                rollout = agent.model.n_steps * agent.model.n_envs
                extra["log_interval"] = max(1, int(cfg.logging.log_freq) // rollout)
            agent.model.learn(
                total_timesteps=total - state.env_steps if state.env_steps else total,
                callback=callback,
                reset_num_timesteps=state.env_steps == 0,
                **extra,
            )
            bar.update(state.env_steps, self._recent_return(), 0.0)
        state.wall_time_s = time.perf_counter() - callback.start_time
        return state

    def eval_policy(self, n_envs: int) -> Policy:
        """Greedy policy on raw observations, normalised with frozen ``VecNormalize`` stats."""
        normalizer = FrozenObsNormalizer.from_state(vec_normalize_state(self.envs))
        return greedy_policy(self.agent, n_envs, normalizer)

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """``VecNormalize`` statistics (every checkpoint, for ``mode=eval``); for ``last.pt``
        also SB3's own zip (and replay buffer), written beside it for resume."""
        state: dict[str, Any] = {"normalization": vec_normalize_state(self.envs)}
        if not for_resume:
            return state
        model = self.agent.model
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        model.save(self.ckpt_dir / ZIP_NAME)
        if isinstance(model, OffPolicyAlgorithm) and self.cfg.checkpointing.save_buffer:
            model.save_replay_buffer(self.ckpt_dir / BUFFER_NAME)
        state["sb3"] = {"zip": ZIP_NAME, "num_timesteps": int(model.num_timesteps)}
        return state

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        zip_path = self.ckpt_dir / payload["sb3"]["zip"]
        agent = self.agent
        with warnings.catch_warnings():
            # the saved model restores NStepReplayBuffer with its n-step kwargs; SB3 still warns
            # that `n_steps` is ignored for a custom buffer class
            warnings.filterwarnings("ignore", message=r"`n_steps=\d+` is ignored")
            model = agent.sb3_class.load(zip_path, env=self.envs, device=agent.model.device)
        agent.attach(model)
        load_vec_normalize_state(self.envs, payload.get("normalization"))
        buffer_path = Path(self.ckpt_dir / BUFFER_NAME)
        if buffer_path.exists() and isinstance(agent.model, OffPolicyAlgorithm):
            agent.model.load_replay_buffer(buffer_path)


class Sb3Implementation:
    """``impl=sb3``: the agent's Stable-Baselines3 counterpart (``rl_lab.agents.AGENTS``),
    built from the same config and trained by :class:`Sb3Loop`."""

    def check_config(self, cfg: DictConfig) -> None:
        """Refuse what SB3 cannot reproduce (``sb3_kwargs`` names the key), before any work."""
        sb3_kwargs(sb3_algo(cfg.agent.name), cfg.agent)
        if cfg.env.vectorization == "native":
            raise ConfigError(
                "impl=sb3 steps its own vector envs (DummyVecEnv or SubprocVecEnv), not an env's "
                "native vectorized implementation: use env.vectorization=sync (or async) with "
                "impl=sb3."
            )
        action_space = env_spaces(cfg.env)[1]
        if isinstance(action_space, gym.spaces.MultiDiscrete) and action_space.start.any():
            raise ConfigError(
                f"impl=sb3 cannot act in {cfg.env.id}'s action space {action_space}: SB3 picks "
                "every MultiDiscrete dimension's choices from 0 and ignores the space's start. "
                "Run it with impl=rl_lab, or give the env a MultiDiscrete space starting at 0."
            )

    def build_agent(
        self, cfg: DictConfig, observation_space: Any, action_space: Any, device: str
    ) -> Sb3Agent:
        """The SB3 model behind :class:`Sb3Agent`; it builds its own training env (SB3's
        vector env of ``make_env``), so the spaces are not needed."""
        return Sb3Agent(sb3_algo(cfg.agent.name), cfg, device)

    def loop_class(self, cfg: DictConfig) -> type[Loop]:
        """:class:`Sb3Loop`, for every algorithm."""
        return Sb3Loop

    def extra_results(self, agent: Sb3Agent) -> dict[str, Any]:
        """``sb3_notes``: the implementation differences no option controls."""
        return {"sb3_notes": agent.mapping_notes}


#: ``impl=sb3`` (named in rl_lab.agents.IMPLS).
SB3 = Sb3Implementation()
