"""The pieces the continuous-control off-policy agents (TD3, DDPG, SAC) are built from.

- :class:`ActionScaling`: a ``Box`` action space as the networks see it. The env and the replay
  buffer work in *env units* (within the Box bounds); actors and critics work on actions scaled
  to ``[-1, 1]`` (a tanh output, the critics' action input), as in Stable-Baselines3.
- :class:`QFunction` and :class:`Critics`: ``n`` independent ``Q(s, a)`` networks from the zoo
  (twin critics for clipped double Q-learning, one for DDPG).
- :class:`PolyakTargets`: ``target <- tau * online + (1 - tau) * target`` for module pairs.
- :func:`replay_tensors`: a replay batch as tensors, actions scaled, n-step aware discounts.
- :func:`frozen`: no gradients for a network's weights while another one trains through it.
- :class:`OrnsteinUhlenbeckNoise`: temporally correlated exploration noise (TD3, DDPG).

Each agent's own module keeps its update readable top to bottom; only these pieces are shared,
and all of them ride on the one off-policy loop (:mod:`rl_lab.rl.off_policy`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rl_lab.errors import ConfigError
from rl_lab.nets import build_encoder, init_weights
from rl_lab.rl.buffers import ReplayBatch, bootstrap_discounts


class OrnsteinUhlenbeckNoise:
    """Temporally correlated exploration noise, one process per env (the DDPG paper's choice;
    SB3's ``OrnsteinUhlenbeckActionNoise`` with its defaults): each step
    ``x <- x - theta * x * dt + sigma * sqrt(dt) * N(0, 1)``, from 0 at every episode start.

    Its stationary std is ``sigma / sqrt(2 theta)`` (1.8 sigma), reached over hundreds of
    steps: the noise drifts instead of jittering, which pushes a car up a hill where
    independent noise of the same sigma averages out.

    Args:
        sigma: scale of the noise (on the ``[-1, 1]`` action scale).
        theta: mean reversion rate.
        dt: time step.
    """

    def __init__(self, sigma: float, theta: float = 0.15, dt: float = 1e-2) -> None:
        self.sigma, self.theta, self.dt = sigma, theta, dt
        self.state: np.ndarray | None = None  # (n_envs, action_dim); None: all at 0

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """The next noise for ``shape`` = (n_envs, action_dim), drawn from ``rng``."""
        previous = self.state if self.state is not None and self.state.shape == shape else None
        x = np.zeros(shape) if previous is None else previous
        self.state = (
            x
            - self.theta * x * self.dt
            + self.sigma * math.sqrt(self.dt) * rng.standard_normal(shape)
        )
        return self.state

    def reset(self, done: np.ndarray) -> None:
        """Start the processes of the envs whose episode ended (``done``: (n_envs,) bools)."""
        if self.state is not None:
            self.state[done] = 0.0


class ActionScaling:
    """Env units ↔ the ``[-1, 1]`` scale of the networks: ``env = bias + scale * scaled``.

    Args:
        action_space: the env's (single) action space; a ``Box`` with finite bounds.
        device: where :meth:`to_scaled` puts its tensors.
        agent: the agent's name, for the error messages (``"TD3"``).

    Raises:
        ConfigError: the space is not a ``Box``, or its bounds are not finite.
    """

    def __init__(self, action_space: gym.Space, device: torch.device, agent: str) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise ConfigError(
                f"{agent} needs a continuous (Box) action space, but this env's is "
                f"{action_space}. For discrete actions use agent=dqn (e.g. `python -m rl_lab "
                "agent=dqn env=CartPole-v1`), or choose a continuous-control env (e.g. "
                "env=Pendulum-v1)."
            )
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ConfigError(
                f"{agent} needs finite action bounds to scale its tanh actor, but this env's "
                f"action space is {action_space}. Wrap the env to give its actions finite bounds."
            )
        self.space = action_space
        self.shape = tuple(action_space.shape)
        self.dim = math.prod(self.shape)
        # float64 NumPy copies for acting, flat float32 tensors for learning
        self.low = action_space.low.astype(np.float64).reshape(-1)
        self.high = action_space.high.astype(np.float64).reshape(-1)
        self.scale, self.bias = (self.high - self.low) / 2.0, (self.high + self.low) / 2.0
        self._scale_t = torch.as_tensor(self.scale, dtype=torch.float32, device=device)
        self._bias_t = torch.as_tensor(self.bias, dtype=torch.float32, device=device)

    def to_env(self, scaled: np.ndarray) -> np.ndarray:
        """``(n, dim)`` actions in ``[-1, 1]`` → ``(n, *shape)`` within the bounds, the space's
        dtype."""
        actions = np.clip(self.bias + self.scale * scaled, self.low, self.high)
        return actions.reshape(len(scaled), *self.shape).astype(self.space.dtype)

    def to_scaled(self, env_actions: Tensor) -> Tensor:
        """``(batch, *shape)`` env-unit actions (float32 tensor) → ``(batch, dim)`` in
        ``[-1, 1]``."""
        return (env_actions.reshape(len(env_actions), -1) - self._bias_t) / self._scale_t

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform actions within the bounds (env units), drawn from ``rng``."""
        return self.to_env(rng.uniform(-1.0, 1.0, size=(n, self.dim)))


class QFunction(nn.Module):
    """``Q(s, a) = Linear(trunk(concat(flatten(s), a)))``.

    Args:
        trunk: zoo encoder taking ``prod(obs_shape) + action_dim`` features.
    """

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.q = nn.Linear(trunk_features(trunk), 1)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        """Q-values ``(batch,)`` of ``obs (batch, *obs_shape)`` and scaled ``action``."""
        features = torch.cat([obs.flatten(1), action], dim=1)
        return self.q(self.trunk(features)).squeeze(1)


class Critics(nn.Module):
    """``n`` independent Q-functions, registered as ``q1`` … ``qn`` (``q1`` trains TD3's actor).

    Args:
        q_functions: the Q-functions, at least one.
    """

    def __init__(self, q_functions: Sequence[QFunction]) -> None:
        super().__init__()
        if not q_functions:
            raise ValueError("Critics needs at least one Q-function")
        for i, q in enumerate(q_functions, start=1):
            self.add_module(f"q{i}", q)
        self.q_functions = list(q_functions)

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, ...]:
        """Every critic's ``Q(s, a)``, each ``(batch,)``."""
        return tuple(q(obs, action) for q in self.q_functions)

    def min(self, obs: Tensor, action: Tensor) -> Tensor:
        """``(batch,)`` the smallest of the critics' values (clipped double Q-learning)."""
        return functools.reduce(torch.minimum, self(obs, action))


def build_trunk(
    spec: Mapping[str, Any], in_shape: tuple[int, ...], init: str, which: str
) -> nn.Module:
    """The zoo encoder of ``agent.network.<which>`` for inputs of ``in_shape``, initialised
    with ``init``; a ConfigError says which network spec does not fit."""
    try:
        trunk = build_encoder(spec, in_shape)
    except ValueError as exc:
        raise ConfigError(
            f"agent.network.{which} is invalid for inputs of shape {in_shape}: {exc}. Fix it "
            f"with e.g. agent.network.{which}.type=mlp or "
            f"agent.network.{which}.hidden_sizes=[256,256]."
        ) from None
    if not hasattr(trunk, "out_features"):
        raise ConfigError(f"agent.network.{which}: the encoder must expose 'out_features'.")
    init_weights(trunk, init)
    return trunk


def trunk_features(trunk: nn.Module) -> int:
    """The width of ``trunk``'s output features, its ``out_features`` (see :func:`build_trunk`)."""
    # torch types module attributes as Tensor | Module; zoo encoders set out_features to an int
    return cast(int, trunk.out_features)


def build_critics(
    spec: Mapping[str, Any], obs_shape: tuple[int, ...], action_dim: int, n_critics: int, init: str
) -> Critics:
    """``n_critics`` Q-functions of the zoo spec ``agent.network.critic``; with a scheme other
    than ``default`` their output layers get it with gain 1 (no ReLU follows them)."""
    in_shape = (math.prod(obs_shape) + action_dim,)
    q_functions = [QFunction(build_trunk(spec, in_shape, init, "critic")) for _ in range(n_critics)]
    if init != "default":
        for q in q_functions:
            init_weights(q.q, init, gain=1.0)
    return Critics(q_functions)


class PolyakTargets:
    """Target networks that trail their online networks: ``target <- tau * online + (1 - tau)
    * target`` for parameters; buffers (e.g. BatchNorm statistics) are copied, as SB3 does.

    Args:
        pairs: ``(target, online)`` modules of the same architecture.
    """

    def __init__(self, pairs: Sequence[tuple[nn.Module, nn.Module]]) -> None:
        # tensor lists gathered once: walking the modules on every update is slow
        self._targets: list[Tensor] = [p for t, _ in pairs for p in t.parameters()]
        self._online: list[Tensor] = [p for _, o in pairs for p in o.parameters()]
        self._target_buffers = [b for t, _ in pairs for b in t.buffers()]
        self._online_buffers = [b for _, o in pairs for b in o.buffers()]

    @torch.no_grad()
    def update(self, tau: float) -> None:
        """One Polyak step with coefficient ``tau`` (1 copies the online networks)."""
        torch._foreach_lerp_(self._targets, self._online, tau)
        if self._target_buffers:
            torch._foreach_copy_(self._target_buffers, self._online_buffers)


class ReplayTensors(NamedTuple):
    """A replay batch on the agent's device, ready for a TD target
    ``rewards + bootstrap * V(next_obs)``."""

    obs: Tensor  # (batch, *obs_shape) float32
    actions: Tensor  # (batch, action_dim) scaled to [-1, 1]
    rewards: Tensor  # (batch,) n-step sums of rewards
    next_obs: Tensor  # (batch, *obs_shape) float32
    bootstrap: Tensor  # (batch,) gamma^k (1 - terminated): 0 after a terminal state


def replay_tensors(
    batch: ReplayBatch, scaling: ActionScaling, gamma: float, device: torch.device
) -> ReplayTensors:
    """``batch`` as :class:`ReplayTensors` (``gamma ** k`` of n-step batches included)."""
    env_actions = torch.as_tensor(batch.actions, dtype=torch.float32, device=device)
    terminated = torch.as_tensor(batch.terminated, device=device)
    return ReplayTensors(
        torch.as_tensor(batch.obs, dtype=torch.float32, device=device),
        scaling.to_scaled(env_actions),
        torch.as_tensor(batch.rewards, device=device),
        torch.as_tensor(batch.next_obs, dtype=torch.float32, device=device),
        bootstrap_discounts(batch, gamma, device) * (1.0 - terminated),
    )


@contextmanager
def frozen(params: Sequence[nn.Parameter]) -> Iterator[None]:
    """No gradients for ``params`` inside the block: an actor's loss goes through the critics,
    whose weights need none (it saves a third of that backward pass)."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
