"""On-policy rollout buffers: fixed-length rollouts with GAE(λ), and whole episodes.

One rollout is ``n_steps`` consecutive vector steps of ``n_envs`` envs, stored time-major as
``(n_steps, n_envs, ...)`` NumPy arrays. After the rollout, :meth:`RolloutBuffer.
compute_returns_and_advantages` runs generalised advantage estimation (Schulman et al. 2016,
https://arxiv.org/abs/1506.02438) and :meth:`RolloutBuffer.minibatches` serves torch tensors:
shuffled transitions for feed-forward policies, or whole env sequences (with the recurrent state
at the rollout start) for recurrent ones.

:class:`EpisodeBuffer` holds whole episodes instead, for Monte-Carlo policy gradients
(REINFORCE): their returns run to the end of each episode (:func:`discounted_returns`), with
no bootstrapping, and it serves the same :class:`RolloutBatch` minibatches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from rl_lab.rl.buffers import to_device


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    bootstrap_values: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates and returns of one rollout.

    With ``gae_lambda=1`` the advantages are n-step returns minus values (A2C's estimate).

    Args:
        rewards, values: ``(T, N)`` reward of step t and ``V(s_t)``.
        terminated: ``(T, N)`` the episode ended at step t in a terminal state: no bootstrap.
        truncated: ``(T, N)`` the episode was cut at step t (time limit): bootstrap from
            ``bootstrap_values[t]`` (terminated wins when both are set).
        bootstrap_values: ``(T, N)`` ``V`` of the real last observation where ``truncated``
            (other entries are ignored).
        last_values: ``(N,)`` ``V`` of the observation after the last step (``s_T``).
        gamma: discount factor.
        gae_lambda: λ of GAE, in ``[0, 1]``.

    Returns:
        ``(advantages, returns)``, each ``(T, N)`` float32; ``returns = advantages + values``
        (the value-function targets).
    """
    n_steps = rewards.shape[0]
    terminated = terminated.astype(bool)
    ended = terminated | truncated.astype(bool)
    # the value of the state after step t, as seen by step t
    next_values = np.empty_like(values)
    next_values[:-1] = values[1:]
    next_values[-1] = last_values
    next_values = np.where(ended, np.where(terminated, 0.0, bootstrap_values), next_values)
    deltas = rewards + gamma * next_values - values  # TD errors, (T, N)
    carry = (gamma * gae_lambda) * ~ended  # no advantage flows across an episode end
    advantages = np.zeros_like(values)
    running = np.zeros_like(values[0])
    for t in reversed(range(n_steps)):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages.astype(np.float32), (advantages + values).astype(np.float32)


class RolloutBatch(NamedTuple):
    """A minibatch of transitions, as torch tensors.

    Feed-forward minibatches are flat: ``obs`` is ``(B, *obs_shape)``. Sequence minibatches hold
    ``E`` whole env sequences: ``obs`` is ``(T, E, *obs_shape)``, ``episode_starts`` ``(T, E)``
    and ``initial_state`` the recurrent state before step 0; every other field is flattened
    time-major to ``(T * E, ...)``, the order in which a policy flattens its sequence outputs.
    """

    obs: Tensor
    actions: Tensor
    old_values: Tensor
    old_log_probs: Tensor
    advantages: Tensor
    returns: Tensor
    episode_starts: Tensor | None = None
    initial_state: Tensor | None = None


def device_tensors(buffer: Any, episode_starts: bool) -> dict[str, Tensor]:
    """A filled buffer's arrays on its device, by the names minibatches give them (``values`` →
    ``old_values``, ...). Once per rollout; pinned, non-blocking copies on CUDA (uint8 frames
    stay uint8)."""
    fields = {
        "obs": buffer.obs,
        "actions": buffer.actions,
        "old_values": buffer.values,
        "old_log_probs": buffer.log_probs,
        "advantages": buffer.advantages,
        "returns": buffer.returns,
    }
    if episode_starts:
        fields["episode_starts"] = buffer.episode_starts
    return {k: to_device(v, buffer.device) for k, v in fields.items()}


class Rollout(Protocol):
    """What an actor-critic update reads from a rollout: :class:`RolloutBuffer` (fixed-length
    rollouts with GAE) or :class:`EpisodeBuffer` (whole episodes)."""

    @property
    def values(self) -> np.ndarray:
        """The values ``V(obs)`` the rollout was collected with."""
        ...

    @property
    def returns(self) -> np.ndarray:
        """The returns the critic learns (same shape as :attr:`values`)."""
        ...

    def minibatches(
        self, batch_size: int | None, sequences: bool = False
    ) -> Iterator[RolloutBatch]:
        """One epoch of minibatches (``batch_size`` ``None``: the whole rollout at once)."""
        ...


class RolloutBuffer:
    """Preallocated storage for one rollout of ``n_steps`` vector steps of ``n_envs`` envs.

    Args:
        n_steps: vector steps per rollout.
        n_envs: parallel envs.
        obs_shape, obs_dtype: one observation's shape and dtype.
        action_shape, action_dtype: one action's shape (``()`` for discrete) and dtype.
        device: where :meth:`minibatches` puts its tensors.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        self.device = torch.device(device)
        shape = (n_steps, n_envs)
        self.obs = np.zeros((*shape, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((*shape, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.episode_starts = np.zeros(shape, dtype=bool)  # obs[t] is an episode's first
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.values = np.zeros(shape, dtype=np.float32)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.bootstrap_values = np.zeros(shape, dtype=np.float32)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self.initial_state: Tensor | None = None
        self.pos = 0
        self._tensors: dict[str, Tensor] | None = None

    @property
    def full(self) -> bool:
        """Whether ``n_steps`` steps have been added since :meth:`reset`."""
        return self.pos == self.n_steps

    def reset(self, initial_state: Tensor | None = None) -> None:
        """Start a new rollout; ``initial_state`` is the recurrent state before its first step."""
        self.pos = 0
        self.initial_state = None if initial_state is None else initial_state.detach().clone()
        self._tensors = None

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        episode_starts: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        values: np.ndarray,
        log_probs: np.ndarray,
        bootstrap_values: np.ndarray,
    ) -> None:
        """Store one vector step; every argument has a leading ``n_envs`` dimension.

        ``actions`` are the policy's samples (unclipped for bounded continuous spaces: their
        log-probabilities are what the update re-evaluates); ``bootstrap_values`` holds
        ``V(final_obs)`` where the step was truncated.
        """
        if self.full:
            raise RuntimeError("the rollout is full; call reset() before adding more steps")
        t = self.pos
        self.obs[t] = obs
        self.actions[t] = actions
        self.rewards[t] = rewards
        self.episode_starts[t] = episode_starts
        self.terminated[t] = terminated
        self.truncated[t] = truncated
        self.values[t] = values
        self.log_probs[t] = log_probs
        self.bootstrap_values[t] = bootstrap_values
        self.pos += 1

    def compute_returns_and_advantages(
        self, last_values: np.ndarray, gamma: float, gae_lambda: float
    ) -> None:
        """Fill :attr:`advantages` and :attr:`returns` with :func:`compute_gae`."""
        if not self.full:
            raise RuntimeError(f"the rollout has {self.pos} of {self.n_steps} steps")
        self.advantages, self.returns = compute_gae(
            self.rewards,
            self.values,
            self.terminated,
            self.truncated,
            self.bootstrap_values,
            last_values,
            gamma,
            gae_lambda,
        )
        self._tensors = None

    def _as_tensors(self) -> dict[str, Tensor]:
        if self._tensors is None:
            self._tensors = device_tensors(self, episode_starts=True)
        return self._tensors

    def minibatches(
        self, batch_size: int | None, sequences: bool = False
    ) -> Iterator[RolloutBatch]:
        """One epoch of minibatches, in an order drawn from torch's global RNG.

        Args:
            batch_size: transitions per minibatch; ``None`` is one batch of the whole rollout
                (in storage order). With ``sequences`` it must be a multiple of ``n_steps``.
            sequences: serve whole env sequences (for recurrent policies): each minibatch holds
                ``batch_size // n_steps`` envs' complete rollouts, with ``episode_starts`` and
                the recurrent state at the rollout start (so the hidden state can be replayed).
        """
        data = self._as_tensors()
        total = self.n_steps * self.n_envs
        batch_size = total if batch_size is None else batch_size
        if sequences:
            if batch_size % self.n_steps or self.n_envs % (batch_size // self.n_steps):
                raise ValueError(
                    f"batch_size={batch_size} must be n_steps={self.n_steps} times a divisor "
                    f"of n_envs={self.n_envs} for sequence minibatches"
                )
            envs_per_batch = batch_size // self.n_steps
            order = (
                torch.arange(self.n_envs) if batch_size == total else torch.randperm(self.n_envs)
            )
            for start in range(0, self.n_envs, envs_per_batch):
                envs = order[start : start + envs_per_batch].to(self.device)
                state = self.initial_state
                yield RolloutBatch(
                    obs=data["obs"].index_select(1, envs),
                    **{
                        key: data[key].index_select(1, envs).flatten(0, 1)
                        for key in RolloutBatch._fields[1:6]
                    },
                    episode_starts=data["episode_starts"].index_select(1, envs),
                    initial_state=None if state is None else state[..., envs, :],
                )
            return
        flat = {key: data[key].flatten(0, 1) for key in RolloutBatch._fields[:6]}
        if batch_size == total:  # one full batch (A2C): no gather needed
            yield RolloutBatch(**flat)
            return
        order = torch.randperm(total)
        for start in range(0, total, batch_size):
            idx = order[start : start + batch_size].to(self.device)
            # index_select: a row copy each, ~10x faster than advanced indexing for frames
            yield RolloutBatch(**{key: value.index_select(0, idx) for key, value in flat.items()})


def discounted_returns(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """Monte-Carlo returns ``G_t = r_t + gamma * G_{t+1}``, restarting after each episode end.

    Args:
        rewards: ``(T, N)`` reward of step t in env n (time-major).
        dones: ``(T, N)`` step t was the last of its episode (terminated or truncated: a return
            never bootstraps, so a time limit ends it too). Steps after an env's last ``done``
            belong to an unfinished episode: their returns are partial sums.
        gamma: discount factor.

    Returns:
        ``(T, N)`` float32 returns.
    """
    returns = np.zeros(rewards.shape, dtype=np.float64)
    running = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running * ~dones[t].astype(bool)
        returns[t] = running
    return returns.astype(np.float32)


class EpisodeBuffer:
    """Whole episodes of ``n_envs`` envs, collected one vector step at a time.

    Each :meth:`add` takes a mask of the envs whose step counts (an env that has played its
    episodes keeps stepping while the others finish; those steps are not kept). After the
    rollout, :meth:`compute_returns` gives every kept step its Monte-Carlo return and its
    advantage ``return - value`` (the value is 0 without a baseline); then :attr:`values`,
    :attr:`returns` and :attr:`advantages` are flat ``(n_transitions,)`` arrays and
    :meth:`minibatches` serves them, as :class:`RolloutBuffer` does.

    Args:
        n_envs: parallel envs.
        device: where :meth:`minibatches` puts its tensors.
    """

    def __init__(self, n_envs: int, device: torch.device | str = "cpu") -> None:
        self.n_envs = n_envs
        self.device = torch.device(device)
        self.reset()

    def reset(self) -> None:
        """Start a new rollout."""
        self._steps: dict[str, list[np.ndarray]] = {
            key: [] for key in ("obs", "actions", "rewards", "dones", "values", "log_probs", "kept")
        }
        self.obs = self.actions = self.log_probs = np.zeros(0)
        self.values = self.returns = self.advantages = np.zeros(0, dtype=np.float32)
        self._tensors: dict[str, Tensor] | None = None

    @property
    def n_transitions(self) -> int:
        """Kept steps of the rollout (after :meth:`compute_returns`)."""
        return len(self.returns)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        dones: np.ndarray,
        values: np.ndarray,
        log_probs: np.ndarray,
        kept: np.ndarray,
    ) -> None:
        """Store one vector step; every argument has a leading ``n_envs`` dimension.

        ``dones`` marks steps that ended their episode; ``kept`` the envs whose step belongs to
        the rollout.
        """
        step = {
            "obs": obs, "actions": actions, "rewards": rewards, "dones": dones,
            "values": values, "log_probs": log_probs, "kept": kept,
        }  # fmt: skip
        for key, value in step.items():
            self._steps[key].append(np.array(value))  # a copy: envs may reuse their arrays

    def compute_returns(self, gamma: float) -> None:
        """Monte-Carlo returns and advantages of the kept steps (see :func:`discounted_returns`).

        Every env's kept steps must end with a ``done``: the rollout holds whole episodes.
        """
        stacked = {key: np.stack(steps) for key, steps in self._steps.items()}  # (T, N, ...)
        kept, dones = stacked["kept"].astype(bool), stacked["dones"].astype(bool)
        last_kept = kept & ~np.concatenate([kept[1:], np.zeros_like(kept[:1])])
        if (last_kept & ~dones).any():
            raise RuntimeError("the rollout holds an unfinished episode")
        returns = discounted_returns(stacked["rewards"], dones, gamma)
        # time-major order of the kept steps; the update sees them as one set of transitions
        obs = stacked["obs"][kept]
        self.obs = obs.astype(np.float32) if np.issubdtype(obs.dtype, np.floating) else obs
        self.actions = stacked["actions"][kept]
        self.log_probs = stacked["log_probs"][kept].astype(np.float32)
        self.values = stacked["values"][kept].astype(np.float32)
        self.returns = returns[kept]
        self.advantages = self.returns - self.values
        self._tensors = None

    def minibatches(
        self, batch_size: int | None, sequences: bool = False
    ) -> Iterator[RolloutBatch]:
        """One epoch of minibatches of the kept steps: all of them at once (``batch_size``
        ``None``) or shuffled with torch's global RNG. Episodes are not served as sequences."""
        if sequences:
            raise ValueError("an EpisodeBuffer serves transitions, not recurrent sequences")
        if self._tensors is None:
            self._tensors = device_tensors(self, episode_starts=False)
        data, total = self._tensors, self.n_transitions
        if batch_size is None or batch_size >= total:
            yield RolloutBatch(**data)
            return
        order = torch.randperm(total)
        for start in range(0, total, batch_size):
            idx = order[start : start + batch_size].to(self.device)
            yield RolloutBatch(**{key: value.index_select(0, idx) for key, value in data.items()})
