"""Experience replay: a preallocated NumPy ring buffer of transitions.

Only ``terminated`` is stored as "done": an episode cut by a time limit (``truncated``) still
bootstraps from the value of its real last observation, which the loop passes as ``next_obs``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class ReplayBatch(NamedTuple):
    """A batch of transitions; arrays have a leading ``batch`` dimension."""

    obs: np.ndarray  # (batch, *obs_shape)
    actions: np.ndarray  # (batch, *action_shape)
    rewards: np.ndarray  # (batch,) float32
    next_obs: np.ndarray  # (batch, *obs_shape)
    terminated: np.ndarray  # (batch,) float32: 1.0 where the episode ended in a terminal state


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions, sampled uniformly.

    Args:
        capacity: number of transitions kept; the oldest are overwritten.
        obs_shape, obs_dtype: shape and dtype of one observation.
        action_shape, action_dtype: shape (``()`` for discrete) and dtype of one action.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.pos = 0  # next slot to write
        self.size = 0  # number of valid transitions

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Append a batch of transitions, one per env: arrays have a leading ``n`` dimension."""
        n = len(rewards)
        end = self.pos + n
        # a slice (a view) when the batch does not wrap around the end, fancy indices if it does
        idx = (
            slice(self.pos, end)
            if end <= self.capacity
            else np.arange(self.pos, end) % self.capacity
        )
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        return ReplayBatch(
            self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
            self.terminated[idx],
        )  # fmt: skip

    def state_dict(self) -> dict[str, object]:
        """The filled part of the buffer as tensors (checkpoint-safe, ``weights_only`` loadable)."""
        n = self.size
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "size": n,
            **{
                name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)[:n]))
                for name in ("obs", "next_obs", "actions", "rewards", "terminated")
            },
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore contents saved by :meth:`state_dict` into a buffer of the same capacity."""
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"saved buffer capacity {state['capacity']} != configured {self.capacity}"
            )
        n = int(state["size"])
        for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(self, name)[:n] = state[name].numpy()
        self.pos, self.size = int(state["pos"]), n
