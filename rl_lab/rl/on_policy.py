"""The on-policy loops: fixed-length rollouts (A2C, PPO, recurrent or not) and whole episodes
(REINFORCE).

:class:`OnPolicyLoop` owns time: it collects rollouts of ``n_steps`` vector steps into the
rollout buffer, bootstraps truncated episodes from the value of their real last observation,
computes GAE(λ) advantages, hands the rollout to the agent's ``update``, and around that
evaluates, logs, checkpoints and honours interruption (all from :class:`~rl_lab.rl.loop.Loop`).
:class:`EpisodeLoop` is the same loop with another rollout: ``n_episodes`` whole episodes per
env from fresh resets, with Monte-Carlo returns and no bootstrapping.

An agent plugged into this loop is an :class:`OnPolicyAgent` (see ``rl_lab.rl.actor_critic``).

Evaluation, checkpoints, logging and interruption happen between rollouts (after the update),
so a checkpoint never holds half a rollout; Ctrl-C is honoured once the current rollout and
update finish (a second Ctrl-C stops at once).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from rl_lab.rl.evaluation import Policy, greedy_policy
from rl_lab.rl.loop import Loop, LoopAgent, LoopState
from rl_lab.rl.normalization import (
    FrozenObsNormalizer,
    load_normalization_state,
    normalization_state,
    wrap_normalization,
)
from rl_lab.rl.rollout import EpisodeBuffer, RolloutBuffer
from rl_lab.signals import GracefulStop
from rl_lab.tracking import ProgressBar

if TYPE_CHECKING:
    from rl_lab.rl.actor_critic import PolicyStep
    from rl_lab.rl.rollout import Rollout


class OnPolicyAgent(LoopAgent, Protocol):
    """What the on-policy loops ask of their agent, besides :class:`~rl_lab.rl.loop.LoopAgent`."""

    device: torch.device

    def initial_state(self, n_envs: int) -> torch.Tensor | None:
        """Zero recurrent state for ``n_envs`` envs; ``None`` for feed-forward policies."""
        ...

    def act(
        self, obs: np.ndarray, state: torch.Tensor | None, episode_starts: np.ndarray
    ) -> PolicyStep:
        """Sampled actions with their values and log-probabilities, and the new state."""
        ...

    def value(
        self,
        obs: np.ndarray,
        state: torch.Tensor | None = None,
        episode_starts: np.ndarray | None = None,
    ) -> np.ndarray:
        """``V(obs)``, for bootstrapping."""
        ...

    def update(self, rollout: Rollout, env_step: int) -> dict[str, torch.Tensor]:
        """Learn from one rollout; its metrics, the loss first."""
        ...


#: Seeds of the resets that start each :class:`EpisodeLoop` rollout: ``seed + stride * env
#: step``, so a resumed run plays the episodes the uninterrupted run would have played.
EPISODE_SEED_STRIDE = 7919


class OnPolicyLoop(Loop):
    """Alternates collecting a rollout and one agent update on it.

    The agent's config supplies ``n_steps`` (vector steps per rollout), ``gamma`` and
    ``gae_lambda`` (advantage estimation), ``normalize_obs`` and ``normalize_reward`` (running
    normalisation of the training envs, see :mod:`rl_lab.rl.normalization`). See
    :class:`~rl_lab.rl.loop.Loop` for the args.
    """

    agent: OnPolicyAgent

    def make_envs(self) -> Any:
        """The training envs (normalised as configured) and the rollout buffer they fill."""
        a = self.cfg.agent
        envs = wrap_normalization(
            super().make_envs(), a.normalize_obs, a.normalize_reward, float(a.gamma)
        )
        self.buffer = self.make_buffer(envs)
        # recurrent state of the episodes in progress (None for feed-forward policies)
        self.policy_state = self.agent.initial_state(envs.num_envs)
        self._obs: np.ndarray | None = None  # the next observations; None: reset first
        self._episode_starts = np.ones(envs.num_envs, dtype=bool)
        return envs

    def make_buffer(self, envs: Any) -> Any:
        """The buffer one rollout fills, shaped by the envs' spaces."""
        space, action_space = envs.single_observation_space, envs.single_action_space
        floating = np.issubdtype(space.dtype, np.floating)
        discrete = isinstance(action_space, gym.spaces.Discrete)
        indices = discrete or isinstance(action_space, gym.spaces.MultiDiscrete)
        return RolloutBuffer(
            int(self.cfg.agent.n_steps),
            envs.num_envs,
            space.shape,
            np.dtype(np.float32) if floating else space.dtype,
            () if discrete else action_space.shape,
            np.dtype(np.int64) if indices else np.dtype(np.float32),
            device=self.agent.device,
        )

    # ----------------------------------------------------------------------------- state
    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """Normaliser statistics (every checkpoint: evaluation needs them) and, in ``last.pt``,
        the recurrent state of the episodes in progress."""
        return {
            "normalization": normalization_state(self.envs),
            "policy_state": self.policy_state if for_resume else None,
        }

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        load_normalization_state(self.envs, payload.get("normalization"))
        if payload.get("policy_state") is not None:
            self.policy_state = payload["policy_state"].to(self.agent.device)

    def eval_policy(self, n_envs: int) -> Policy:
        """The greedy policy, seeing observations normalised with the current (frozen) stats."""
        normalizer = FrozenObsNormalizer.from_state(normalization_state(self.envs))
        return greedy_policy(self.agent, n_envs, normalizer)

    # ----------------------------------------------------------------------------- loop
    def collect_rollout(
        self, obs: np.ndarray, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fill the buffer with ``n_steps`` vector steps from ``obs``; returns the next
        observations and their episode-start flags."""
        agent, buffer, state = self.agent, self.buffer, self.state
        buffer.reset(self.policy_state)
        for _ in range(buffer.n_steps):
            step = agent.act(obs, self.policy_state, episode_starts)
            next_obs, rewards, terminated, truncated, infos = self.envs.step(step.env_actions)
            # A truncated episode did not end in a terminal state: its last reward is followed
            # by V(real last obs), which the autoreset moved to infos["final_obs"].
            bootstrap_values = np.zeros(self.num_envs, dtype=np.float32)
            cut = np.flatnonzero(truncated & ~terminated)
            if cut.size:
                final_obs = np.stack([infos["final_obs"][i] for i in cut])
                cut_state = None
                if step.state is not None:
                    cut_state = step.state[..., torch.as_tensor(cut, device=agent.device), :]
                bootstrap_values[cut] = agent.value(final_obs, cut_state)
            buffer.add(
                obs,
                step.actions,
                rewards,
                episode_starts,
                terminated,
                truncated,
                step.values,
                step.log_probs,
                bootstrap_values,
            )
            obs, episode_starts = next_obs, terminated | truncated
            self.policy_state = step.state
            state.env_steps += self.num_envs
            state.vector_steps += 1
            if "episode" in infos:
                self._log_episodes(infos)
        return obs, episode_starts

    def next_rollout(self) -> None:
        """Collect the next rollout into the buffer and compute its GAE(λ) advantages; the
        first one of a run (or of its resumption) starts from fresh episodes."""
        if self._obs is None:
            self._obs, _ = self.envs.reset(seed=self._reset_seed)
            self._episode_starts = np.ones(self.num_envs, dtype=bool)  # reset any state
        self._obs, self._episode_starts = self.collect_rollout(self._obs, self._episode_starts)
        last_values = self.agent.value(self._obs, self.policy_state, self._episode_starts)
        a = self.cfg.agent
        self.buffer.compute_returns_and_advantages(last_values, float(a.gamma), float(a.gae_lambda))

    def run(self) -> LoopState:
        """Train until ``total_steps`` (in whole rollouts, so up to one rollout more, as SB3
        does); returns the final loop state (before final eval)."""
        cfg, agent, state = self.cfg, self.agent, self.state
        total = int(cfg.total_steps)
        start_steps, start_time = state.env_steps, time.perf_counter() - state.wall_time_s
        sps = 0.0
        description = f"{cfg.agent.name} {cfg.env.id} seed={cfg.seed}"
        with (
            GracefulStop() as stop,
            ProgressBar(total, description, cfg.progress, state.env_steps) as bar,
        ):
            while not self.training_done():
                before = state.env_steps
                self.next_rollout()
                metrics = agent.update(self.buffer, state.env_steps)
                self._check_finite(metrics)

                state.wall_time_s = time.perf_counter() - start_time
                sps = (state.env_steps - start_steps) / max(state.wall_time_s, 1e-9)
                bar.update(state.env_steps, self._recent_return(), sps)
                self.after_steps(before, metrics, sps, stop)
        state.wall_time_s = time.perf_counter() - start_time
        return state


class EpisodeLoop(OnPolicyLoop):
    """Monte-Carlo rollouts: every env plays ``n_episodes`` whole episodes, then one update.

    Each rollout starts every env from a reset (seeded from the run's seed and the env-step
    count, :data:`EPISODE_SEED_STRIDE`), so all of its episodes are played by the current
    policy. An env that has played its episodes keeps stepping while the others finish (a
    vector env steps all of its envs); those steps count as env steps but are not learned
    from. Returns run to the end of each episode: a time limit ends a return like a terminal
    state (no bootstrapping). The agent's config supplies ``n_episodes``, ``gamma``,
    ``normalize_obs`` and ``normalize_reward``; see :class:`~rl_lab.rl.loop.Loop` for the args.
    """

    def make_buffer(self, envs: Any) -> EpisodeBuffer:
        """An :class:`~rl_lab.rl.rollout.EpisodeBuffer` for the envs."""
        return EpisodeBuffer(envs.num_envs, device=self.agent.device)

    def next_rollout(self) -> None:
        """Play ``n_episodes`` whole episodes in every env and compute their returns."""
        agent, buffer, state, n = self.agent, self.buffer, self.state, self.num_envs
        n_episodes = int(self.cfg.agent.n_episodes)
        obs, _ = self.envs.reset(seed=self.cfg.seed + EPISODE_SEED_STRIDE * state.env_steps)
        episode_starts = np.ones(n, dtype=bool)
        finished = np.zeros(n, dtype=np.int64)  # episodes each env has completed
        buffer.reset()
        while (kept := finished < n_episodes).any():
            step = agent.act(obs, None, episode_starts)
            next_obs, rewards, terminated, truncated, infos = self.envs.step(step.env_actions)
            dones = terminated | truncated
            buffer.add(obs, step.actions, rewards, dones, step.values, step.log_probs, kept)
            obs, episode_starts = next_obs, dones
            finished += dones
            state.env_steps += n
            state.vector_steps += 1
            if "episode" in infos:
                self._log_episodes(infos)
        buffer.compute_returns(float(self.cfg.agent.gamma))
