"""Experience replay: a preallocated NumPy ring buffer of transitions, with n-step returns.

Only ``terminated`` stops bootstrapping: an episode cut by a time limit (``truncated``) still
bootstraps from the value of its real last observation, which the loop passes as ``next_obs``.
Both end an n-step return, though: the return never runs into the next episode.

:func:`to_device` moves sampled batches to the agent's device (pinned memory and non-blocking
copies on CUDA). Stacked Atari frames have their own, leaner buffer:
:mod:`rl_lab.rl.frame_buffer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rl_lab.errors import ConfigError

_FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated", "dones")


class ReplayBatch(NamedTuple):
    """A batch of transitions; arrays have a leading ``batch`` dimension.

    With n-step returns, ``rewards`` is the discounted sum of up to n rewards, ``next_obs`` and
    ``terminated`` belong to the last of those steps, and ``discounts`` is ``gamma ** k`` for the
    k steps summed, so the TD target is ``rewards + discounts * (1 - terminated) * V(next_obs)``.
    ``discounts`` is None for one-step batches (the agent then uses its gamma).
    """

    obs: np.ndarray  # (batch, *obs_shape)
    actions: np.ndarray  # (batch, *action_shape)
    rewards: np.ndarray  # (batch,) float32
    next_obs: np.ndarray  # (batch, *obs_shape)
    terminated: np.ndarray  # (batch,) float32: 1.0 where the episode ended in a terminal state
    discounts: np.ndarray | None = None  # (batch,) float32


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A NumPy batch as a tensor on ``device``, without blocking the host on a GPU.

    On the CPU the tensor shares the array's memory. On CUDA the array is copied into pinned
    (page-locked) memory and sent with a non-blocking copy, so the host can prepare the next
    batch while the GPU works; torch's pinned-memory allocator keeps the staging memory alive
    until the copy has run.
    """
    tensor = torch.as_tensor(array)
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def native_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bfloat16 natively (x86 AVX-512 BF16 or AMX, as Linux's
    ``/proc/cpuinfo`` lists them; ``cpuinfo``: that file's text, read when None): there
    bfloat16 matmuls run about twice as fast as float32; elsewhere they are emulated and
    slower."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = cpuinfo.split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_mixed_precision(enabled: bool, device: torch.device) -> None:
    """``mixed_precision`` (bfloat16 autocast) is for CUDA devices and CPUs with native
    bfloat16; elsewhere it is an error (it would only be slower)."""
    if not enabled or device.type == "cuda" or (device.type == "cpu" and native_bfloat16()):
        return
    raise ConfigError(
        f"agent.mixed_precision=true needs a CUDA device or a CPU with native bfloat16 (AVX-512 "
        f"BF16 or AMX), but the run is on {device}, which has neither: there bfloat16 is "
        "emulated and slower than float32. Use device=cuda (or device=auto on a machine with a "
        "GPU), or agent.mixed_precision=false."
    )


def bootstrap_discounts(
    batch: ReplayBatch, gamma: float, device: torch.device
) -> float | torch.Tensor:
    """The factor in front of ``V(next_obs)`` in a TD target: ``batch.discounts`` or ``gamma``."""
    if batch.discounts is None:
        return gamma
    return to_device(batch.discounts, device)


def n_step_returns(
    idx: np.ndarray,
    rewards: np.ndarray,
    dones: np.ndarray,
    oldest: int,
    size: int,
    num_envs: int,
    n_steps: int,
    gamma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Discounted sums of up to ``n_steps`` rewards from the transitions at ``idx`` of a ring.

    The ring interleaves ``num_envs`` envs (the next step of an env is ``num_envs`` slots later)
    and holds ``size`` valid transitions from slot ``oldest`` on. A return stops after the step
    that ends its episode (``dones``) and at the newest transition of its env.

    Returns:
        ``(returns, last, discounts)``: ``(batch,)`` float32 sums, the ring slot of each
        return's last step (its ``next_obs`` and ``terminated`` bootstrap the target), and
        ``gamma ** k`` for the k steps summed, float32.
    """
    capacity = len(rewards)
    age = (idx - oldest) % capacity  # 0 = oldest: how many later steps of its env exist
    k = np.arange(n_steps)
    steps = (idx[:, None] + k[None, :] * num_envs) % capacity  # (batch, n)
    exists = age[:, None] + k[None, :] * num_envs < size
    # step k counts if it exists and no earlier step of the return ended its episode
    ended_before: np.ndarray = np.cumsum(dones[steps] & exists, axis=1) - (dones[steps] & exists)
    alive = exists & (ended_before == 0)
    count = alive.sum(axis=1)  # >= 1: step 0 always counts
    returns = (rewards[steps] * alive * gamma ** k[None, :]).sum(axis=1)
    last = steps[np.arange(len(idx)), count - 1]
    return returns.astype(np.float32), last, (gamma**count).astype(np.float32)


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions, sampled uniformly.

    Args:
        capacity: number of transitions kept; the oldest are overwritten.
        obs_shape, obs_dtype: shape and dtype of one observation.
        action_shape, action_dtype: shape (``()`` for discrete) and dtype of one action.
        num_envs: transitions added per :meth:`add` call (one per env, interleaved in the ring,
            so the next step of the same env is ``num_envs`` slots later).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
        num_envs: int = 1,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.num_envs = int(num_envs)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=bool)  # terminated or truncated
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
        truncated: np.ndarray | None = None,
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
        self.dones[idx] = terminated if truncated is None else np.logical_or(terminated, truncated)
        self.pos = end % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(
        self,
        batch_size: int,
        rng: np.random.Generator,
        n_steps: int = 1,
        gamma: float | None = None,
    ) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly with replacement.

        Args:
            n_steps: length of the returns (1 = one-step TD). A return stops early at the end of
                an episode and at the newest transition in the buffer.
            gamma: discount of the n-step return (needed when ``n_steps > 1``).
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        if n_steps == 1:
            return ReplayBatch(
                self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                self.terminated[idx],
            )  # fmt: skip
        if gamma is None:
            raise ValueError("n-step returns need the discount gamma")
        return self._sample_n_step(idx, n_steps, gamma)

    def _sample_n_step(self, idx: np.ndarray, n_steps: int, gamma: float) -> ReplayBatch:
        oldest = self.pos if self.size == self.capacity else 0
        rewards, last, discounts = n_step_returns(
            idx, self.rewards, self.dones, oldest, self.size, self.num_envs, n_steps, gamma
        )
        return ReplayBatch(
            self.obs[idx],
            self.actions[idx],
            rewards,
            self.next_obs[last],
            self.terminated[last],
            discounts,
        )

    def state_dict(self) -> dict[str, Any]:
        """The filled part of the buffer as tensors (checkpoint-safe, ``weights_only`` loadable)."""
        n = self.size
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "size": n,
            **{
                name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)[:n]))
                for name in _FIELDS
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore contents saved by :meth:`state_dict` into a buffer of the same capacity."""
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"saved buffer capacity {state['capacity']} != configured {self.capacity}"
            )
        n = int(state["size"])
        for name in _FIELDS:
            getattr(self, name)[:n] = state[name].numpy()
        self.pos, self.size = int(state["pos"]), n
