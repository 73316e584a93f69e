"""TD3: Twin Delayed Deep Deterministic policy gradient, for continuous actions.

Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic Methods"
(https://arxiv.org/abs/1802.09477). Three changes to DDPG, each a named hyperparameter here:

- clipped double Q-learning: twin critics, the TD target uses the smaller of the two;
- delayed policy updates: the actor and the target networks move once per ``policy_delay``
  critic updates;
- target policy smoothing: clipped Gaussian noise on the target action
  (``target_policy_noise``, ``target_noise_clip``).

Hyperparameter names, defaults and semantics follow Stable-Baselines3's ``TD3`` so presets map
one to one. Units of actions: the replay buffer and the env see *env units* (within the Box
bounds); the networks work on actions scaled to ``[-1, 1]`` (the actor's tanh output, the
critics' action input), and every noise scale is on that ``[-1, 1]`` scale, as in SB3.

The agent only acts and learns; the off-policy loop (``rl_lab.rl.off_policy``) owns time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rl_lab.config import Rule
from rl_lab.errors import ConfigError
from rl_lab.nets import build_encoder, init_weights
from rl_lab.nets.flat import FlatAdam, FlatParameters
from rl_lab.rl import off_policy
from rl_lab.rl.buffers import ReplayBatch, bootstrap_discounts
from rl_lab.rl.schedules import scheduled

_MLP_400_300 = {"type": "mlp", "hidden_sizes": [400, 300], "activation": "relu"}
#: SB3's TD3 networks: [400, 300] ReLU MLPs, torch's default initialisation.
DEFAULT_NETWORK = {"actor": _MLP_400_300, "critic": _MLP_400_300, "init": "default"}


class DeterministicActor(nn.Module):
    """``obs → tanh(Linear(trunk(obs)))``: one action per observation, in ``[-1, 1]``.

    Args:
        trunk: zoo encoder mapping ``(batch, *obs_shape)`` to ``(batch, trunk.out_features)``.
        action_dim: size of the (flat) action vector.
    """

    def __init__(self, trunk: nn.Module, action_dim: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.mu = nn.Linear(trunk.out_features, action_dim)

    def forward(self, obs: Tensor) -> Tensor:
        """Actions ``(batch, action_dim)`` in ``[-1, 1]`` (the scaled action space)."""
        return torch.tanh(self.mu(self.trunk(obs)))


class QFunction(nn.Module):
    """``Q(s, a) = Linear(trunk(concat(flatten(s), a)))``.

    Args:
        trunk: zoo encoder taking ``prod(obs_shape) + action_dim`` features.
    """

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.q = nn.Linear(trunk.out_features, 1)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        """Q-values ``(batch,)`` of ``obs (batch, *obs_shape)`` and scaled ``action``."""
        features = torch.cat([obs.flatten(1), action], dim=1)
        return self.q(self.trunk(features)).squeeze(1)


class TwinCritic(nn.Module):
    """Two independent Q-functions (clipped double Q-learning); ``q1`` also trains the actor."""

    def __init__(self, q1: QFunction, q2: QFunction) -> None:
        super().__init__()
        self.q1 = q1
        self.q2 = q2

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """``(Q1(s, a), Q2(s, a))``, each ``(batch,)``."""
        return self.q1(obs, action), self.q2(obs, action)


def _build(spec: Mapping[str, Any], in_shape: tuple[int, ...], init: str, which: str) -> nn.Module:
    try:
        trunk = build_encoder(spec, in_shape)
    except ValueError as exc:
        raise ConfigError(
            f"agent.network.{which} is invalid for inputs of shape {in_shape}: {exc}. Fix it "
            f"with e.g. agent.network.{which}.type=mlp or "
            f"agent.network.{which}.hidden_sizes=[400,300]."
        ) from None
    if not hasattr(trunk, "out_features"):
        raise ConfigError(f"agent.network.{which}: the encoder must expose 'out_features'.")
    init_weights(trunk, init)
    return trunk


class TD3:
    """A TD3 agent for ``Box`` action spaces.

    Args:
        observation_space: the env's (single) observation space.
        action_space: the env's (single) action space; a ``Box`` with finite bounds.
        total_steps: the run's env-step budget (for the learning-rate schedule).
        device: torch device of the networks.
        learning_rate: Adam step size of the actor and of the critics.
        lr_schedule: ``"constant"`` or ``"linear"`` (decays to 0 at ``total_steps``).
        gamma: discount factor.
        tau: Polyak coefficient of the target updates,
            ``target <- tau * online + (1 - tau) * target``.
        policy_delay: critic updates per actor update (and per target update).
        target_policy_noise: std of the Gaussian noise added to the target action, on the
            ``[-1, 1]`` action scale.
        target_noise_clip: that noise is clipped to ``[-clip, clip]`` (same scale).
        action_noise_std: std of the Gaussian exploration noise added to the actor's action
            while collecting, on the ``[-1, 1]`` scale (a fraction of half the action range),
            as SB3's ``NormalActionNoise(sigma=action_noise_std)``. 0 disables it.
        network: ``{"actor": encoder spec, "critic": encoder spec, "init": scheme}``; the
            specs are the zoo's (:func:`rl_lab.nets.build_encoder`), each followed by a Linear
            output layer.
    """

    name = "td3"
    LOOP = "off_policy"

    LOOP_KEYS = off_policy.LOOP_KEYS

    RULES: tuple[Rule, ...] = off_policy.LOOP_RULES + (
        Rule("agent.learning_rate", float, low=0.0, low_open=True),
        Rule("agent.lr_schedule", str, choices=("constant", "linear")),
        Rule("agent.tau", float, low=0.0, high=1.0, low_open=True),
        Rule("agent.gamma", float, low=0.0, high=1.0),
        Rule("agent.policy_delay", int, low=1),
        Rule("agent.target_policy_noise", float, low=0.0),
        Rule("agent.target_noise_clip", float, low=0.0),
        Rule("agent.action_noise_std", float, low=0.0),
        Rule("agent.network.init", str, choices=("orthogonal", "kaiming", "xavier", "default")),
    )

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after ``RULES``)."""
        off_policy.check_loop_config(cfg)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        learning_rate: float = 1e-3,
        lr_schedule: str = "constant",
        gamma: float = 0.99,
        tau: float = 0.005,
        policy_delay: int = 2,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        action_noise_std: float = 0.1,
        network: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise ConfigError(
                f"TD3 needs a continuous (Box) action space, but this env's is {action_space}. "
                "For discrete actions use agent=dqn (e.g. `python -m rl_lab agent=dqn "
                "env=CartPole-v1`), or choose a continuous-control env (e.g. env=Pendulum-v1)."
            )
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ConfigError(
                f"TD3 needs finite action bounds to scale its tanh actor, but this env's action "
                f"space is {action_space}. Wrap the env to give its actions finite bounds."
            )
        network = {**DEFAULT_NETWORK, **dict(network or {})}
        self.device = torch.device(device)
        self.action_space = action_space
        self.action_shape = tuple(action_space.shape)
        action_dim = math.prod(self.action_shape)
        self.total_steps = total_steps
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.gamma = gamma
        self.tau = tau
        self.policy_delay = policy_delay
        self.target_policy_noise = target_policy_noise
        self.target_noise_clip = target_noise_clip
        self.action_noise_std = action_noise_std

        # Env units <-> [-1, 1]: env_action = bias + scale * scaled_action. float64 NumPy copies
        # for acting, flat float32 tensors for learning (buffer actions are (batch, *shape)).
        low = action_space.low.astype(np.float64).reshape(-1)
        high = action_space.high.astype(np.float64).reshape(-1)
        self._low, self._high = low, high
        self._scale, self._bias = (high - low) / 2.0, (high + low) / 2.0
        self._scale_t = torch.as_tensor(self._scale, dtype=torch.float32, device=self.device)
        self._bias_t = torch.as_tensor(self._bias, dtype=torch.float32, device=self.device)

        init = network.get("init", "default")
        obs_shape = tuple(observation_space.shape)
        critic_in = (math.prod(obs_shape) + action_dim,)
        self.actor = DeterministicActor(
            _build(network["actor"], obs_shape, init, "actor"), action_dim
        ).to(self.device)
        self.critic = TwinCritic(
            QFunction(_build(network["critic"], critic_in, init, "critic")),
            QFunction(_build(network["critic"], critic_in, init, "critic")),
        ).to(self.device)
        if init != "default":  # output layers: the scheme with gain 1 (no ReLU follows them)
            for layer in (self.actor.mu, self.critic.q1.q, self.critic.q2.q):
                init_weights(layer, init, gain=1.0)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One flat parameter tensor per optimizer + fused Adam: a few kernels per step instead
        # of a few per layer (see rl_lab.nets.flat). Created after the deep copies.
        self.actor_flat = FlatParameters(self.actor)
        self.critic_flat = FlatParameters(self.critic)
        self.actor_optimizer = FlatAdam(self.actor_flat, lr=learning_rate)
        self.critic_optimizer = FlatAdam(self.critic_flat, lr=learning_rate)
        self._critic_params = list(self.critic.parameters())
        # Tensor lists for the target updates, gathered once (walking modules is slow).
        # Parameters are Polyak-averaged; buffers (e.g. BatchNorm statistics) are copied, as SB3.
        pairs = [(self.actor_target, self.actor), (self.critic_target, self.critic)]
        self._target_params = [p for t, _ in pairs for p in t.parameters()]
        self._online_params = [p for _, o in pairs for p in o.parameters()]
        self._target_buffers = [b for t, _ in pairs for b in t.buffers()]
        self._online_buffers = [b for _, o in pairs for b in o.buffers()]
        self.updates = 0  # critic gradient steps taken
        self._last_actor_loss: Tensor | None = None

    # ----------------------------------------------------------------------------- acting
    def _to_env_units(self, scaled: np.ndarray) -> np.ndarray:
        """``(n, action_dim)`` actions in ``[-1, 1]`` → ``(n, *action_shape)`` within bounds."""
        actions = np.clip(self._bias + self._scale * scaled, self._low, self._high)
        return actions.reshape(len(scaled), *self.action_shape).astype(self.action_space.dtype)

    @torch.no_grad()
    def _scaled_actions(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.actor(obs_t).cpu().numpy().astype(np.float64)  # (n, action_dim) in [-1, 1]

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (env units) for observations ``(n, *obs_shape)``."""
        return self._to_env_units(self._scaled_actions(obs))

    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """Actor's actions plus Gaussian exploration noise, clipped to the bounds (env units)."""
        scaled = self._scaled_actions(obs)
        if self.action_noise_std > 0:
            scaled = np.clip(scaled + rng.normal(0.0, self.action_noise_std, scaled.shape), -1, 1)
        return self._to_env_units(scaled)

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform actions within the bounds (env units), used before ``learning_starts``."""
        scaled = rng.uniform(-1.0, 1.0, size=(n, self._scale.size))
        return self._to_env_units(scaled)

    def charts(self, env_step: int) -> dict[str, float]:
        """Agent-specific chart values at ``env_step`` (logged under ``charts/``)."""
        return {
            "charts/learning_rate": self.critic_optimizer.param_groups[0]["lr"],
            "charts/action_noise_std": self.action_noise_std,
        }

    # ----------------------------------------------------------------------------- learning
    def update(self, batch: ReplayBatch, env_step: int) -> dict[str, Tensor]:
        """One critic step; every ``policy_delay``-th call also an actor and a target step.

        Returns detached metric tensors (the loop reads them only when it logs):
        ``losses/critic_loss`` (sum of both critics' MSE), ``losses/actor_loss`` (the latest
        actor update's ``-Q1(s, actor(s))``, absent before the first one) and
        ``losses/q_values`` (mean Q1 of the batch).
        """
        lr = scheduled(self.learning_rate, self.lr_schedule, env_step, self.total_steps)
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            optimizer.param_groups[0]["lr"] = lr
        device = self.device
        obs = torch.as_tensor(batch.obs, dtype=torch.float32, device=device)
        next_obs = torch.as_tensor(batch.next_obs, dtype=torch.float32, device=device)
        env_actions = torch.as_tensor(batch.actions, dtype=torch.float32, device=device)
        actions = (env_actions.reshape(len(env_actions), -1) - self._bias_t) / self._scale_t
        rewards = torch.as_tensor(batch.rewards, device=device)
        terminated = torch.as_tensor(batch.terminated, device=device)
        discounts = bootstrap_discounts(batch, self.gamma, device)  # n-step aware

        with torch.no_grad():
            # target policy smoothing: clipped noise on the target action, kept in [-1, 1]
            noise = torch.randn_like(actions).mul_(self.target_policy_noise)
            noise.clamp_(-self.target_noise_clip, self.target_noise_clip)
            next_actions = (self.actor_target(next_obs) + noise).clamp_(-1.0, 1.0)
            next_q = torch.minimum(*self.critic_target(next_obs, next_actions))  # (batch,)
            td_target = rewards + discounts * (1.0 - terminated) * next_q

        q1, q2 = self.critic(obs, actions)
        critic_loss = F.mse_loss(q1, td_target) + F.mse_loss(q2, td_target)
        self.critic_flat.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        self.updates += 1

        if self.updates % self.policy_delay == 0:
            self._update_actor(obs)
            self.update_targets()
        metrics = {
            "losses/critic_loss": critic_loss.detach(),
            "losses/q_values": q1.detach().mean(),
        }
        if self._last_actor_loss is not None:
            metrics["losses/actor_loss"] = self._last_actor_loss
        return metrics

    def _update_actor(self, obs: Tensor) -> None:
        """One step of the deterministic policy gradient: maximise ``Q1(s, actor(s))``."""
        # The critic is fixed here: no gradients for its weights (saves a third of the backward).
        for p in self._critic_params:
            p.requires_grad_(False)
        actor_loss = -self.critic.q1(obs, self.actor(obs)).mean()
        self.actor_flat.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        for p in self._critic_params:
            p.requires_grad_(True)
        self._last_actor_loss = actor_loss.detach()

    @torch.no_grad()
    def update_targets(self) -> None:
        """Polyak update ``target <- tau * online + (1 - tau) * target``; buffers are copied."""
        torch._foreach_lerp_(self._target_params, self._online_params, self.tau)
        if self._target_buffers:
            torch._foreach_copy_(self._target_buffers, self._online_buffers)

    def on_env_step(self, env_step: int) -> None:
        """Nothing: TD3's target updates are tied to actor updates, inside :meth:`update`."""

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers and counters, for checkpoints."""
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "updates": self.updates,
            "last_actor_loss": self._last_actor_loss,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (in place: the flat parameter views survive)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.updates = int(state["updates"])
        self._last_actor_loss = state.get("last_actor_loss")
