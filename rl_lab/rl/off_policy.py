"""The off-policy loop, shared by every replay-based agent (DQN now; TD3 and others reuse it).

It owns time: collecting experience from the vector env into the replay buffer, deciding when
to train (``learning_starts``, ``train_freq``, ``gradient_steps`` as in Stable-Baselines3),
periodic greedy evaluation, TensorBoard logging, checkpoints and graceful interruption. Atari
games fill a :class:`~rl_lab.rl.frame_buffer.FrameReplayBuffer` (each frame stored once).

An agent plugged into this loop is an :class:`OffPolicyAgent`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch

from rl_lab.config import require
from rl_lab.rl.atari import is_atari
from rl_lab.rl.buffers import ReplayBatch, ReplayBuffer
from rl_lab.rl.frame_buffer import FrameReplayBuffer
from rl_lab.rl.loop import Loop, LoopAgent, LoopState, crossed
from rl_lab.signals import GracefulStop
from rl_lab.tracking import ProgressBar


class OffPolicyAgent(LoopAgent, Protocol):
    """What the off-policy loop asks of its agent, besides :class:`~rl_lab.rl.loop.LoopAgent`."""

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform actions for ``n`` envs (before ``learning_starts``)."""
        ...

    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """Exploratory actions for a batch of observations."""
        ...

    def update(self, batch: ReplayBatch, env_step: int) -> dict[str, torch.Tensor]:
        """One gradient step on a replay batch; its metrics, the loss first."""
        ...

    def on_env_step(self, env_step: int, done: np.ndarray | None = None) -> None:
        """Per-step bookkeeping (e.g. DQN's target update interval); ``done`` marks the envs
        whose episode ended at this step (terminated or truncated)."""
        ...


def check_loop_config(cfg: Any) -> None:
    """Cross-field checks of the loop keys (after the rules of
    :class:`~rl_lab.rl.configs.OffPolicyLoopConfig`)."""
    a = cfg.agent
    require(
        a.gradient_steps != 0,
        "agent.gradient_steps=0 would never train. Use a number of gradient steps per training "
        "phase, or -1 for as many as the env steps the phase collected.",
    )
    require(
        a.buffer_size >= a.batch_size,
        f"agent.buffer_size={a.buffer_size} is smaller than agent.batch_size={a.batch_size}; "
        "the replay buffer must hold at least one batch. Raise agent.buffer_size or lower "
        "agent.batch_size.",
    )


class OffPolicyLoop(Loop):
    """Collects into a replay buffer and trains every ``train_freq`` vector steps.

    The agent's config supplies ``buffer_size``, ``batch_size``, ``learning_starts``,
    ``train_freq`` (vector steps, or finished episodes with ``train_freq_unit=episode``, between
    training phases) and ``gradient_steps`` (updates per phase; -1: one per env step collected
    since the last phase), with Stable-Baselines3's meaning. See :class:`~rl_lab.rl.loop.Loop`
    for the args.
    """

    agent: OffPolicyAgent

    def make_envs(self) -> Any:
        """The training envs, and the replay buffer shaped by their spaces.

        Atari observations are stacks of frames: their buffer stores each frame once.
        """
        envs = super().make_envs()
        space, action_space = envs.single_observation_space, envs.single_action_space
        action_shape = action_space.shape
        action_dtype = action_space.dtype if action_space.shape else np.int64
        if is_atari(self.cfg.env.id):
            self.buffer: ReplayBuffer | FrameReplayBuffer = FrameReplayBuffer(
                self.cfg.agent.buffer_size,
                space.shape,
                action_shape,
                action_dtype,
                num_envs=envs.num_envs,
            )
        else:
            self.buffer = ReplayBuffer(
                self.cfg.agent.buffer_size,
                space.shape,
                space.dtype,
                action_shape,
                action_dtype,
                num_envs=envs.num_envs,
            )
        return envs

    #: env steps collected since the last training phase (``gradient_steps=-1`` trains as many)
    steps_in_phase = 0

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """The replay buffer, in ``last.pt`` when ``checkpointing.save_buffer`` is true, and
        the env steps of the current training phase."""
        keep = for_resume and self.cfg.checkpointing.save_buffer
        return {
            "buffer": self.buffer.state_dict() if keep else None,
            "steps_in_phase": self.steps_in_phase,
        }

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        if payload.get("buffer") is not None:
            self.buffer.load_state_dict(payload["buffer"])
        self.steps_in_phase = int(payload.get("steps_in_phase", 0))

    def run(self) -> LoopState:
        """Train until ``total_steps``; returns the final loop state (before final eval)."""
        cfg, agent, state = self.cfg, self.agent, self.state
        # Plain Python values: DictConfig attribute access costs microseconds in the hot loop.
        total = int(cfg.total_steps)
        learning_starts, train_freq = int(cfg.agent.learning_starts), int(cfg.agent.train_freq)
        gradient_steps, batch_size = int(cfg.agent.gradient_steps), int(cfg.agent.batch_size)
        per_episode = cfg.agent.get("train_freq_unit", "step") == "episode"
        n_steps, gamma = int(cfg.agent.get("n_steps", 1)), float(cfg.agent.gamma)
        start_steps, start_time = state.env_steps, time.perf_counter() - state.wall_time_s
        obs, _ = self.envs.reset(seed=self._reset_seed)
        metrics: dict[str, torch.Tensor] = {}
        sps = 0.0
        progress_every = max(1, total // (200 * self.num_envs))
        description = f"{cfg.agent.name} {cfg.env.id} seed={cfg.seed}"
        with (
            GracefulStop() as stop,
            ProgressBar(total, description, cfg.progress, state.env_steps) as bar,
        ):
            while not self.training_done():
                if state.env_steps < learning_starts:
                    actions = agent.random_actions(self.num_envs, self.rng)
                else:
                    actions = agent.act(obs, state.env_steps, self.rng)
                next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
                # On episode ends the vector env already returns the next episode's first
                # observation; the replay buffer needs the real last one to bootstrap from.
                real_next_obs = next_obs
                if "final_obs" in infos:
                    real_next_obs = next_obs.copy()
                    for i in np.flatnonzero(infos["_final_obs"]):
                        real_next_obs[i] = infos["final_obs"][i]
                self.buffer.add(obs, actions, rewards, real_next_obs, terminated, truncated)
                obs = next_obs

                before, episodes_before = state.env_steps, state.episodes
                state.env_steps += self.num_envs
                state.vector_steps += 1
                if "episode" in infos:
                    self._log_episodes(infos)
                agent.on_env_step(state.env_steps, terminated | truncated)

                if per_episode:
                    train_now = crossed(episodes_before, state.episodes, train_freq)
                else:
                    train_now = state.vector_steps % train_freq == 0
                self.steps_in_phase += self.num_envs
                if train_now:
                    collected, self.steps_in_phase = self.steps_in_phase, 0
                    if state.env_steps > learning_starts:
                        for _ in range(gradient_steps if gradient_steps > 0 else collected):
                            batch = self.buffer.sample(batch_size, self.rng, n_steps, gamma)
                            metrics = agent.update(batch, state.env_steps)
                        self._check_finite(metrics)

                now = time.perf_counter()
                state.wall_time_s = now - start_time
                sps = (state.env_steps - start_steps) / max(state.wall_time_s, 1e-9)
                if state.vector_steps % progress_every == 0:
                    bar.update(state.env_steps, self._recent_return(), sps)
                self.after_steps(before, metrics, sps, stop)
            bar.update(state.env_steps, self._recent_return(), sps)
        state.wall_time_s = time.perf_counter() - start_time
        return state
