"""The typed config of every agent: each key's type, default, bounds and meaning, in one place.

``agent=<name>`` composes :data:`AGENT_CONFIGS` ``[<name>]``'s defaults, registered with Hydra's
ConfigStore as the ``agent`` group (:func:`register`); the (agent, env) presets under
``conf/preset/`` and the experiments under ``conf/experiment/`` hold only their differences
from it. Every field's :class:`~rl_lab.config.Rule` is derived from its declaration
(:func:`~rl_lab.config.rules_of`) and checked once after composition; the agent class receives
the instance (:func:`~rl_lab.config.build_config`), and the Stable-Baselines3 mapping
(:mod:`rl_lab.baselines.mapping`) is tested to cover every field. ``python -m rl_lab.schema
agent=<name>`` prints the table of an agent's keys.

Names and defaults follow Stable-Baselines3 (and sb3-contrib's RecurrentPPO), so presets map one
to one; ``n_steps`` keeps SB3's two meanings: the n-step return of the off-policy agents (dqn,
td3, ddpg, sac) and the rollout length of the on-policy ones (a2c, ppo, ppo_lstm).

The loop's keys (replay and training cadence; rollout length and discounting) are the fields
of a base class shared by every agent of that loop (:class:`OffPolicyLoopConfig`,
:class:`RolloutLoopConfig`, :class:`EpisodeLoopConfig`); they stay under ``agent.*`` because
SB3 and RL Zoo spell them there, so a Zoo ``hyperparams/*.yml`` entry reads as our preset.

This module imports neither torch nor gymnasium: Hydra's config sources use it at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rl_lab.config import (
    INIT_CHOICES,
    Rule,
    register_configs,
    register_settings,
    rules_of,
    setting,
)
from rl_lab.errors import ConfigError

#: ``lr_schedule`` and PPO's ``clip_range_schedule``.
SCHEDULES = ("constant", "linear")


def _mlp(hidden_sizes: list[int], activation: str) -> Any:
    """A factory of a zoo MLP encoder spec (``rl_lab.nets.build_encoder``)."""
    return lambda: {
        "type": "mlp",
        "hidden_sizes": list(hidden_sizes),
        "activation": activation,
        "norm": None,
        "dropout": 0.0,
    }


def _plain_mlp(hidden_sizes: list[int]) -> Any:
    """A factory of the ReLU MLP spec of TD3's and SAC's actor and critic."""
    return lambda: {"type": "mlp", "hidden_sizes": list(hidden_sizes), "activation": "relu"}


# ----------------------------------------------------------------------------- loops
@dataclass(frozen=True)
class AgentConfig:
    """The root of every agent's config: its name comes first in the composed config."""

    name: str = setting("", "the agent (agent=<name>)")


#: TD3's and DDPG's exploration noises (``action_noise_type``).
ACTION_NOISE_TYPES = ("normal", "ornstein-uhlenbeck")


@dataclass(frozen=True)
class GSDEConfig(AgentConfig):
    """gSDE exploration (Raffin et al. 2022; ``rl_lab.rl.gsde``), SB3's ``use_sde`` and
    ``sde_sample_freq``: the agents with a stochastic policy over ``Box`` actions."""

    use_sde: bool = setting(
        False,
        "gSDE: explore with noise that is a learned function of the actor's features, one "
        "matrix per env drawn at each rollout (SAC: training phase); Box actions only; "
        "network.log_std_init starts its weights' log-stds",
    )
    sde_sample_freq: int = setting(
        -1, "with use_sde: vector steps between draws within a rollout or phase (-1: once)", low=-1
    )


@dataclass(frozen=True)
class OffPolicyLoopConfig(AgentConfig):
    """The replay and training cadence of the off-policy loop (``rl_lab.rl.off_policy``)."""

    buffer_size: int = setting(1_000_000, "replay capacity, transitions", low=1)
    learning_starts: int = setting(100, "env steps of uniform-random play before learning", low=0)
    batch_size: int = setting(32, "transitions per gradient step", low=1)
    train_freq: int = setting(4, "env steps (per env) between training phases", low=1)
    train_freq_unit: str = setting(
        "step",
        "what train_freq counts: step (vector env steps) | episode (finished episodes, over "
        "all envs; SB3's train_freq=(n, 'episode'))",
        choices=("step", "episode"),
    )
    gradient_steps: int = setting(
        1,
        "gradient steps per training phase; -1: as many as env steps the phase collected "
        "(SB3's -1)",
        low=-1,
    )
    n_steps: int = setting(
        1, "length of the n-step returns in the TD target (1: one-step TD; SB3's n_steps)", low=1
    )
    gamma: float = setting(0.99, "discount", low=0.0, high=1.0)


@dataclass(frozen=True)
class _DiscountedLoopConfig(AgentConfig):
    """What both on-policy loops share: discounting and the running normalisations."""

    gamma: float = setting(0.99, "discount", low=0.0, high=1.0)
    normalize_obs: bool = setting(
        False, "running mean/std observation normalisation (in checkpoints, frozen in eval)"
    )
    normalize_reward: bool = setting(
        False, "divide rewards by the running std of the return (training only)"
    )


@dataclass(frozen=True)
class RolloutLoopConfig(_DiscountedLoopConfig):
    """The fixed-length rollouts of the on-policy loop (``rl_lab.rl.on_policy.OnPolicyLoop``)."""

    n_steps: int = setting(
        2048, "env steps per env per rollout (rollout = n_steps x env.num_envs)", low=1
    )
    gae_lambda: float = setting(0.95, "GAE lambda (1.0: n-step returns)", low=0.0, high=1.0)


@dataclass(frozen=True)
class EpisodeLoopConfig(_DiscountedLoopConfig):
    """The whole-episode rollouts of ``rl_lab.rl.on_policy.EpisodeLoop`` (REINFORCE)."""

    n_episodes: int = setting(
        1, "whole episodes per env per update (batch: n_episodes x env.num_envs)", low=1
    )


# ----------------------------------------------------------------------------- networks
@dataclass(frozen=True)
class QNetworkConfig:
    """DQN's Q-network: a zoo encoder and a Q head."""

    encoder: dict[str, Any] = setting(
        help="observation -> features: a zoo encoder spec (type: mlp | nature_cnn, or "
        "_target_, plus the class's arguments)",
        factory=_mlp([256, 256], "relu"),
    )
    head: str = setting("q", "q | dueling (Wang et al. 2016)", choices=("q", "dueling"))
    init: str = setting("orthogonal", "weight initialisation scheme", choices=INIT_CHOICES)


@dataclass(frozen=True)
class LSTMConfig:
    """The LSTM core of a recurrent actor-critic policy (``recurrent: true``)."""

    hidden_size: int = setting(256, "LSTM units", low=1)
    num_layers: int = setting(1, "stacked LSTM layers", low=1)


@dataclass(frozen=True)
class PolicyNetworkConfig:
    """The actor-critic policy (``rl_lab.rl.policies.ActorCriticPolicy``), as SB3's MlpPolicy /
    sb3-contrib's MlpLstmPolicy."""

    shared: bool = setting(False, "one trunk for actor and critic (true), or one each (SB3)")
    encoder: dict[str, Any] = setting(
        help="observation -> features: a zoo encoder spec (type: mlp | nature_cnn, or "
        "_target_, plus the class's arguments)",
        factory=_mlp([64, 64], "tanh"),
    )
    lstm: LSTMConfig = setting(
        help="encoder features -> LSTM -> heads, when recurrent=true", factory=LSTMConfig
    )
    init: str = setting(
        "orthogonal",
        "orthogonal (gains sqrt(2) trunk, 0.01 policy, 1 value) | kaiming | xavier | default",
        choices=INIT_CHOICES,
    )
    log_std_init: float = setting(
        0.0,
        "initial log std of the Gaussian policy (continuous actions), or with use_sde of "
        "every exploration weight",
    )
    squash_output: bool = setting(
        False,
        "with use_sde: tanh-squash the actions into the Box bounds (SB3's squash_output), so "
        "the policy's mean cannot drift past a bound where clipped actions all score the same",
    )


@dataclass(frozen=True)
class ActorCriticNetworksConfig:
    """TD3's, DDPG's and SAC's actor and critic trunks (each followed by its output layer)."""

    actor: dict[str, Any] = setting(
        help="observation -> features for the actor: a zoo encoder spec",
        factory=_plain_mlp([400, 300]),
    )
    critic: dict[str, Any] = setting(
        help="concat(observation, action) -> features for each critic: a zoo encoder spec",
        factory=_plain_mlp([400, 300]),
    )
    init: str = setting(
        "default", "default (torch's, as SB3) | orthogonal | kaiming | xavier", choices=INIT_CHOICES
    )


@dataclass(frozen=True)
class SACNetworksConfig(ActorCriticNetworksConfig):
    """SAC's actor (feeding a squashed Gaussian head) and critics: 256 x 256 ReLU MLPs."""

    actor: dict[str, Any] = setting(
        help="observation -> features for the squashed Gaussian actor: a zoo encoder spec",
        factory=_plain_mlp([256, 256]),
    )
    critic: dict[str, Any] = setting(
        help="concat(observation, action) -> features for each critic: a zoo encoder spec",
        factory=_plain_mlp([256, 256]),
    )
    log_std_init: float = setting(
        -3.0, "with use_sde: initial log std of every exploration weight (SB3's SAC default)"
    )


# ----------------------------------------------------------------------------- agents
#: What ``mixed_precision`` does in DQN and the on-policy agents.
_MIXED_PRECISION = (
    "bfloat16 autocast of the forward passes (a CUDA device, or a CPU with AVX-512 BF16 or AMX)"
)


@dataclass(frozen=True)
class DQNConfig(OffPolicyLoopConfig):
    """Deep Q-Network (Mnih et al. 2015) with replay and a target network; SB3's DQN.

    The defaults are for small tasks (classic control, Box2D): RL Zoo's DQN settings for
    Acrobot-v1 and LunarLander (a 256x256 Q-network, one gradient step of 128 transitions per env
    step, a 50k replay, the target copied every 250 steps, epsilon from 1 to 0.1 over the first
    12% of total_steps). SB3's own defaults (learning rate 1e-4, batch 32, a 1M replay, one
    gradient step every 4 env steps, the target copied every 10,000 steps, a 64x64 network) are
    Atari's, and barely move from random play on small tasks at their usual budgets; the Atari
    preset (conf/preset/dqn/ALE/atari.yaml) sets them.
    """

    name: str = setting("dqn", "the agent (agent=<name>)")
    learning_rate: float = setting(6.3e-4, "Adam step size", low=0.0, low_open=True)
    buffer_size: int = setting(50_000, "replay capacity, transitions", low=1)
    batch_size: int = setting(128, "transitions per gradient step", low=1)
    gradient_steps: int = setting(4, "gradient steps per training phase", low=1)
    lr_schedule: str = setting(
        "constant", "constant | linear (decays to 0 at total_steps)", choices=SCHEDULES
    )
    tau: float = setting(
        1.0,
        "target update: 1.0 = hard copy, < 1 = Polyak averaging",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    target_update_interval: int = setting(250, "env steps between target updates", low=1)
    target_network: bool = setting(
        True,
        "bootstrap from a target network (false: from the network being trained, as Deep "
        "Learning Illustrated's agent; target_update_interval and tau then do nothing)",
    )
    exploration_schedule: str = setting(
        "linear",
        "linear (SB3's: over exploration_fraction x total_steps) | exponential (epsilon x "
        "exploration_decay after every training phase, down to exploration_final_eps)",
        choices=("linear", "exponential"),
    )
    exploration_fraction: float = setting(
        0.12,
        "linear schedule: fraction of total_steps over which epsilon decays",
        low=0.0,
        high=1.0,
    )
    exploration_decay: float = setting(
        0.995,
        "exponential schedule: factor on epsilon after every training phase",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    exploration_initial_eps: float = setting(1.0, "epsilon at the start", low=0.0, high=1.0)
    exploration_final_eps: float = setting(
        0.1, "epsilon at the end of the decay (its floor)", low=0.0, high=1.0
    )
    max_grad_norm: float = setting(10.0, "global gradient-norm clip", low=0.0, low_open=True)
    loss: str = setting("huber", "TD loss: huber (smooth L1) | mse", choices=("huber", "mse"))
    double_q: bool = setting(False, "Double DQN target (van Hasselt et al. 2016)")
    mixed_precision: bool = setting(False, _MIXED_PRECISION)
    network: QNetworkConfig = setting(help="the Q-network", factory=QNetworkConfig)


#: What ``mixed_precision`` does in TD3, DDPG and SAC.
_OFF_POLICY_MIXED_PRECISION = (
    "bfloat16 autocast of the gradient steps' forward passes (SAC: the critics and the actor's "
    "trunk), losses and weights in float32 (a CUDA device, or a CPU with AVX-512 BF16 or AMX; "
    "acting stays float32)"
)


@dataclass(frozen=True)
class TD3Config(OffPolicyLoopConfig):
    """TD3 (Fujimoto et al. 2018): deterministic actor, twin critics, delayed updates, target
    policy smoothing; SB3's TD3. Noise scales are on the actor's [-1, 1] action scale."""

    name: str = setting("td3", "the agent (agent=<name>)")
    learning_rate: float = setting(
        1e-3, "Adam step size (actor and critics)", low=0.0, low_open=True
    )
    lr_schedule: str = setting(
        "constant", "constant | linear (decays to 0 at total_steps)", choices=SCHEDULES
    )
    batch_size: int = setting(256, "transitions per gradient step", low=1)
    train_freq: int = setting(1, "env steps (per env) between training phases", low=1)
    gradient_steps: int = setting(
        1,
        "critic gradient steps per training phase; -1: as many as env steps the phase "
        "collected (SB3's -1)",
        low=-1,
    )
    tau: float = setting(
        0.005, "Polyak coefficient of the target networks", low=0.0, high=1.0, low_open=True
    )
    policy_delay: int = setting(2, "critic updates per actor (and target) update", low=1)
    target_policy_noise: float = setting(
        0.2, "std of the noise on the target action (smoothing)", low=0.0
    )
    target_noise_clip: float = setting(0.5, "that noise is clipped to [-clip, clip]", low=0.0)
    action_noise_std: float = setting(
        0.1,
        "scale (sigma) of the exploration noise (SB3's action noise sigma; SB3's own default "
        "is none, the paper's 0.1)",
        low=0.0,
    )
    action_noise_type: str = setting(
        "normal",
        "normal (independent each step, SB3's NormalActionNoise) | ornstein-uhlenbeck "
        "(correlated in time, reset at episode ends; SB3's OrnsteinUhlenbeckActionNoise)",
        choices=ACTION_NOISE_TYPES,
    )
    n_critics: int = setting(
        2, "critics; the TD target takes the smallest (SB3's policy_kwargs)", low=1
    )
    mixed_precision: bool = setting(False, _OFF_POLICY_MIXED_PRECISION)
    network: ActorCriticNetworksConfig = setting(
        help="actor and critic trunks", factory=ActorCriticNetworksConfig
    )


@dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """DDPG (Lillicrap et al. 2016): TD3 with one critic, no policy delay and no target
    smoothing, as SB3 derives its DDPG from its TD3."""

    name: str = setting("ddpg", "the agent (agent=<name>)")
    n_critics: int = setting(1, "critics (one: no clipped double Q-learning)", low=1)
    policy_delay: int = setting(1, "actor and targets move on every critic update", low=1)
    target_policy_noise: float = setting(0.0, "no target policy smoothing", low=0.0)
    target_noise_clip: float = setting(0.0, "clip of the (absent) target noise", low=0.0)


@dataclass(frozen=True)
class SACConfig(GSDEConfig, OffPolicyLoopConfig):
    """SAC (Haarnoja et al. 2018) with automatic entropy tuning: squashed Gaussian actor, twin
    critics, Polyak-averaged targets; SB3's SAC."""

    name: str = setting("sac", "the agent (agent=<name>)")
    learning_rate: float = setting(
        3e-4, "Adam step size (actor, critics and entropy coefficient)", low=0.0, low_open=True
    )
    lr_schedule: str = setting(
        "constant", "constant | linear (decays to 0 at total_steps)", choices=SCHEDULES
    )
    batch_size: int = setting(256, "transitions per gradient step", low=1)
    train_freq: int = setting(1, "env steps (per env) between training phases", low=1)
    tau: float = setting(
        0.005, "Polyak coefficient of the target critics", low=0.0, high=1.0, low_open=True
    )
    ent_coef: str | float = setting(
        "auto",
        "auto (learned, from 1.0) | auto_<v> (learned, from v) | a number (fixed weight of "
        "the entropy bonus)",
    )
    target_entropy: str | float = setting(
        "auto", "entropy the learned ent_coef aims at: auto = -dim(actions), or nats"
    )
    target_update_interval: int = setting(1, "gradient steps between target updates", low=1)
    n_critics: int = setting(
        2, "critics; targets and actor use the smallest (SB3's policy_kwargs)", low=1
    )
    mixed_precision: bool = setting(False, _OFF_POLICY_MIXED_PRECISION)
    network: SACNetworksConfig = setting(help="actor and critic trunks", factory=SACNetworksConfig)


@dataclass(frozen=True)
class PolicyConfig(GSDEConfig):
    """The policy and its optimisation, shared by every agent built on the actor-critic
    policy (a2c, ppo, ppo_lstm, reinforce)."""

    learning_rate: float = setting(3e-4, "optimizer step size", low=0.0, low_open=True)
    lr_schedule: str = setting(
        "constant",
        "constant | linear (decays to 0 at total_steps; SB3's lin_<lr>)",
        choices=SCHEDULES,
    )
    ent_coef: float = setting(0.0, "weight of the entropy bonus", low=0.0)
    vf_coef: float = setting(0.5, "weight of the value loss", low=0.0)
    max_grad_norm: float = setting(0.5, "global gradient-norm clip", low=0.0, low_open=True)
    recurrent: bool = setting(
        False, "add an LSTM core after the encoder of every trunk (network.lstm)"
    )
    mixed_precision: bool = setting(False, _MIXED_PRECISION)
    network: PolicyNetworkConfig = setting(help="the policy", factory=PolicyNetworkConfig)


@dataclass(frozen=True)
class PPOConfig(PolicyConfig, RolloutLoopConfig):
    """Proximal Policy Optimization (Schulman et al. 2017), clipped surrogate; SB3's PPO."""

    name: str = setting("ppo", "the agent (agent=<name>)")
    learning_rate: float = setting(3e-4, "Adam step size (eps 1e-5)", low=0.0, low_open=True)
    batch_size: int = setting(64, "transitions per minibatch; must divide the rollout", low=1)
    n_epochs: int = setting(10, "passes over each rollout", low=1)
    clip_range: float = setting(
        0.2,
        "clip of the probability ratio to [1 - clip_range, 1 + clip_range]",
        low=0.0,
        low_open=True,
    )
    clip_range_schedule: str = setting(
        "constant",
        "constant | linear (decays to 0 at total_steps; SB3's lin_<clip>)",
        choices=SCHEDULES,
    )
    clip_range_vf: float | None = setting(
        None,
        "clip of the value change from the rollout's values (null: off)",
        low=0.0,
        low_open=True,
    )
    normalize_advantage: bool = setting(True, "standardise advantages per minibatch")
    target_kl: float | None = setting(
        None,
        "stop the epochs once approx KL > 1.5 x target_kl (null: off)",
        low=0.0,
        low_open=True,
    )


@dataclass(frozen=True)
class PPOLSTMConfig(PPOConfig):
    """Recurrent PPO: each of actor and critic carries an LSTM state through the episode, reset
    at episode starts, trained on whole env sequences (sb3-contrib's RecurrentPPO defaults).
    ``agent=ppo agent.recurrent=true`` is the same agent."""

    name: str = setting("ppo_lstm", "the agent (agent=<name>)")
    recurrent: bool = setting(True, "LSTM core after the encoder (network.lstm)")
    batch_size: int = setting(
        128, "a multiple of n_steps: each minibatch holds whole env sequences", low=1
    )
    n_steps: int = setting(
        128, "env steps per env per rollout (sb3-contrib's RecurrentPPO default)", low=1
    )


@dataclass(frozen=True)
class A2CConfig(PolicyConfig, RolloutLoopConfig):
    """Advantage Actor-Critic (Mnih et al. 2016): one gradient step on each whole rollout;
    SB3's A2C."""

    name: str = setting("a2c", "the agent (agent=<name>)")
    learning_rate: float = setting(7e-4, "optimizer step size", low=0.0, low_open=True)
    n_steps: int = setting(5, "env steps per env per rollout (one update per rollout)", low=1)
    gae_lambda: float = setting(
        1.0, "GAE lambda (1.0: n-step returns, classic A2C)", low=0.0, high=1.0
    )
    normalize_advantage: bool = setting(False, "standardise advantages per rollout")
    use_rms_prop: bool = setting(
        True, "RMSprop (alpha 0.99) as in the paper; false: Adam (eps 1e-5)"
    )
    rms_prop_eps: float = setting(1e-5, "RMSprop epsilon", low=0.0, low_open=True)


@dataclass(frozen=True)
class REINFORCEConfig(PolicyConfig, EpisodeLoopConfig):
    """REINFORCE (Williams 1992): the Monte-Carlo policy gradient on whole episodes, weighting
    log pi(a_t|s_t) by the return to the episode's end, optionally minus a learned baseline.
    A feed-forward policy (``recurrent`` must stay false). SB3 has no REINFORCE."""

    name: str = setting("reinforce", "the agent (agent=<name>)")
    learning_rate: float = setting(1e-3, "Adam step size", low=0.0, low_open=True)
    baseline: bool = setting(
        False,
        "subtract a learned value V(s) from the returns (vf_coef weighs its loss); false is "
        "Williams' plain REINFORCE",
    )
    normalize_returns: bool = setting(
        True, "standardise the weights (returns, minus the baseline) per update"
    )
    vf_coef: float = setting(
        0.5, "weight of the baseline's value loss (only with baseline: true)", low=0.0
    )
    max_grad_norm: float = setting(10.0, "global gradient-norm clip", low=0.0, low_open=True)


#: The config class of every ``agent=<name>`` (the keys of ``rl_lab.agents.AGENTS``).
AGENT_CONFIGS: dict[str, type[AgentConfig]] = {
    "dqn": DQNConfig,
    "td3": TD3Config,
    "ddpg": DDPGConfig,
    "sac": SACConfig,
    "a2c": A2CConfig,
    "ppo": PPOConfig,
    "ppo_lstm": PPOLSTMConfig,
    "reinforce": REINFORCEConfig,
}


# ----------------------------------------------------------------------------- the env
#: ``env.backend`` values of the Atari games.
BACKENDS: tuple[str, ...] = ("gymnasium", "ale_vector")


@dataclass(frozen=True)
class EnvConfig:
    """The ``env`` node: every Gymnasium id without a file of its own (``env=Acrobot-v1``)
    composes these with its id."""

    id: str = setting("CartPole-v1", "a registered Gymnasium id (checked when the run starts)")
    num_envs: int = setting(1, "parallel envs collecting experience", low=1)
    vectorization: str = setting(
        "sync",
        "sync | async (gymnasium's SyncVectorEnv / AsyncVectorEnv) | native (the env's own "
        "vectorized implementation, CartPole's numpy CartPoleVectorEnv; evaluation stays sync)",
        choices=("sync", "async", "native"),
    )
    max_episode_steps: int | None = setting(
        None, "null keeps the env's registered time limit", low=1
    )
    kwargs: dict[str, Any] = setting(
        help="extra keyword arguments for gymnasium.make", factory=dict
    )


@dataclass(frozen=True)
class AtariSettings:
    """The ``env.atari`` block: the DQN papers' preprocessing (rl_lab/rl/atari.py's docstring
    says what each step does, in training and in evaluation)."""

    noop_max: int = setting(
        30, "at most this many no-op actions after a reset (at least one; 0 = none)", low=0
    )
    frame_skip: int = setting(
        4, "emulator frames per agent step; the observation is the max of the last two", low=1
    )
    screen_size: int = setting(
        84, "observations are screen_size x screen_size grayscale (uint8)", low=8
    )
    frame_stack: int = setting(
        4, "stacked observations: (frame_stack, screen_size, screen_size)", low=1
    )
    terminal_on_life_loss: bool = setting(
        True, "training only: a lost life ends the episode, the game goes on"
    )
    fire_reset: bool = setting(True, "press FIRE after a reset in games that have it")
    clip_rewards: bool = setting(
        True, "training only: rewards clipped to [-1, 1] (evaluation: the raw score)"
    )
    repeat_action_probability: float = setting(
        0.25,
        "sticky actions (ALE v5, Machado et al. 2018); 0.0 = the NoFrameskip-v4 setting of the "
        "original DQN papers",
        low=0.0,
        high=1.0,
    )
    num_threads: int = setting(
        0, "ale_vector: threads stepping the games (0 = one per env, <= CPUs)", low=0
    )

    @classmethod
    def from_config(cls, env_cfg: Mapping[str, Any]) -> AtariSettings:
        """Settings from ``env_cfg.atari`` (missing keys keep their defaults)."""
        block = env_cfg.get("atari")
        if block is None:
            raise ConfigError(
                f"env.id={env_cfg['id']} is an Atari game but env.atari is missing: select the "
                f"env with `env={env_cfg['id']}` (which applies env=atari's settings), not only "
                "`env.id=...`."
            )
        values = dict(block.items())
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"env.atari.{unknown[0]} is not an Atari setting (unknown: {', '.join(unknown)}). "
                f"The settings are: {', '.join(known)}."
            )
        return cls(**values)


@dataclass(frozen=True)
class AtariEnvConfig(EnvConfig):
    """``env=atari`` and every ``ALE/<Game>-v5`` id: Atari 2600 games with the DQN papers'
    preprocessing (rl_lab/rl/atari.py); env=atari alone is Pong."""

    id: str = setting("ALE/Pong-v5", "an ALE/<Game>-v5 id")
    backend: str = setting(
        "gymnasium",
        "gymnasium (wrappers; env.vectorization=sync|async) | ale_vector (ale-py's C++ vector "
        "env: games stepped on env.atari.num_threads)",
        choices=BACKENDS,
    )
    atari: AtariSettings = setting(help="the preprocessing", factory=AtariSettings)


#: Validation of the ``env`` node of every run, and of an Atari game's own keys.
ENV_RULES: tuple[Rule, ...] = rules_of(EnvConfig, "env")
ATARI_RULES: tuple[Rule, ...] = tuple(
    rule for rule in rules_of(AtariEnvConfig, "env") if rule not in ENV_RULES
)

#: Group-less names of the env settings (stored at ``env``): conf/env/*.yaml and the ids
#: without a file (rl_lab/hydra_env_source.py) start from them.
ENV_NODE = "env_settings"
ATARI_ENV_NODE = "atari_env_settings"


# ----------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class EvalConfig:
    """Greedy evaluation of the policy during and after training."""

    freq: int = setting(
        5_000, "env steps between evaluations during training (0 = only at the end)", low=0
    )
    episodes: int = setting(10, "episodes per periodic evaluation", low=1)
    final_episodes: int = setting(
        20, "episodes of the final evaluation reported in results.json", low=1
    )
    seed: int = setting(
        1_000_000, "eval episode i is reset with seed eval.seed + i (same for every run)", low=0
    )
    stop_at: float | None = setting(
        None,
        "stop training once a periodic evaluation's mean return reaches this (null: train for "
        "total_steps); the final evaluation then scores the policy on final_episodes episodes "
        "other than the ones that stopped it (seeds from eval.seed + eval.episodes on)",
    )
    select: str = setting(
        "last",
        "the final policy: last (the end of training) | best (best.pt, the best periodic "
        "evaluation, scored on final_episodes other episodes: seeds from eval.seed + "
        "eval.episodes on)",
        choices=("last", "best"),
    )


@dataclass(frozen=True)
class CheckpointingConfig:
    """Where a run can resume from."""

    freq: int = setting(
        10_000, "env steps between checkpoints/last.pt (0 = only at the end)", low=0
    )
    save_buffer: bool = setting(
        True, "store the replay buffer in last.pt so resume continues exactly"
    )


@dataclass(frozen=True)
class LoggingConfig:
    """How often training scalars reach TensorBoard."""

    log_freq: int = setting(1_000, "env steps between scalar logs of losses and SPS", low=1)


@dataclass(frozen=True)
class RLRunConfig:
    """The RL task's own top-level keys (``task=rl``; the agent, env and preset come from
    their groups)."""

    total_steps: int = setting(100_000, "env steps (summed over vector envs)", low=1)
    episodes: int = setting(20, "mode=eval: greedy evaluation episodes", low=1)
    record_video: bool = setting(False, "write a GIF of one greedy episode into the run dir")
    tuned_preset: str | None = setting(
        None,
        "the conf/preset/<agent>/<env>.yaml applied, if any (set when it is loaded: "
        "rl_lab/hydra_private_configs.py)",
    )
    eval: EvalConfig = setting(help="greedy evaluation", factory=EvalConfig)
    checkpointing: CheckpointingConfig = setting(help="checkpoints", factory=CheckpointingConfig)
    logging: LoggingConfig = setting(help="scalar logging", factory=LoggingConfig)


#: Validation of the RL task's own keys: ``mode`` (train or eval) and :class:`RLRunConfig`.
RL_RULES: tuple[Rule, ...] = (
    Rule("mode", str, choices=("train", "eval")),
    *rules_of(RLRunConfig, ""),
)

#: The name under which :func:`register` stores :class:`RLRunConfig` (conf/task/rl.yaml lists
#: it in its defaults).
RL_RUN_NODE = "rl_run_settings"


def register() -> None:
    """Register every agent's defaults as the ``agent`` group with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`), and the RL task's own keys
    (:class:`RLRunConfig`) as ``rl_run_settings``."""
    register_configs("agent", AGENT_CONFIGS)
    register_settings(RL_RUN_NODE, RLRunConfig)
    register_settings(ENV_NODE, EnvConfig, package="env")
    register_settings(ATARI_ENV_NODE, AtariEnvConfig, package="env")
