"""Deep Q-Network: ε-greedy acting and one TD update per replay batch.

Mnih et al. 2015, "Human-level control through deep reinforcement learning"
(https://doi.org/10.1038/nature14236), with the options of later work: Double DQN
(van Hasselt et al. 2016, https://arxiv.org/abs/1509.06461), dueling heads (Wang et al. 2016,
https://arxiv.org/abs/1511.06581) and Polyak-averaged targets. Hyperparameter names and
semantics follow Stable-Baselines3's ``DQN`` so that presets map one to one.

The agent only acts and learns; the off-policy loop (``rl_lab.rl.off_policy``) owns time: it
collects, fills the replay buffer, decides when to train and calls :meth:`DQN.update`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rl_lab.config import with_overrides
from rl_lab.errors import ConfigError
from rl_lab.nets import build_q_network
from rl_lab.nets.flat import FlatAdam, FlatParameters
from rl_lab.rl import off_policy
from rl_lab.rl.buffers import ReplayBatch, bootstrap_discounts, check_mixed_precision, to_device
from rl_lab.rl.configs import DQNConfig
from rl_lab.rl.schedules import linear_schedule, scheduled

_LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


class DQN:
    """A DQN agent for discrete actions.

    Args:
        observation_space: the env's (single) observation space.
        action_space: the env's (single) action space; must be ``Discrete``.
        config: the hyperparameters (:class:`~rl_lab.rl.configs.DQNConfig`, which documents
            each); the loop's keys among them (replay, cadence) are the off-policy loop's.
        total_steps: the run's env-step budget (for the ε and learning-rate schedules).
        device: torch device of the networks.
        **overrides: fields of ``config`` to change (``network={"head": "dueling"}`` changes
            only the head), e.g. ``DQN(obs_space, action_space, total_steps=n, gamma=0.9)``.
    """

    name = "dqn"
    LOOP = "off_policy"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after its config's rules)."""
        off_policy.check_loop_config(cfg)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: DQNConfig | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or DQNConfig(), overrides)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ConfigError(
                f"DQN needs a discrete action space, but this env's is {action_space}. "
                "Choose an env with discrete actions (e.g. env=CartPole-v1) or an agent for "
                "continuous control."
            )
        self.device = torch.device(device)
        check_mixed_precision(c.mixed_precision, self.device)
        self.mixed_precision = c.mixed_precision
        self.n_actions = int(action_space.n)
        self.total_steps = total_steps
        self.loss_fn = _LOSSES[c.loss]
        # encode_observations gives the agents Box observations, which always have a shape
        assert observation_space.shape is not None

        try:
            self.q_net: nn.Module = build_q_network(
                c.network.encoder,
                c.network.head,
                tuple(observation_space.shape),
                self.n_actions,
                init=c.network.init,
            ).to(self.device)
        except ValueError as exc:
            raise ConfigError(
                f"agent.network is invalid for observations of shape {observation_space.shape}: "
                f"{exc}. Fix it with e.g. agent.network.encoder.type=mlp or "
                "agent.network.encoder.hidden_sizes=[64,64]."
            ) from None
        self.target_net: nn.Module = copy.deepcopy(self.q_net).requires_grad_(False)
        # One flat parameter tensor + the fused Adam kernel: a few kernels per step instead of a
        # few per layer, which is what bounds small networks on a CPU.
        self.flat_params = FlatParameters(self.q_net)
        self.optimizer = FlatAdam(self.flat_params, lr=c.learning_rate)
        # Tensor lists for target updates, gathered once (walking the modules is slow).
        self._target_tensors = [*self.target_net.parameters(), *self.target_net.buffers()]
        self._online_tensors = [*self.q_net.parameters(), *self.q_net.buffers()]
        floats = [
            (t, o)
            for t, o in zip(self._target_tensors, self._online_tensors, strict=True)
            if t.is_floating_point()
        ]
        self._target_floats = [t for t, _ in floats]
        self._online_floats = [o for _, o in floats]
        self.updates = 0  # gradient steps taken
        self._next_target_update = c.target_update_interval  # env step of the next target update

    # ----------------------------------------------------------------------------- acting
    def epsilon(self, env_step: int) -> float:
        """ε at ``env_step``: linear from the initial to the final value, then constant; or,
        with ``exploration_schedule=exponential``, the initial value times
        ``exploration_decay`` per training phase taken so far, down to the final value."""
        c = self.config
        if c.exploration_schedule == "exponential":
            phases = self.updates // c.gradient_steps
            return max(
                c.exploration_final_eps, c.exploration_initial_eps * c.exploration_decay**phases
            )
        return linear_schedule(
            c.exploration_initial_eps,
            c.exploration_final_eps,
            c.exploration_fraction * self.total_steps,
            env_step,
        )

    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast of the forward passes when ``mixed_precision`` (else a no-op)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.mixed_precision)

    @torch.inference_mode()
    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations ``(n, *obs_shape)`` → ``(n,)`` int64."""
        with self._autocast():
            q_values = self.q_net(to_device(obs, self.device))
        return q_values.argmax(dim=1).cpu().numpy()  # the one sync per step: actions

    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """ε-greedy actions for a batch of observations (one per env)."""
        n = len(obs)
        explore = rng.random(n) < self.epsilon(env_step)
        if explore.all():  # skip the forward pass while ε is high
            return rng.integers(0, self.n_actions, size=n)
        actions = self.predict(obs)
        if explore.any():
            actions[explore] = rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniformly random actions, used before ``learning_starts``."""
        return rng.integers(0, self.n_actions, size=n)

    def charts(self, env_step: int) -> dict[str, float]:
        """Agent-specific chart values at ``env_step`` (logged under ``charts/``)."""
        return {
            "charts/epsilon": self.epsilon(env_step),
            "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
        }

    # ----------------------------------------------------------------------------- learning
    def update(self, batch: ReplayBatch, env_step: int) -> dict[str, torch.Tensor]:
        """One gradient step on the TD error of ``batch``. Returns detached metric tensors.

        The metrics stay tensors so the loop can read them (one device sync) only when it logs.
        """
        lr = scheduled(
            self.config.learning_rate, self.config.lr_schedule, env_step, self.total_steps
        )
        self.optimizer.param_groups[0]["lr"] = lr
        device = self.device
        # (batch, *obs_shape), uint8 frames stay uint8 until the network scales them
        obs, next_obs = to_device(batch.obs, device), to_device(batch.next_obs, device)
        actions = to_device(batch.actions, device).long()
        rewards = to_device(batch.rewards, device)
        terminated = to_device(batch.terminated, device)
        discounts = bootstrap_discounts(batch, self.config.gamma, device)  # n-step aware
        bootstrap = self.target_net if self.config.target_network else self.q_net
        with torch.no_grad(), self._autocast():
            next_q_target = bootstrap(next_obs).float()  # (batch, n_actions)
            if self.config.double_q:
                next_actions = self.q_net(next_obs).argmax(dim=1, keepdim=True)
                next_q = next_q_target.gather(1, next_actions).squeeze(1)
            else:
                next_q = next_q_target.max(dim=1).values
            td_target = rewards + discounts * (1.0 - terminated) * next_q  # (batch,)

        with self._autocast():
            q_values = self.q_net(obs).float()
        q = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)  # (batch,)
        loss = self.loss_fn(q, td_target)
        # fresh gradients straight into the fused Adam step (clipping included): no zeroing of
        # and accumulating into .grad
        grads = torch.autograd.grad(loss, self.flat_params.params)
        self.optimizer.step_from(grads, self.config.max_grad_norm)
        self.updates += 1
        return {"losses/td_loss": loss.detach(), "losses/q_values": q.detach().mean()}

    def on_env_step(self, env_step: int, done: np.ndarray | None = None) -> None:
        """Update the target network every ``target_update_interval`` env steps."""
        if env_step < self._next_target_update or not self.config.target_network:
            return
        while self._next_target_update <= env_step:
            self._next_target_update += self.config.target_update_interval
        with torch.no_grad():
            if self.config.tau >= 1.0:
                torch._foreach_copy_(self._target_tensors, self._online_tensors)
            else:
                torch._foreach_lerp_(self._target_floats, self._online_floats, self.config.tau)

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer and counters, for checkpoints."""
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "next_target_update": self._next_target_update,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self._next_target_update = int(state["next_target_update"])
