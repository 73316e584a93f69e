"""TD3 (Twin Delayed Deep Deterministic policy gradient) and DDPG, for continuous actions.

Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic Methods"
(https://arxiv.org/abs/1802.09477). Three changes to DDPG, each a named hyperparameter here:

- clipped double Q-learning: ``n_critics=2`` critics, the TD target uses the smallest;
- delayed policy updates: the actor and the target networks move once per ``policy_delay``
  critic updates;
- target policy smoothing: clipped Gaussian noise on the target action
  (``target_policy_noise``, ``target_noise_clip``).

DDPG (Lillicrap et al. 2016, https://arxiv.org/abs/1509.02971) is this agent without the three:
``n_critics=1, policy_delay=1, target_policy_noise=0`` (conf/agent/ddpg.yaml), as
Stable-Baselines3 derives its ``DDPG`` from its ``TD3``.

Hyperparameter names, defaults and semantics follow Stable-Baselines3's ``TD3`` so presets map
one to one. Units of actions: the replay buffer and the env see *env units* (within the Box
bounds); the networks work on actions scaled to ``[-1, 1]`` (the actor's tanh output, the
critics' action input), and every noise scale is on that ``[-1, 1]`` scale, as in SB3
(:class:`~rl_lab.rl.continuous.ActionScaling`).

The agent only acts and learns; the off-policy loop (``rl_lab.rl.off_policy``) owns time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rl_lab.config import Rule
from rl_lab.nets import init_weights
from rl_lab.nets.flat import FlatAdam, FlatParameters
from rl_lab.rl import off_policy
from rl_lab.rl.buffers import ReplayBatch
from rl_lab.rl.continuous import (
    INIT_SCHEMES,
    ActionScaling,
    PolyakTargets,
    build_critics,
    build_trunk,
    frozen,
    replay_tensors,
)
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


class TD3:
    """A TD3 (or DDPG) agent for ``Box`` action spaces.

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
            ``[-1, 1]`` action scale; 0 disables target policy smoothing.
        target_noise_clip: that noise is clipped to ``[-clip, clip]`` (same scale).
        action_noise_std: std of the Gaussian exploration noise added to the actor's action
            while collecting, on the ``[-1, 1]`` scale (a fraction of half the action range),
            as SB3's ``NormalActionNoise(sigma=action_noise_std)``. 0 disables it.
        n_critics: number of critics; the TD target takes the smallest of their target values
            (2: clipped double Q-learning; 1: DDPG's single critic).
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
        Rule("agent.n_critics", int, low=1),
        Rule("agent.network.init", str, choices=INIT_SCHEMES),
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
        n_critics: int = 2,
        network: Mapping[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.scaling = ActionScaling(action_space, self.device, "TD3")
        network = {**DEFAULT_NETWORK, **dict(network or {})}
        self.total_steps = total_steps
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.gamma = gamma
        self.tau = tau
        self.policy_delay = policy_delay
        self.target_policy_noise = target_policy_noise
        self.target_noise_clip = target_noise_clip
        self.action_noise_std = action_noise_std

        init = network.get("init", "default")
        obs_shape = tuple(observation_space.shape)
        action_dim = self.scaling.dim
        self.actor = DeterministicActor(
            build_trunk(network["actor"], obs_shape, init, "actor"), action_dim
        ).to(self.device)
        self.critic = build_critics(network["critic"], obs_shape, action_dim, n_critics, init)
        self.critic.to(self.device)
        if init != "default":  # the actor's output layer: the scheme with gain 1
            init_weights(self.actor.mu, init, gain=1.0)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One flat parameter tensor per optimizer + fused Adam: a few kernels per step instead
        # of a few per layer (see rl_lab.nets.flat). Created after the deep copies.
        self.actor_flat = FlatParameters(self.actor)
        self.critic_flat = FlatParameters(self.critic)
        self.actor_optimizer = FlatAdam(self.actor_flat, lr=learning_rate)
        self.critic_optimizer = FlatAdam(self.critic_flat, lr=learning_rate)
        self._critic_params = list(self.critic.parameters())
        self.targets = PolyakTargets(
            [(self.actor_target, self.actor), (self.critic_target, self.critic)]
        )
        self.updates = 0  # critic gradient steps taken
        self._last_actor_loss: Tensor | None = None

    # ----------------------------------------------------------------------------- acting
    @torch.no_grad()
    def _scaled_actions(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.actor(obs_t).cpu().numpy().astype(np.float64)  # (n, action_dim) in [-1, 1]

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (env units) for observations ``(n, *obs_shape)``."""
        return self.scaling.to_env(self._scaled_actions(obs))

    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """Actor's actions plus Gaussian exploration noise, clipped to the bounds (env units)."""
        scaled = self._scaled_actions(obs)
        if self.action_noise_std > 0:
            scaled = np.clip(scaled + rng.normal(0.0, self.action_noise_std, scaled.shape), -1, 1)
        return self.scaling.to_env(scaled)

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform actions within the bounds (env units), used before ``learning_starts``."""
        return self.scaling.random(n, rng)

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
        ``losses/critic_loss`` (sum of the critics' MSE), ``losses/actor_loss`` (the latest
        actor update's ``-Q1(s, actor(s))``, absent before the first one) and
        ``losses/q_values`` (mean Q1 of the batch).
        """
        lr = scheduled(self.learning_rate, self.lr_schedule, env_step, self.total_steps)
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            optimizer.param_groups[0]["lr"] = lr
        t = replay_tensors(batch, self.scaling, self.gamma, self.device)  # n-step aware

        with torch.no_grad():
            next_actions = self.actor_target(t.next_obs)
            if self.target_policy_noise > 0:
                # target policy smoothing: clipped noise on the target action, kept in [-1, 1]
                noise = torch.randn_like(next_actions).mul_(self.target_policy_noise)
                noise.clamp_(-self.target_noise_clip, self.target_noise_clip)
                next_actions = (next_actions + noise).clamp_(-1.0, 1.0)
            next_q = self.critic_target.min(t.next_obs, next_actions)  # (batch,)
            td_target = t.rewards + t.bootstrap * next_q

        q_values = self.critic(t.obs, t.actions)
        critic_loss = sum(F.mse_loss(q, td_target) for q in q_values)
        self.critic_flat.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        self.updates += 1

        if self.updates % self.policy_delay == 0:
            self._update_actor(t.obs)
            self.update_targets()
        metrics = {
            "losses/critic_loss": critic_loss.detach(),
            "losses/q_values": q_values[0].detach().mean(),
        }
        if self._last_actor_loss is not None:
            metrics["losses/actor_loss"] = self._last_actor_loss
        return metrics

    def _update_actor(self, obs: Tensor) -> None:
        """One step of the deterministic policy gradient: maximise ``Q1(s, actor(s))``."""
        with frozen(self._critic_params):
            actor_loss = -self.critic.q1(obs, self.actor(obs)).mean()
            self.actor_flat.zero_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        self._last_actor_loss = actor_loss.detach()

    def update_targets(self) -> None:
        """Polyak update ``target <- tau * online + (1 - tau) * target``; buffers are copied."""
        self.targets.update(self.tau)

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
