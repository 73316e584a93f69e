"""TD3 (Twin Delayed Deep Deterministic policy gradient) and DDPG, for continuous actions.

Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic Methods"
(https://arxiv.org/abs/1802.09477). Three changes to DDPG, each a named hyperparameter here:

- clipped double Q-learning: ``n_critics=2`` critics, the TD target uses the smallest;
- delayed policy updates: the actor and the target networks move once per ``policy_delay``
  critic updates;
- target policy smoothing: clipped Gaussian noise on the target action
  (``target_policy_noise``, ``target_noise_clip``).

DDPG (Lillicrap et al. 2016, https://arxiv.org/abs/1509.02971) is this agent without the three:
``n_critics=1, policy_delay=1, target_policy_noise=0`` (rl_lab.rl.configs.DDPGConfig), as
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
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rl_lab.config import with_overrides
from rl_lab.errors import ConfigError
from rl_lab.nets import init_weights
from rl_lab.nets.flat import FlatAdam, FlatParameters
from rl_lab.rl import off_policy
from rl_lab.rl.buffers import ReplayBatch, check_mixed_precision
from rl_lab.rl.configs import ACTION_NOISE_TYPES, TD3Config
from rl_lab.rl.continuous import (
    ActionScaling,
    OrnsteinUhlenbeckNoise,
    PolyakTargets,
    build_critics,
    build_trunk,
    frozen,
    replay_tensors,
    trunk_features,
)
from rl_lab.rl.schedules import scheduled


class DeterministicActor(nn.Module):
    """``obs → tanh(Linear(trunk(obs)))``: one action per observation, in ``[-1, 1]``.

    Args:
        trunk: zoo encoder mapping ``(batch, *obs_shape)`` to ``(batch, trunk.out_features)``.
        action_dim: size of the (flat) action vector.
    """

    def __init__(self, trunk: nn.Module, action_dim: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.mu = nn.Linear(trunk_features(trunk), action_dim)

    def forward(self, obs: Tensor) -> Tensor:
        """Actions ``(batch, action_dim)`` in ``[-1, 1]`` (the scaled action space)."""
        return torch.tanh(self.mu(self.trunk(obs)))


class TD3:
    """A TD3 (or DDPG) agent for ``Box`` action spaces.

    Args:
        observation_space: the env's (single) observation space.
        action_space: the env's (single) action space; a ``Box`` with finite bounds.
        config: the hyperparameters (:class:`~rl_lab.rl.configs.TD3Config`, or
            :class:`~rl_lab.rl.configs.DDPGConfig`: TD3 without its three additions). The
            noise scales are on the ``[-1, 1]`` action scale; ``action_noise_std`` is SB3's
            ``NormalActionNoise(sigma=...)``, 0 disables it, as ``target_policy_noise=0``
            disables target policy smoothing.
        total_steps: the run's env-step budget (for the learning-rate schedule).
        device: torch device of the networks.
        **overrides: fields of ``config`` to change (``network={"actor": {...}}`` replaces
            only the actor's spec).
    """

    name = "td3"
    LOOP = "off_policy"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after its config's rules)."""
        off_policy.check_loop_config(cfg)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: TD3Config | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or TD3Config(), overrides)
        self.device = torch.device(device)
        self.scaling = ActionScaling(action_space, self.device, "TD3")
        check_mixed_precision(c.mixed_precision, self.device)
        self.total_steps = total_steps

        init = c.network.init
        # encode_observations gives the agents Box observations, which always have a shape
        assert observation_space.shape is not None
        obs_shape = tuple(observation_space.shape)
        action_dim = self.scaling.dim
        self.actor = DeterministicActor(
            build_trunk(c.network.actor, obs_shape, init, "actor"), action_dim
        ).to(self.device)
        self.critic = build_critics(c.network.critic, obs_shape, action_dim, c.n_critics, init)
        self.critic.to(self.device)
        if init != "default":  # the actor's output layer: the scheme with gain 1
            init_weights(self.actor.mu, init, gain=1.0)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One flat parameter tensor per optimizer + fused Adam: a few kernels per step instead
        # of a few per layer (see rl_lab.nets.flat). Created after the deep copies.
        self.actor_flat = FlatParameters(self.actor)
        self.critic_flat = FlatParameters(self.critic)
        self.actor_optimizer = FlatAdam(self.actor_flat, lr=c.learning_rate)
        self.critic_optimizer = FlatAdam(self.critic_flat, lr=c.learning_rate)
        self._critic_params = list(self.critic.parameters())
        self.targets = PolyakTargets(
            [(self.actor_target, self.actor), (self.critic_target, self.critic)]
        )
        self.updates = 0  # critic gradient steps taken
        self._last_actor_loss: Tensor | None = None
        if c.action_noise_type not in ACTION_NOISE_TYPES:
            raise ConfigError(
                f"agent.action_noise_type={c.action_noise_type!r} is not one of "
                f"{', '.join(ACTION_NOISE_TYPES)}."
            )
        self.ou_noise: OrnsteinUhlenbeckNoise | None = None
        if c.action_noise_type == "ornstein-uhlenbeck":
            self.ou_noise = OrnsteinUhlenbeckNoise(c.action_noise_std)

    # ----------------------------------------------------------------------------- acting
    @torch.no_grad()
    def _scaled_actions(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.actor(obs_t).cpu().numpy().astype(np.float64)  # (n, action_dim) in [-1, 1]

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (env units) for observations ``(n, *obs_shape)``."""
        return self.scaling.to_env(self._scaled_actions(obs))

    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """Actor's actions plus exploration noise (Gaussian or Ornstein-Uhlenbeck, drawn from
        the loop's ``rng``), clipped to the bounds (env units)."""
        scaled = self._scaled_actions(obs)
        if self.ou_noise is not None:
            scaled = np.clip(scaled + self.ou_noise.sample(scaled.shape, rng), -1, 1)
        elif self.config.action_noise_std > 0:
            scaled = np.clip(
                scaled + rng.normal(0.0, self.config.action_noise_std, scaled.shape), -1, 1
            )
        return self.scaling.to_env(scaled)

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform actions within the bounds (env units), used before ``learning_starts``."""
        return self.scaling.random(n, rng)

    def charts(self, env_step: int) -> dict[str, float]:
        """Agent-specific chart values at ``env_step`` (logged under ``charts/``)."""
        return {
            "charts/learning_rate": self.critic_optimizer.param_groups[0]["lr"],
            "charts/action_noise_std": self.config.action_noise_std,
        }

    # ----------------------------------------------------------------------------- learning
    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast of a gradient step's forward passes when ``mixed_precision``."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.mixed_precision
        )

    def update(self, batch: ReplayBatch, env_step: int) -> dict[str, Tensor]:
        """One critic step; every ``policy_delay``-th call also an actor and a target step.

        Returns detached metric tensors (the loop reads them only when it logs):
        ``losses/critic_loss`` (sum of the critics' MSE), ``losses/actor_loss`` (the latest
        actor update's ``-Q1(s, actor(s))``, absent before the first one) and
        ``losses/q_values`` (mean Q1 of the batch).
        """
        lr = scheduled(
            self.config.learning_rate, self.config.lr_schedule, env_step, self.total_steps
        )
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            optimizer.param_groups[0]["lr"] = lr
        t = replay_tensors(batch, self.scaling, self.config.gamma, self.device)  # n-step aware

        with torch.no_grad(), self._autocast():
            next_actions = self.actor_target(t.next_obs).float()
            if self.config.target_policy_noise > 0:
                # target policy smoothing: clipped noise on the target action, kept in [-1, 1]
                noise = torch.randn_like(next_actions).mul_(self.config.target_policy_noise)
                noise.clamp_(-self.config.target_noise_clip, self.config.target_noise_clip)
                next_actions = (next_actions + noise).clamp_(-1.0, 1.0)
            next_q = self.critic_target.min(t.next_obs, next_actions).float()  # (batch,)
        td_target = t.rewards + t.bootstrap * next_q

        with self._autocast():
            q_values = [q.float() for q in self.critic(t.obs, t.actions)]
        # a Tensor, not sum's start value 0: Critics holds at least one Q-function
        critic_loss = cast(Tensor, sum(F.mse_loss(q, td_target) for q in q_values))
        self.critic_flat.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        self.updates += 1

        if self.updates % self.config.policy_delay == 0:
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
            with self._autocast():
                q1 = self.critic.q_functions[0](obs, self.actor(obs))
            actor_loss = -q1.float().mean()
            self.actor_flat.zero_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        self._last_actor_loss = actor_loss.detach()

    def update_targets(self) -> None:
        """Polyak update ``target <- tau * online + (1 - tau) * target``; buffers are copied."""
        self.targets.update(self.config.tau)

    def on_env_step(self, env_step: int, done: np.ndarray | None = None) -> None:
        """Restart the Ornstein-Uhlenbeck noise of the envs whose episode ended (``done``);
        TD3's target updates are tied to actor updates, inside :meth:`update`. The noise is
        not checkpointed: a resumed run starts new episodes, and so new noise processes."""
        if self.ou_noise is not None and done is not None:
            self.ou_noise.reset(done)

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
