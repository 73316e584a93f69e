"""REINFORCE: the Monte-Carlo policy gradient, for discrete and continuous actions.

Williams 1992, "Simple statistical gradient-following algorithms for connectionist
reinforcement learning" (https://doi.org/10.1007/BF00992696). Every update plays whole
episodes with the current policy and ascends ``mean_t (G_t - b(s_t)) * grad log pi(a_t|s_t)``,
where ``G_t`` is the discounted return from step t to the end of its episode (no
bootstrapping) and the baseline ``b`` is 0, or with ``baseline: true`` a learned value function
``V(s)`` trained on the same returns (it lowers the variance, not the expected gradient).
``normalize_returns`` standardises those weights over each update's batch.

The policy, its heads (categorical for ``Discrete``, Gaussian for 1-D ``Box`` actions) and the
loss are the actor-critic family's (:class:`~rl_lab.rl.actor_critic.ActorCritic`: one gradient
step per rollout, as A2C); the rollouts are whole episodes, collected by
:class:`~rl_lab.rl.on_policy.EpisodeLoop`. Stable-Baselines3 has no REINFORCE, so this agent
has no ``impl=sb3`` counterpart.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from rl_lab.config import require, with_overrides
from rl_lab.nets.flat import FlatAdam
from rl_lab.rl.actor_critic import ActorCritic, PolicyStep, check_squash_output
from rl_lab.rl.configs import REINFORCEConfig
from rl_lab.rl.envs import check_env_id
from rl_lab.rl.rollout import Rollout


class REINFORCE(ActorCritic):
    """REINFORCE with an optional learned baseline.

    Args:
        observation_space: the env's (single) observation space.
        action_space: ``Discrete`` or 1-D ``Box``.
        config: the hyperparameters (:class:`~rl_lab.rl.configs.REINFORCEConfig`): Adam with
            torch's defaults otherwise (betas 0.9, 0.999, eps 1e-8); with ``baseline`` a
            learned ``V(s)`` is trained with weight ``vf_coef`` on the squared error to the
            returns, which it is subtracted from; ``recurrent`` must be false (episodes are
            learned from as sets of transitions).
        total_steps: the run's env-step budget (for the learning-rate schedule).
        device: torch device of the policy.
        **overrides: fields of ``config`` to change.
    """

    name = "reinforce"
    LOOP = "episodes"

    @staticmethod
    def check_config(cfg: Any) -> None:
        """Cross-field checks (after its config's rules): a feed-forward policy, episodes
        that end."""
        check_squash_output(cfg.agent.use_sde, cfg.agent.network.squash_output)
        require(
            not cfg.agent.recurrent,
            "agent=reinforce has no recurrent policy: it learns from its episodes as sets of "
            "transitions. Set agent.recurrent=false, or use agent=ppo_lstm for memory.",
        )
        limit = cfg.env.get("max_episode_steps") or check_env_id(cfg.env.id).max_episode_steps
        require(
            limit is not None,
            f"agent=reinforce learns from whole episodes, but {cfg.env.id} has no time limit, "
            "so an episode might never end. Give it one with env.max_episode_steps=<steps>.",
        )

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: REINFORCEConfig | None = None,
        *,
        total_steps: int,
        device: torch.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        self.config = c = with_overrides(config or REINFORCEConfig(), overrides)
        self.baseline = c.baseline
        super().__init__(
            observation_space,
            action_space,
            total_steps=total_steps,
            device=device,
            learning_rate=c.learning_rate,
            lr_schedule=c.lr_schedule,
            n_epochs=1,
            batch_size=None,
            clip_range=None,  # the vanilla policy gradient
            clip_range_schedule="constant",
            clip_range_vf=None,
            target_kl=None,
            normalize_advantage=c.normalize_returns,
            ent_coef=c.ent_coef,
            # without a baseline the policy's value head is left untrained (and unused)
            vf_coef=c.vf_coef if c.baseline else 0.0,
            max_grad_norm=c.max_grad_norm,
            recurrent=c.recurrent,
            network=c.network,
            use_sde=c.use_sde,
            sde_sample_freq=c.sde_sample_freq,
            mixed_precision=c.mixed_precision,
            # FlatAdam: the fused Adam kernel on the flat parameters, without torch.optim's
            # per-step bookkeeping (one small update per rollout of whole episodes)
            optimizer=lambda flat: FlatAdam(flat, lr=c.learning_rate),
        )

    def act(self, obs: np.ndarray, state: Tensor | None, episode_starts: np.ndarray) -> PolicyStep:
        """Sample actions for one vector step; the values are the baseline (0 without one)."""
        step = super().act(obs, state, episode_starts)
        return step if self.baseline else step._replace(values=np.zeros_like(step.values))

    def update(self, rollout: Rollout, env_step: int) -> dict[str, Tensor]:
        """One gradient step on the rollout's episodes, an
        :class:`~rl_lab.rl.rollout.EpisodeBuffer` (see :meth:`ActorCritic.update`);
        without a baseline there is no value loss or explained variance to report."""
        metrics = super().update(rollout, env_step)
        if not self.baseline:
            for key in ("losses/value_loss", "losses/explained_variance"):
                metrics.pop(key, None)
        return metrics
