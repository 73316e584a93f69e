"""The on-policy actor-critic family: A2C and PPO, for discrete and continuous actions.

- A2C (Mnih et al. 2016, https://arxiv.org/abs/1602.01783): one gradient step per rollout on
  the whole rollout, vanilla policy gradient, RMSprop by default.
- PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347): ``n_epochs`` passes of
  minibatches over each rollout with the clipped surrogate objective, optional value clipping
  and an approximate-KL early stop.

Both are :class:`ActorCritic` with different settings: the same policy
(:mod:`rl_lab.rl.policies`), the same acting, the same loss pieces (policy, value and entropy
terms) and the same update loop. Names, defaults and semantics follow Stable-Baselines3's
``A2C``/``PPO`` (and sb3-contrib's ``RecurrentPPO`` with ``recurrent=true``), so presets map one
to one.

The agent only acts and learns; the on-policy loop (``rl_lab.rl.on_policy``) owns time: it
collects rollouts, computes advantages and calls :meth:`ActorCritic.update`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rl_lab.config import require, with_overrides
from rl_lab.errors import ConfigError
from rl_lab.nets import StateDependentNoiseHead
from rl_lab.nets.flat import FlatAdam, FlatParameters, FlatRMSprop
from rl_lab.rl.buffers import check_mixed_precision, to_device
from rl_lab.rl.configs import A2CConfig, PolicyNetworkConfig, PPOConfig
from rl_lab.rl.continuous import ActionScaling
from rl_lab.rl.gsde import ExplorationMatrices
from rl_lab.rl.policies import ActorCriticPolicy
from rl_lab.rl.rollout import Rollout, RolloutBatch
from rl_lab.rl.schedules import scheduled


class PolicyStep(NamedTuple):
    """What :meth:`ActorCritic.act` returns for one vector step (NumPy, leading ``n_envs``)."""

    actions: np.ndarray  # as sampled: what the rollout stores (Box: unbounded, or squashed)
    env_actions: np.ndarray  # clipped (or scaled) to the action space's bounds: the env's
    values: np.ndarray  # (n_envs,) V(obs)
    log_probs: np.ndarray  # (n_envs,) log-probability of `actions`
    state: Tensor | None  # recurrent state after this step


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, <= 0 a useless one.

    NaN when the returns do not vary.
    """
    var = float(np.var(returns))
    return float("nan") if var == 0 else 1.0 - float(np.var(returns - values)) / var


class PolicyOptimizer(Protocol):
    """What :class:`ActorCritic` uses of its optimizer: :class:`~rl_lab.nets.flat.FlatAdam`
    (the fused Adam step on the flat parameter tensor) or :class:`~rl_lab.nets.flat.FlatRMSprop`
    (a ``torch.optim.Optimizer`` would do too)."""

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The parameter groups; ``["lr"]`` of each is set by the learning-rate schedule."""
        ...

    def step(self) -> None:
        """One step on the gradients in the parameters' ``.grad``."""
        ...

    def state_dict(self) -> Any:
        """The optimizer's state, for checkpoints."""
        ...

    def load_state_dict(self, state: Any, /) -> None:
        """Restore what :meth:`state_dict` saved."""
        ...


class ActorCritic:
    """Shared base of :class:`A2C` and :class:`PPO`: acting, the loss, the update loop.

    Args:
        observation_space: the env's (single) observation space.
        action_space: ``Discrete``, 1-D ``MultiDiscrete`` or 1-D ``Box``.
        total_steps: the run's env-step budget (for linear schedules).
        device: torch device of the policy.
        learning_rate: optimizer step size.
        lr_schedule: ``"constant"`` or ``"linear"`` (decays to 0 at ``total_steps``).
        n_epochs: passes over each rollout.
        batch_size: transitions per minibatch; ``None`` is the whole rollout.
        clip_range: PPO's ratio clip ε; ``None`` is the vanilla policy gradient (A2C).
        clip_range_schedule: ``"constant"`` or ``"linear"`` decay of ``clip_range``.
        clip_range_vf: clip of the value change around the rollout's values; ``None`` is off.
        target_kl: stop the update's epochs once the approximate KL to the rollout policy
            exceeds ``1.5 * target_kl`` (SB3's rule); ``None`` is off.
        normalize_advantage: standardise advantages per minibatch.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss.
        max_grad_norm: global gradient-norm clip.
        recurrent: use an LSTM core (``network.lstm``) in every trunk.
        use_sde: gSDE exploration (``Box`` actions): state-dependent noise from the actor's
            features, its matrices drawn at each rollout's start (:mod:`rl_lab.rl.gsde`).
        sde_sample_freq: with ``use_sde``, vector steps between draws within a rollout (-1:
            one draw per rollout).
        network: the policy's settings (:class:`~rl_lab.rl.configs.PolicyNetworkConfig`),
            see :class:`~rl_lab.rl.policies.ActorCriticPolicy`.
        optimizer: ``flat parameters -> optimizer`` (:class:`~rl_lab.nets.flat.FlatAdam`,
            :class:`~rl_lab.nets.flat.FlatRMSprop`, or anything with
            :class:`PolicyOptimizer`'s methods, e.g. a ``torch.optim.Optimizer`` on
            ``[flat.param]``).
        mixed_precision: run the forward passes in bfloat16 autocast (a CUDA device or a CPU
            with native bfloat16; losses, gradients and weights stay float32).
    """

    LOOP = "on_policy"

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        total_steps: int,
        device: torch.device | str,
        learning_rate: float,
        lr_schedule: str,
        n_epochs: int,
        batch_size: int | None,
        clip_range: float | None,
        clip_range_schedule: str,
        clip_range_vf: float | None,
        target_kl: float | None,
        normalize_advantage: bool,
        ent_coef: float,
        vf_coef: float,
        max_grad_norm: float,
        recurrent: bool,
        network: PolicyNetworkConfig,
        optimizer: Callable[[FlatParameters], PolicyOptimizer],
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        mixed_precision: bool = False,
    ) -> None:
        self.device = torch.device(device)
        check_mixed_precision(mixed_precision, self.device)
        self.total_steps = total_steps
        self.learning_rate, self.lr_schedule = learning_rate, lr_schedule
        self.n_epochs, self.batch_size = n_epochs, batch_size
        self.clip_range, self.clip_range_schedule = clip_range, clip_range_schedule
        self.clip_range_vf, self.target_kl = clip_range_vf, target_kl
        self.normalize_advantage = normalize_advantage
        self.ent_coef, self.vf_coef, self.max_grad_norm = ent_coef, vf_coef, max_grad_norm
        self.recurrent = recurrent
        if use_sde and not (
            isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
        ):
            raise ConfigError(
                f"agent.use_sde=true (gSDE) explores continuous actions, but this env's actions "
                f"are {action_space}. Set agent.use_sde=false, or choose an env with 1-D Box "
                "actions."
            )
        check_squash_output(use_sde, network.squash_output)
        # squashed actions in [-1, 1] are scaled to the bounds, as TD3's and SAC's
        self._scaling = (
            ActionScaling(action_space, self.device, "agent.network.squash_output")
            if network.squash_output
            else None
        )
        try:
            self.policy = ActorCriticPolicy(
                observation_space,
                action_space,
                encoder=network.encoder,
                shared=network.shared,
                lstm=dataclasses.asdict(network.lstm) if recurrent else None,
                init=network.init,
                log_std_init=network.log_std_init,
                use_sde=use_sde,
                squash_output=network.squash_output,
                mixed_precision=mixed_precision,
            ).to(self.device)
        except (ValueError, TypeError) as exc:
            fix = (
                "drop encoder=nature_cnn (the Nature CNN reads images, (C, H, W) frames)"
                if (network.encoder or {}).get("type") == "nature_cnn"
                else "set e.g. agent.network.encoder.hidden_sizes=[64,64]"
            )
            raise ConfigError(
                f"agent.network does not fit observations of shape {observation_space.shape} "
                f"and actions {action_space}: {exc}. Fix it: {fix}, or choose an env with "
                "Discrete, MultiDiscrete or 1-D Box actions."
            ) from None
        self._bounds = None
        if isinstance(action_space, gym.spaces.Box):
            self._bounds = (action_space.low, action_space.high)
        # MultiDiscrete dimensions may start elsewhere than 0; the heads choose indices
        self._start = None
        if isinstance(action_space, gym.spaces.MultiDiscrete) and action_space.start.any():
            self._start = action_space.start
        self.sde: ExplorationMatrices | None = None
        if isinstance(self.policy.action_head, StateDependentNoiseHead):
            self.sde = ExplorationMatrices(self.policy.action_head, sde_sample_freq)
        self.flat_params = FlatParameters(self.policy)
        self.optimizer = optimizer(self.flat_params)
        self.updates = 0  # gradient steps taken

    # ----------------------------------------------------------------------------- acting
    def _obs(self, obs: np.ndarray) -> Tensor:
        tensor = to_device(obs, self.device)  # uint8 frames stay uint8: the network scales them
        return tensor.float() if tensor.dtype == torch.float64 else tensor

    def _starts(self, episode_starts: np.ndarray | None) -> Tensor | None:
        if not self.recurrent or episode_starts is None:
            return None
        return torch.as_tensor(episode_starts, device=self.device)

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        # squashed actions in [-1, 1] are scaled to the bounds; Gaussian samples are unbounded
        # and the env gets them clipped to its bounds (SB3's rules)
        if self._scaling is not None:
            return self._scaling.to_env(actions)
        if self._bounds is not None:
            return np.clip(actions, *self._bounds)
        return actions if self._start is None else actions + self._start

    def initial_state(self, n_envs: int) -> Tensor | None:
        """Zero recurrent state for ``n_envs`` envs; ``None`` for feed-forward policies."""
        return self.policy.initial_state(n_envs)

    @torch.no_grad()
    def act(self, obs: np.ndarray, state: Tensor | None, episode_starts: np.ndarray) -> PolicyStep:
        """Sample actions for one vector step ``(n_envs, *obs_shape)``.

        ``state`` is the recurrent state before ``obs`` and ``episode_starts`` marks envs whose
        ``obs`` begins an episode (their state is reset first).
        """
        if self.sde is not None:  # drawn with torch's global RNG, like the samples below
            self.sde.before_act(len(obs), lambda shape: torch.randn(shape, device=self.device))
        dist, values, new_state = self.policy(self._obs(obs), state, self._starts(episode_starts))
        actions = dist.sample()
        log_probs = dist.log_prob(actions)
        actions_np = actions.cpu().numpy()
        return PolicyStep(
            actions_np,
            self._to_env(actions_np),
            values.cpu().numpy(),
            log_probs.cpu().numpy(),
            new_state,
        )

    @torch.no_grad()
    def value(
        self, obs: np.ndarray, state: Tensor | None = None, episode_starts: np.ndarray | None = None
    ) -> np.ndarray:
        """``V(obs)`` ``(n,)`` for bootstrapping; ``state``: recurrent state before ``obs``."""
        return self.policy.value(self._obs(obs), state, self._starts(episode_starts)).cpu().numpy()

    @torch.no_grad()
    def predict_step(
        self, obs: np.ndarray, state: Tensor | None = None
    ) -> tuple[np.ndarray, Tensor | None]:
        """Greedy actions (mode of the distribution, clipped to the bounds) and the new state."""
        if not self.recurrent:
            dist = self.policy.action_distribution(self._obs(obs))
            return self._to_env(dist.mode().cpu().numpy()), None
        dist, _, new_state = self.policy(self._obs(obs), state)
        return self._to_env(dist.mode().cpu().numpy()), new_state

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch ``(n, *obs_shape)``; recurrent policies start from zeros.

        Use :meth:`predict_fn` to play whole episodes with a recurrent policy.
        """
        return self.predict_step(obs)[0]

    def predict_fn(self, n_envs: int) -> Callable[[np.ndarray], np.ndarray]:
        """A greedy policy for ``n_envs`` parallel episodes that starts now.

        Recurrent policies keep one hidden state per env inside the returned function, from
        zeros at its first call; feed-forward ones simply get :meth:`predict`.
        """
        if not self.recurrent:
            return self.predict
        state = self.initial_state(n_envs)

        def policy(obs: np.ndarray) -> np.ndarray:
            nonlocal state
            actions, state = self.predict_step(obs, state)
            return actions

        return policy

    # ----------------------------------------------------------------------------- learning
    def current_clip_range(self, env_step: int) -> float | None:
        """The ratio clip ε at ``env_step`` (``None`` for A2C)."""
        if self.clip_range is None:
            return None
        return scheduled(self.clip_range, self.clip_range_schedule, env_step, self.total_steps)

    def _set_learning_rate(self, env_step: int) -> None:
        lr = scheduled(self.learning_rate, self.lr_schedule, env_step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def policy_loss(
        self, advantages: Tensor, log_probs: Tensor, old_log_probs: Tensor, clip: float | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The policy-gradient loss and its diagnostics.

        ``clip=None``: ``-mean(A * log π(a|s))`` (A2C). Otherwise PPO's clipped surrogate
        ``-mean(min(r A, clip(r, 1-ε, 1+ε) A))`` with ``r = π(a|s) / π_old(a|s)``, plus the
        approximate KL ``mean((r - 1) - log r)`` and the fraction of clipped ratios.
        """
        if clip is None:
            return -(advantages * log_probs).mean(), {}
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip))
        with torch.no_grad():
            diagnostics = {
                "losses/approx_kl": ((ratio - 1) - log_ratio).mean(),
                "losses/clipfrac": ((ratio - 1).abs() > clip).float().mean(),
            }
        return -surrogate.mean(), diagnostics

    def value_loss(self, values: Tensor, old_values: Tensor, returns: Tensor) -> Tensor:
        """MSE to the returns; with ``clip_range_vf`` the prediction moves at most that far
        from the rollout's value (SB3's rule)."""
        if self.clip_range_vf is not None:
            values = old_values + (values - old_values).clamp(
                -self.clip_range_vf, self.clip_range_vf
            )
        return F.mse_loss(values, returns)

    def _minibatches(self, rollout: Rollout) -> Iterator[RolloutBatch]:
        for _ in range(self.n_epochs):
            yield from rollout.minibatches(self.batch_size, sequences=self.recurrent)

    def update(self, rollout: Rollout, env_step: int) -> dict[str, Tensor]:
        """Learn from a complete rollout with advantages; returns mean metrics (tensors).

        ``losses/loss`` comes first: the loop checks it for NaN/inf.
        """
        self._set_learning_rate(env_step)
        if self.sde is not None:
            self.sde.end_phase()
        clip = self.current_clip_range(env_step)
        sums: dict[str, Tensor] = {}
        n_batches = 0
        for batch in self._minibatches(rollout):
            log_probs, entropy, values = self.policy.evaluate_actions(
                batch.obs, batch.actions, batch.initial_state, batch.episode_starts
            )
            advantages = batch.advantages
            if self.normalize_advantage and len(advantages) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            policy_loss, diagnostics = self.policy_loss(
                advantages, log_probs, batch.old_log_probs, clip
            )
            # SB3's rule: stop before stepping on a minibatch that went too far
            too_far = self.target_kl is not None and (
                diagnostics["losses/approx_kl"].item() > 1.5 * self.target_kl
            )
            if too_far:
                break
            value_loss = self.value_loss(values, batch.old_values, batch.returns)
            entropy_mean = entropy.mean()
            loss = policy_loss - self.ent_coef * entropy_mean + self.vf_coef * value_loss
            self.flat_params.zero_grad()
            loss.backward()
            self.flat_params.clip_grad_norm_(self.max_grad_norm)
            self.optimizer.step()
            self.updates += 1
            n_batches += 1
            metrics = {
                "losses/loss": loss.detach(),
                "losses/policy_loss": policy_loss.detach(),
                "losses/value_loss": value_loss.detach(),
                "losses/entropy": entropy_mean.detach(),
                **diagnostics,
            }
            for key, value in metrics.items():
                sums[key] = sums[key] + value if key in sums else value
        means = {key: value / max(n_batches, 1) for key, value in sums.items()}
        means["losses/explained_variance"] = torch.tensor(
            explained_variance(rollout.values.ravel(), rollout.returns.ravel())
        )
        return means

    def charts(self, env_step: int) -> dict[str, float]:
        """Chart values at ``env_step`` (logged under ``charts/``)."""
        values = {"charts/learning_rate": self.optimizer.param_groups[0]["lr"]}
        log_std = self.policy.log_std
        if log_std is not None:
            values["charts/action_std"] = log_std.detach().exp().mean().item()
        clip = self.current_clip_range(env_step)
        if clip is not None:
            values["charts/clip_range"] = clip
        return values

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Policy, optimizer and counters (and gSDE's exploration matrices), for checkpoints."""
        state = {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }
        if self.sde is not None:
            state["sde"] = self.sde.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        if self.sde is not None and "sde" in state:
            self.sde.load_state_dict(state["sde"])


def check_squash_output(use_sde: bool, squash_output: bool) -> None:
    """``network.squash_output`` squashes gSDE's Gaussian, so it needs ``use_sde`` (SB3's rule).

    Raises:
        ConfigError: ``squash_output`` without ``use_sde``.
    """
    require(
        use_sde or not squash_output,
        "agent.network.squash_output=true squashes gSDE's actions into the bounds, so it needs "
        "agent.use_sde=true (as in Stable-Baselines3). Set agent.use_sde=true, or drop "
        "agent.network.squash_output: without gSDE the Gaussian's actions are clipped to the "
        "bounds.",
    )


def _check_rollout_split(cfg: Any, batch_size: int) -> None:
    """Minibatches must tile the rollout; recurrent ones must hold whole env sequences."""
    a, n_envs = cfg.agent, cfg.env.num_envs
    rollout = a.n_steps * n_envs
    require(
        batch_size <= rollout,
        f"agent.batch_size={batch_size} is larger than a rollout (agent.n_steps={a.n_steps} x "
        f"env.num_envs={n_envs} = {rollout} transitions). Lower agent.batch_size or raise "
        "agent.n_steps / env.num_envs.",
    )
    require(
        rollout % batch_size == 0,
        f"agent.batch_size={batch_size} does not divide a rollout of {rollout} transitions "
        f"(agent.n_steps={a.n_steps} x env.num_envs={n_envs}), so every epoch would end with "
        "a truncated minibatch. Choose a divisor of the rollout size.",
    )
    if a.recurrent:
        minibatches = rollout // batch_size
        require(
            n_envs % minibatches == 0,
            f"A recurrent policy trains on whole env sequences, so the {minibatches} "
            f"minibatches per epoch (rollout {rollout} / agent.batch_size={batch_size}) must "
            f"split env.num_envs={n_envs} evenly. Use agent.batch_size = agent.n_steps x k "
            f"with k a divisor of env.num_envs (e.g. agent.batch_size={rollout}).",
        )
    if a.normalize_advantage:
        require(
            batch_size > 1,
            "agent.normalize_advantage=true needs minibatches of more than one transition "
            "(the standard deviation of one value is undefined). Raise agent.batch_size (or "
            "agent.n_steps / env.num_envs) or set agent.normalize_advantage=false.",
        )


class PPO(ActorCritic):
    """Proximal Policy Optimization with clipped surrogate (SB3's ``PPO``), Adam with ε = 1e-5.

    Args:
        observation_space, action_space: the env's (single) spaces (``Discrete``,
            ``MultiDiscrete`` or 1-D ``Box`` actions).
        config: the hyperparameters (:class:`~rl_lab.rl.configs.PPOConfig`, or
            :class:`~rl_lab.rl.configs.PPOLSTMConfig` for the recurrent defaults).
        total_steps: the run's env-step budget (for linear schedules).
        device: torch device of the policy.
        **overrides: fields of ``config`` to change (``network={"shared": True}`` changes
            only that field of the policy).
    """

    name = "ppo"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after its config's rules)."""
        check_squash_output(cfg.agent.use_sde, cfg.agent.network.squash_output)
        _check_rollout_split(cfg, cfg.agent.batch_size)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: PPOConfig | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or PPOConfig(), overrides)
        super().__init__(
            observation_space,
            action_space,
            total_steps=total_steps,
            device=device,
            learning_rate=c.learning_rate,
            lr_schedule=c.lr_schedule,
            n_epochs=c.n_epochs,
            batch_size=c.batch_size,
            clip_range=c.clip_range,
            clip_range_schedule=c.clip_range_schedule,
            clip_range_vf=c.clip_range_vf,
            target_kl=c.target_kl,
            normalize_advantage=c.normalize_advantage,
            ent_coef=c.ent_coef,
            vf_coef=c.vf_coef,
            max_grad_norm=c.max_grad_norm,
            recurrent=c.recurrent,
            network=c.network,
            use_sde=c.use_sde,
            sde_sample_freq=c.sde_sample_freq,
            mixed_precision=c.mixed_precision,
            optimizer=lambda flat: FlatAdam(flat, lr=c.learning_rate, eps=1e-5),
        )


class A2C(ActorCritic):
    """Advantage Actor-Critic (SB3's ``A2C``): one full-rollout step per rollout.

    ``use_rms_prop`` selects RMSprop (α = 0.99, ε = ``rms_prop_eps``) as in the paper, else
    Adam with ε = 1e-5.

    Args:
        observation_space, action_space: the env's (single) spaces (``Discrete``,
            ``MultiDiscrete`` or 1-D ``Box`` actions).
        config: the hyperparameters (:class:`~rl_lab.rl.configs.A2CConfig`).
        total_steps: the run's env-step budget (for the learning-rate schedule).
        device: torch device of the policy.
        **overrides: fields of ``config`` to change.
    """

    name = "a2c"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks of a run config using this agent (after its config's rules)."""
        check_squash_output(cfg.agent.use_sde, cfg.agent.network.squash_output)
        _check_rollout_split(cfg, cfg.agent.n_steps * cfg.env.num_envs)

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: A2CConfig | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or A2CConfig(), overrides)

        def optimizer(flat: FlatParameters) -> PolicyOptimizer:
            if c.use_rms_prop:
                return FlatRMSprop(flat, lr=c.learning_rate, alpha=0.99, eps=c.rms_prop_eps)
            return FlatAdam(flat, lr=c.learning_rate, eps=1e-5)

        super().__init__(
            observation_space,
            action_space,
            total_steps=total_steps,
            device=device,
            learning_rate=c.learning_rate,
            lr_schedule=c.lr_schedule,
            n_epochs=1,
            batch_size=None,
            clip_range=None,
            clip_range_schedule="constant",
            clip_range_vf=None,
            target_kl=None,
            normalize_advantage=c.normalize_advantage,
            ent_coef=c.ent_coef,
            vf_coef=c.vf_coef,
            max_grad_norm=c.max_grad_norm,
            recurrent=c.recurrent,
            network=c.network,
            use_sde=c.use_sde,
            sde_sample_freq=c.sde_sample_freq,
            mixed_precision=c.mixed_precision,
            optimizer=optimizer,
        )
