"""SAC: Soft Actor-Critic, for continuous actions.

Haarnoja et al. 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement
Learning with a Stochastic Actor" (https://arxiv.org/abs/1801.01290), with the automatic
entropy tuning of "Soft Actor-Critic Algorithms and Applications"
(https://arxiv.org/abs/1812.05905). The agent maximises reward plus ``ent_coef`` times the
policy's entropy:

- a squashed Gaussian actor: ``a = tanh(u)``, ``u ~ N(mean(s), std(s))``, its log-probability
  corrected for the tanh (:class:`~rl_lab.nets.SquashedDiagGaussian`); with ``use_sde`` the
  noise of ``u`` is gSDE's, a function of the actor's features
  (:class:`~rl_lab.nets.SquashedStateDependentGaussian`);
- ``n_critics`` (twin) critics and their Polyak-averaged targets; the soft TD target is
  ``r + gamma^k (1 - terminated) (min_i Q'_i(s', a') - ent_coef * log pi(a'|s'))``,
  ``a' ~ pi(.|s')``;
- the entropy coefficient: fixed (``ent_coef: 0.1``) or learned (``ent_coef: auto``, from 1;
  ``auto_0.1``, from 0.1) so that the policy's entropy tracks ``target_entropy`` (``auto``:
  ``-dim(A)``), by gradient steps on its logarithm.

Hyperparameter names, defaults and semantics follow Stable-Baselines3's ``SAC``, so presets map
one to one; actions are scaled to ``[-1, 1]`` for the networks as in TD3
(:class:`~rl_lab.rl.continuous.ActionScaling`). The agent only acts and learns; the off-policy
loop (``rl_lab.rl.off_policy``) owns time, with the replay buffer and its n-step returns.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rl_lab.config import with_overrides
from rl_lab.errors import ConfigError
from rl_lab.nets import (
    DiagGaussian,
    SquashedDiagGaussian,
    SquashedGaussianHead,
    StateDependentNoiseHead,
    init_output_layers,
)
from rl_lab.nets.flat import FlatAdam, FlatParameters
from rl_lab.rl import off_policy
from rl_lab.rl.buffers import ReplayBatch, check_mixed_precision
from rl_lab.rl.configs import SACConfig
from rl_lab.rl.continuous import (
    ActionScaling,
    PolyakTargets,
    build_critics,
    build_trunk,
    frozen,
    replay_tensors,
    trunk_features,
)
from rl_lab.rl.gsde import ExplorationMatrices
from rl_lab.rl.schedules import scheduled

AUTO = "auto"


def parse_ent_coef(value: str | float) -> tuple[bool, float]:
    """``ent_coef`` as ``(learned, initial value)``: ``"auto"`` → ``(True, 1.0)``,
    ``"auto_0.1"`` → ``(True, 0.1)``, ``0.2`` → ``(False, 0.2)`` (SB3's spelling).

    Raises:
        ConfigError: anything else, or a value that is not positive (a fixed 0 is allowed:
            no entropy bonus).
    """
    if isinstance(value, str) and value.startswith(AUTO):
        initial = value.removeprefix(AUTO).removeprefix("_") or "1.0"
        try:
            start = float(initial)
        except ValueError:
            start = math.nan
        if value not in (AUTO, f"{AUTO}_{initial}") or not start > 0:
            raise ConfigError(
                f"agent.ent_coef={value!r} is invalid: `auto` learns the entropy coefficient "
                "from 1.0, `auto_<v>` from v > 0 (e.g. agent.ent_coef=auto_0.1), a number fixes "
                "it (e.g. agent.ent_coef=0.2)."
            )
        return True, start
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(
            f"agent.ent_coef={value!r} is invalid: use `auto` (learned from 1.0), `auto_<v>` "
            "(learned from v > 0) or a fixed number >= 0 (e.g. agent.ent_coef=0.2)."
        )
    return False, float(value)


def parse_target_entropy(value: str | float, action_dim: int) -> float:
    """``target_entropy``: ``"auto"`` is ``-action_dim`` (the paper's heuristic), else the
    number itself (nats)."""
    if value == AUTO:
        return -float(action_dim)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(
            f"agent.target_entropy={value!r} is invalid: use `auto` (minus the number of action "
            "dimensions) or a number of nats (e.g. agent.target_entropy=-2.0)."
        )
    return float(value)


#: SB3's clip of the gSDE actor's mean before the tanh (its ``clip_mean``).
SDE_CLIP_MEAN = 2.0


class SquashedGaussianActor(nn.Module):
    """``obs → trunk → head``: a distribution over actions in ``(-1, 1)``.

    Args:
        trunk: zoo encoder mapping ``(batch, *obs_shape)`` to ``(batch, trunk.out_features)``.
        action_dim: size of the (flat) action vector.
        sde_log_std_init: gSDE exploration (a squashed :class:`StateDependentNoiseHead` whose
            noise trains the trunk too, as SB3's SAC) with this initial log std of its
            weights; ``None``: a :class:`SquashedGaussianHead`.
    """

    def __init__(
        self, trunk: nn.Module, action_dim: int, sde_log_std_init: float | None = None
    ) -> None:
        super().__init__()
        self.trunk = trunk
        features = trunk_features(trunk)
        self.head: SquashedGaussianHead | StateDependentNoiseHead
        if sde_log_std_init is None:
            self.head = SquashedGaussianHead(features, action_dim)
        else:
            self.head = StateDependentNoiseHead(
                features,
                action_dim,
                sde_log_std_init,
                squash=True,
                learn_features=True,
                clip_mean=SDE_CLIP_MEAN,
            )

    def distribution(
        self, obs: Tensor, eps: Tensor | None = None, mixed_precision: bool = False
    ) -> SquashedDiagGaussian:
        """The policy at ``obs (batch, *obs_shape)``; a gSDE head samples with ``eps`` (default:
        its current exploration matrices). ``mixed_precision``: the trunk runs in bfloat16
        autocast; the head and the distribution's arithmetic stay float32."""
        with torch.autocast(obs.device.type, dtype=torch.bfloat16, enabled=mixed_precision):
            features = self.trunk(obs)
        features = features.float()
        if isinstance(self.head, StateDependentNoiseHead):
            dist = self.head(features, eps)
            assert isinstance(dist, SquashedDiagGaussian)  # the head squashes
            return dist
        return self.head(features)

    def forward(self, obs: Tensor) -> Tensor:
        """The greedy actions ``tanh(mean)``, ``(batch, action_dim)`` in ``(-1, 1)``."""
        return torch.tanh(self.head.mean_action(self.trunk(obs)))


class EntropyCoefficient(nn.Module):
    """The entropy coefficient, kept as its logarithm: a learned one stays positive (as in SB3).

    Args:
        initial: its value before the first update (a fixed coefficient keeps it; 0 is no
            entropy bonus).
    """

    def __init__(self, initial: float) -> None:
        super().__init__()
        self.log_value = nn.Parameter(torch.tensor([initial]).log())

    def forward(self) -> Tensor:
        """The coefficient ``exp(log_value)``, detached: the other losses must not move it."""
        return self.log_value.detach().exp()


class SAC:
    """A SAC agent for ``Box`` action spaces.

    Args:
        observation_space: the env's (single) observation space.
        action_space: the env's (single) action space; a ``Box`` with finite bounds.
        config: the hyperparameters (:class:`~rl_lab.rl.configs.SACConfig`, which documents
            each).
        total_steps: the run's env-step budget (for the learning-rate schedule).
        device: torch device of the networks.
        **overrides: fields of ``config`` to change (``network={"actor": {...}}`` replaces
            only the actor's spec).
    """

    name = "sac"
    LOOP = "off_policy"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after its config's rules):
        the loop's, and the spellings of ``ent_coef`` and ``target_entropy``."""
        off_policy.check_loop_config(cfg)
        parse_ent_coef(cfg.agent.ent_coef)
        parse_target_entropy(cfg.agent.target_entropy, 1)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: SACConfig | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or SACConfig(), overrides)
        self.device = torch.device(device)
        self.scaling = ActionScaling(action_space, self.device, "SAC")
        check_mixed_precision(c.mixed_precision, self.device)
        self.total_steps = total_steps
        action_dim = self.scaling.dim
        self.learn_ent_coef, initial_ent_coef = parse_ent_coef(c.ent_coef)
        self.target_entropy = parse_target_entropy(c.target_entropy, action_dim)

        init = c.network.init
        # encode_observations gives the agents Box observations, which always have a shape
        assert observation_space.shape is not None
        obs_shape = tuple(observation_space.shape)
        self.actor = SquashedGaussianActor(
            build_trunk(c.network.actor, obs_shape, init, "actor"),
            action_dim,
            c.network.log_std_init if c.use_sde else None,
        ).to(self.device)
        self.sde: ExplorationMatrices | None = None
        if isinstance(self.actor.head, StateDependentNoiseHead):
            self.sde = ExplorationMatrices(self.actor.head, c.sde_sample_freq)
        self.critic = build_critics(c.network.critic, obs_shape, action_dim, c.n_critics, init)
        self.critic.to(self.device)
        if init != "default":  # the head's mean and log-std layers: the scheme with gain 1
            init_output_layers(self.actor.head, init, gain=1.0)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # flat parameters + fused Adam, as TD3 (created after the deep copy)
        self.actor_flat = FlatParameters(self.actor)
        self.critic_flat = FlatParameters(self.critic)
        self.actor_optimizer = FlatAdam(self.actor_flat, lr=c.learning_rate)
        self.critic_optimizer = FlatAdam(self.critic_flat, lr=c.learning_rate)
        self.ent_coef = EntropyCoefficient(initial_ent_coef).to(self.device)
        self.ent_coef.requires_grad_(self.learn_ent_coef)
        self.ent_coef_optimizer: FlatAdam | None = None
        if self.learn_ent_coef:
            self.ent_coef_flat = FlatParameters(self.ent_coef)
            self.ent_coef_optimizer = FlatAdam(self.ent_coef_flat, lr=c.learning_rate)
        self._critic_params = list(self.critic.parameters())
        self.targets = PolyakTargets([(self.critic_target, self.critic)])  # no actor target
        self.updates = 0  # gradient steps taken

    # ----------------------------------------------------------------------------- acting
    def _obs(self, obs: np.ndarray) -> Tensor:
        return torch.as_tensor(obs, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``tanh(mean)`` (env units) for observations ``(n, *obs_shape)``."""
        return self.scaling.to_env(self.actor(self._obs(obs)).cpu().numpy().astype(np.float64))

    @torch.no_grad()
    def act(self, obs: np.ndarray, env_step: int, rng: np.random.Generator) -> np.ndarray:
        """Actions sampled from the policy (env units); the noise comes from the loop's
        ``rng``, so the loop's generator drives all randomness of acting."""
        if self.sde is not None:  # gSDE: the exploration matrices are drawn from `rng`
            self.sde.before_act(
                len(obs),
                lambda shape: torch.as_tensor(
                    rng.standard_normal(shape), dtype=torch.float32, device=self.device
                ),
            )
            actions = self.actor.distribution(self._obs(obs)).sample()
            return self.scaling.to_env(actions.cpu().numpy().astype(np.float64))
        gaussian = self.actor.distribution(self._obs(obs)).gaussian
        assert isinstance(gaussian, DiagGaussian)  # a SquashedGaussianHead's
        mean = gaussian.mean.cpu().numpy().astype(np.float64)
        std = gaussian.std.cpu().numpy().astype(np.float64)
        return self.scaling.to_env(np.tanh(mean + std * rng.standard_normal(mean.shape)))

    def random_actions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform actions within the bounds (env units), used before ``learning_starts``."""
        return self.scaling.random(n, rng)

    def charts(self, env_step: int) -> dict[str, float]:
        """Learning rate and entropy coefficient at ``env_step`` (logged under ``charts/``)."""
        return {
            "charts/learning_rate": self.critic_optimizer.param_groups[0]["lr"],
            "charts/ent_coef": self.ent_coef().item(),
        }

    # ----------------------------------------------------------------------------- learning
    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast of the critics' forward passes when ``mixed_precision``."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.mixed_precision
        )

    def update(self, batch: ReplayBatch, env_step: int) -> dict[str, Tensor]:
        """One gradient step of the entropy coefficient (when learned), the critics and the
        actor, in SB3's order; every ``target_update_interval``-th step a target update.

        Returns detached metric tensors: ``losses/critic_loss`` (half the sum of the critics'
        MSE, first: the loop checks it), ``losses/actor_loss`` (``mean(ent_coef * log pi -
        min Q)``), ``losses/q_values`` (mean Q1 of the batch), ``losses/entropy`` (``-mean log
        pi`` of the batch's fresh actions) and, when learned, ``losses/ent_coef_loss``.
        """
        lr = scheduled(
            self.config.learning_rate, self.config.lr_schedule, env_step, self.total_steps
        )
        optimizers = [self.actor_optimizer, self.critic_optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        for optimizer in optimizers:
            optimizer.param_groups[0]["lr"] = lr
        t = replay_tensors(batch, self.scaling, self.config.gamma, self.device)  # n-step aware
        eps = None
        if self.sde is not None:
            self.sde.end_phase()  # the next act starts a new collection phase
            # one exploration matrix for this step's fresh actions (SB3's reset_noise())
            eps = torch.randn(self.sde.head.log_std.shape, device=self.device)

        # fresh actions for the batch's states; their graph trains the actor below
        mixed = self.config.mixed_precision
        # (B, A), (B,)
        actions_pi, log_prob = self.actor.distribution(t.obs, eps, mixed).rsample()
        ent_coef = self.ent_coef()  # this step's value, before its own update
        metrics: dict[str, Tensor] = {}
        if self.ent_coef_optimizer is not None:
            # descend on log(ent_coef): it grows while the entropy -log pi is below the target
            ent_coef_loss = -(
                self.ent_coef.log_value * (log_prob.detach() + self.target_entropy)
            ).mean()
            self.ent_coef_flat.zero_grad()
            ent_coef_loss.backward()
            self.ent_coef_optimizer.step()
            metrics["losses/ent_coef_loss"] = ent_coef_loss.detach()

        with torch.no_grad():
            dist = self.actor.distribution(t.next_obs, eps, mixed)
            next_actions, next_log_prob = dist.rsample()
            with self._autocast():
                next_q = self.critic_target.min(t.next_obs, next_actions).float()
            td_target = t.rewards + t.bootstrap * (next_q - ent_coef * next_log_prob)  # (batch,)

        with self._autocast():
            q_values = [q.float() for q in self.critic(t.obs, t.actions)]
        # a Tensor, not sum's start value 0: Critics holds at least one Q-function
        critic_loss = 0.5 * cast(Tensor, sum(F.mse_loss(q, td_target) for q in q_values))
        self.critic_flat.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        # the updated critics judge the fresh actions; their own weights get no gradient
        with frozen(self._critic_params):
            with self._autocast():
                q_pi = self.critic.min(t.obs, actions_pi).float()
            actor_loss = (ent_coef * log_prob - q_pi).mean()
            self.actor_flat.zero_grad()
            actor_loss.backward()
        self.actor_optimizer.step()

        if self.updates % self.config.target_update_interval == 0:
            self.update_targets()
        self.updates += 1
        return {
            "losses/critic_loss": critic_loss.detach(),
            "losses/actor_loss": actor_loss.detach(),
            "losses/q_values": q_values[0].detach().mean(),
            "losses/entropy": -log_prob.detach().mean(),
            **metrics,
        }

    def update_targets(self) -> None:
        """Polyak update of the target critics; their buffers are copied."""
        self.targets.update(self.config.tau)

    def on_env_step(self, env_step: int, done: np.ndarray | None = None) -> None:
        """Nothing: SAC's target updates count gradient steps, inside :meth:`update`."""

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, the entropy coefficient and counters, for checkpoints."""
        state = {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "ent_coef": self.ent_coef.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "updates": self.updates,
        }
        if self.ent_coef_optimizer is not None:
            state["ent_coef_optimizer"] = self.ent_coef_optimizer.state_dict()
        if self.sde is not None:
            state["sde"] = self.sde.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (in place: the flat parameter views survive)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.ent_coef.load_state_dict(state["ent_coef"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if self.ent_coef_optimizer is not None:
            self.ent_coef_optimizer.load_state_dict(state["ent_coef_optimizer"])
        if self.sde is not None and "sde" in state:
            self.sde.load_state_dict(state["sde"])
        self.updates = int(state["updates"])
