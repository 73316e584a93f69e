"""Replay of stacked-frame observations that stores every frame once.

An Atari observation is a stack of the last ``k`` frames, ``(k, 84, 84)`` uint8, and consecutive
observations share ``k - 1`` of them. Storing ``obs`` and ``next_obs`` per transition, as
:class:`~rl_lab.rl.buffers.ReplayBuffer` does, keeps ``2k`` copies of every frame (56 KB per
transition, 56 GB for a million); this buffer keeps one (7 KB per transition, about 7.3 GB for
a million, bookkeeping included).

Layout: one ring of frames shared by all envs, and per transition the ring positions of the
``k + 1`` frames it spans (``frame_ids``): ``obs = frames[ids[:k]]``,
``next_obs = frames[ids[1:]]``. Each step appends one frame per env (the newest of
``next_obs``); the first observation of an episode also stores its own frames, except the
padding of a fresh stack (all-zero frames, or copies of the first frame), which map to a shared
zero frame or to the first frame, and frames it shares with the env's previous observation (an
Atari game that goes on after a lost life). So any stacking convention round-trips exactly,
episode ends (the real last observation) included.

The frame ring has a little more room than one frame per transition (``frame_slack``), for the
extra first frames of episodes. Should episodes be so short that the frames run out first, the
oldest transitions are dropped with their frames, so ``len(buffer)`` can stay somewhat below
``capacity``; it never serves a transition whose frames were overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rl_lab.rl.buffers import ReplayBatch, n_step_returns

_TRANSITION_FIELDS = ("frame_ids", "actions", "rewards", "terminated", "dones")


class FrameReplayBuffer:
    """Fixed-capacity FIFO of transitions between stacked-frame observations, sampled uniformly.

    The same interface as :class:`~rl_lab.rl.buffers.ReplayBuffer` (``add``, ``sample`` with
    n-step returns, ``state_dict``), for observations ``(k, *frame_shape)`` uint8 whose
    consecutive values within an episode shift by one frame (``next_obs[:-1] == obs[1:]``).

    Args:
        capacity: transitions kept (rounded up to a multiple of ``num_envs``).
        obs_shape: one observation's shape ``(k, *frame_shape)``, e.g. ``(4, 84, 84)``.
        action_shape, action_dtype: one action's shape (``()`` for discrete) and dtype.
        num_envs: transitions per :meth:`add` call (one per env, interleaved in the ring).
        frame_slack: extra frame room as a fraction of ``capacity`` (for the first frames of
            episodes: 1/32 holds ``capacity`` transitions while episodes average at least 32
            steps).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
        num_envs: int = 1,
        frame_slack: float = 1 / 32,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if len(obs_shape) < 2:
            raise ValueError(f"obs_shape must be (stack, *frame_shape), got {obs_shape}")
        self.num_envs = int(num_envs)
        self.stack = int(obs_shape[0])
        self.frame_shape = tuple(int(d) for d in obs_shape[1:])
        self.capacity = math.ceil(capacity / self.num_envs) * self.num_envs
        # room for every transition's newest frame, the slack, and the stacks in progress
        self.frame_capacity = (
            self.capacity + math.ceil(frame_slack * self.capacity) + (self.stack + 1) * num_envs
        )
        # the ring, plus one all-zero frame at the end (the padding of fresh stacks)
        self.frames = np.empty((self.frame_capacity + 1, *self.frame_shape), dtype=np.uint8)
        self.frames[self.frame_capacity] = 0
        self.zero_frame = self.frame_capacity
        # per transition: ring positions of the k + 1 frames (obs = [:k], next_obs = [1:])
        self.frame_ids = np.zeros((self.capacity, self.stack + 1), dtype=np.int32)
        self.actions = np.zeros((self.capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=bool)  # terminated or truncated
        # per vector step: the oldest frame (absolute count) that its transitions use
        self.step_oldest_frame = np.zeros(self.capacity // self.num_envs, dtype=np.int64)
        self.pos = 0  # next slot to write (a multiple of num_envs)
        self.size = 0  # valid transitions, ending just before pos
        self.frames_written = 0  # frames ever appended (absolute frame number of the next one)
        self._filled = 0  # transition slots ever written (for state_dict)
        # each env's current observation as absolute frame numbers (-1: the zero frame), and
        # whether its next transition continues that episode
        self._stacks = np.full((self.num_envs, self.stack), -1, dtype=np.int64)
        self._continues = np.zeros(self.num_envs, dtype=bool)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffer's arrays (frames and per-transition fields)."""
        arrays = (self.frames, self.step_oldest_frame, self._stacks)
        return sum(a.nbytes for a in arrays) + sum(
            getattr(self, name).nbytes for name in _TRANSITION_FIELDS
        )

    # ----------------------------------------------------------------------------- adding
    def _ring(self, frame_numbers: np.ndarray) -> np.ndarray:
        """Ring positions of absolute frame numbers (-1 → the zero frame)."""
        return np.where(frame_numbers < 0, self.zero_frame, frame_numbers % self.frame_capacity)

    def _oldest_step(self) -> int:
        """Index in :attr:`step_oldest_frame` of the oldest valid vector step."""
        return ((self.pos - self.size) % self.capacity) // self.num_envs

    def _append(self, frame: np.ndarray) -> int:
        """Write one frame into the ring; returns its absolute number."""
        number = self.frames_written
        dying = number - self.frame_capacity  # the frame this write overwrites
        # drop the oldest steps that still use it (only when episodes are very short)
        while self.size and dying >= self.step_oldest_frame[self._oldest_step()]:
            self.size -= self.num_envs
        self.frames[number % self.frame_capacity] = frame
        self.frames_written += 1
        return number

    def _start_stack(self, env: int, obs: np.ndarray) -> np.ndarray:
        """Store the frames of an episode's first observation ``(k, *frame_shape)``.

        Older frames that are padding (all zeros, or copies of the first frame) or that go on
        from the env's previous observation (a game that continues after a lost life) are not
        stored again.
        """
        newest = self._append(obs[-1])
        previous = self._stacks[env]  # the previous episode's last observation (-1: none)
        numbers = np.empty(self.stack, dtype=np.int64)
        numbers[-1] = newest
        for i in range(self.stack - 1):
            frame, before = obs[i], previous[i + 1]
            if not frame.any():
                numbers[i] = -1  # zero padding
            elif np.array_equal(frame, obs[-1]):
                numbers[i] = newest  # padding by repeating the first frame
            elif before >= 0 and np.array_equal(frame, self.frames[before % self.frame_capacity]):
                numbers[i] = before  # the stack goes on from the previous observation
            else:
                numbers[i] = self._append(frame)
        return numbers

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray | None = None,
    ) -> None:
        """Append one transition per env: arrays have a leading ``num_envs`` dimension.

        ``next_obs`` is the real next observation (the last one of an episode that ended, not
        the first of the next); ``obs`` must be the previous call's ``next_obs`` unless that
        ended its episode.
        """
        n = self.num_envs
        if len(rewards) != n:
            raise ValueError(f"expected {n} transitions (one per env), got {len(rewards)}")
        dones = terminated if truncated is None else np.logical_or(terminated, truncated)
        if self.size == self.capacity:  # the step at pos is the oldest: it goes
            self.size -= n
        oldest = self.frames_written
        for e in range(n):
            if self._continues[e]:
                stack = self._stacks[e]
                if not np.array_equal(obs[e, -1], self.frames[self._ring(stack[-1:])[0]]):
                    raise ValueError(
                        f"env {e}: obs is not the previous next_obs although its episode did "
                        "not end; call add with consecutive transitions"
                    )
            else:
                stack = self._start_stack(e, obs[e])
            newest = self._append(next_obs[e, -1])
            numbers = np.append(stack, newest)  # (k + 1,)
            self.frame_ids[self.pos + e] = self._ring(numbers)
            valid = numbers[numbers >= 0]
            oldest = min(oldest, int(valid.min()))
            self._stacks[e] = numbers[1:]
            self._continues[e] = not dones[e]
        slots = slice(self.pos, self.pos + n)
        self.actions[slots] = actions
        self.rewards[slots] = rewards
        self.terminated[slots] = terminated
        self.dones[slots] = dones
        self.step_oldest_frame[self.pos // n] = oldest
        self.pos = (self.pos + n) % self.capacity
        self.size += n
        self._filled = max(self._filled, self.pos or self.capacity)

    # ----------------------------------------------------------------------------- sampling
    def _gather(self, ids: np.ndarray) -> np.ndarray:
        return self.frames[ids]  # fancy indexing: one copy, (batch, k, *frame_shape) uint8

    def sample(
        self,
        batch_size: int,
        rng: np.random.Generator,
        n_steps: int = 1,
        gamma: float | None = None,
    ) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly with replacement.

        Observations come back as ``(batch, k, *frame_shape)`` uint8; see
        :meth:`rl_lab.rl.buffers.ReplayBuffer.sample` for ``n_steps`` and ``gamma``.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        oldest = (self.pos - self.size) % self.capacity
        idx = (oldest + rng.integers(0, self.size, size=batch_size)) % self.capacity
        if n_steps == 1:
            frames = self._gather(self.frame_ids[idx])  # (batch, k + 1, ...)
            return ReplayBatch(
                frames[:, :-1], self.actions[idx], self.rewards[idx], frames[:, 1:],
                self.terminated[idx],
            )  # fmt: skip
        if gamma is None:
            raise ValueError("n-step returns need the discount gamma")
        rewards, last, discounts = n_step_returns(
            idx, self.rewards, self.dones, oldest, self.size, self.num_envs, n_steps, gamma
        )
        return ReplayBatch(
            self._gather(self.frame_ids[idx, :-1]),
            self.actions[idx],
            rewards,
            self._gather(self.frame_ids[last, 1:]),
            self.terminated[last],
            discounts,
        )

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The written part of the buffer as tensors (checkpoint-safe, ``weights_only``
        loadable). A resumed run starts fresh episodes, so the stacks in progress are not kept.
        """
        frames = min(self.frames_written, self.frame_capacity)
        filled = self._filled
        return {
            "capacity": self.capacity,
            "frame_capacity": self.frame_capacity,
            "pos": self.pos,
            "size": self.size,
            "frames_written": self.frames_written,
            "filled": filled,
            "frames": torch.from_numpy(self.frames[:frames]),
            "step_oldest_frame": torch.from_numpy(self.step_oldest_frame),
            **{
                name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)[:filled]))
                for name in _TRANSITION_FIELDS
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore contents saved by :meth:`state_dict` into a buffer of the same shape."""
        if (state["capacity"], state["frame_capacity"]) != (self.capacity, self.frame_capacity):
            raise ValueError(
                f"saved buffer capacity {state['capacity']} (frames {state['frame_capacity']}) "
                f"!= configured {self.capacity} (frames {self.frame_capacity})"
            )
        frames = state["frames"].numpy()
        self.frames[: len(frames)] = frames
        self.step_oldest_frame[:] = state["step_oldest_frame"].numpy()
        filled = int(state["filled"])
        for name in _TRANSITION_FIELDS:
            getattr(self, name)[:filled] = state[name].numpy()
        self.pos, self.size = int(state["pos"]), int(state["size"])
        self.frames_written, self._filled = int(state["frames_written"]), filled
        self._continues[:] = False  # the next add starts new episodes
