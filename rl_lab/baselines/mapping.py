"""The one place where rl_lab hyperparameters become Stable-Baselines3 arguments.

Each :class:`Sb3Algo` says, for every key of our agent config, what happens to it:

- ``direct``: passed to the SB3 constructor under the same name;
- ``requires``: SB3 has no such option, so only the value SB3 hard-codes is accepted (any other
  value is a :class:`~rl_lab.errors.ConfigError` naming the key, never a silent drop);
- ``notes``: an implementation difference with no option on either side, recorded in the run's
  ``results.json`` so comparisons state it;
- ``schedules``: a value and its schedule key (``learning_rate`` + ``lr_schedule``, PPO's
  ``clip_range`` + ``clip_range_schedule``): a constant, or an SB3 schedule of
  ``progress_remaining`` that decays linearly to 0;
- the network (each algorithm's ``network`` function: ``network.*`` → ``policy`` and
  ``policy_kwargs``) and, for on-policy agents, ``normalize_obs``/``normalize_reward`` (→ SB3's
  ``VecNormalize`` around the training env) are translated by :func:`sb3_kwargs`.

Which mapping belongs to which agent is said once, in :data:`rl_lab.agents.AGENTS`
(``impl=sb3`` runs it). A test walks every field of every agent's config class
(:mod:`rl_lab.rl.configs`) and checks that each is covered here: mapped, or listed in
``requires``/``notes`` with the reason SB3 has no counterpart, so a new field without a mapping
fails it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.utils import LinearSchedule

from rl_lab.agents import AGENTS, agent_entry, load
from rl_lab.baselines.extractors import MlpFeatures
from rl_lab.config_dict import config_dict, flatten
from rl_lab.errors import ConfigError
from rl_lab.nets import ACTIVATIONS
from rl_lab.rl.normalization import EPSILON, OBS_CLIP

#: Keys that :func:`sb3_kwargs` translates for every algorithm (``train_freq_unit``: SB3's
#: ``train_freq=(n, unit)``).
TRANSLATED = ("name", "train_freq_unit")

#: Our running-normalisation keys, which become SB3's ``VecNormalize`` (``vec_normalize=True``).
VEC_NORMALIZE_KEYS = ("normalize_obs", "normalize_reward")

#: The learning rate and its schedule key, which every algorithm has.
LR_SCHEDULE = {"learning_rate": "lr_schedule"}

#: Our encoder type → SB3 policy name.
POLICIES = {"mlp": "MlpPolicy", "nature_cnn": "CnnPolicy"}

Flat = Mapping[str, Any]


def _encoder_network(flat: Flat) -> tuple[str, dict[str, Any]]:
    """DQN-style ``network.encoder`` → SB3 policy name and ``policy_kwargs``."""
    encoder = flat.get("network.encoder.type", "mlp")
    if encoder not in POLICIES:
        raise ConfigError(
            f"agent.network.encoder.type={encoder!r} has no Stable-Baselines3 policy; supported: "
            f"{', '.join(POLICIES)}."
        )
    if encoder == "mlp":
        return "MlpPolicy", {
            "net_arch": list(flat.get("network.encoder.hidden_sizes", [64, 64])),
            "activation_fn": ACTIVATIONS[flat.get("network.encoder.activation", "relu")],
        }
    # our Nature CNN is SB3's NatureCNN features extractor, followed directly by the head
    features = int(flat.get("network.encoder.features", 512))
    return "CnnPolicy", {"net_arch": [], "features_extractor_kwargs": {"features_dim": features}}


def _actor_critic_network(flat: Flat) -> tuple[str, dict[str, Any]]:
    """TD3/DDPG/SAC-style ``network.actor`` / ``network.critic`` MLPs → ``net_arch={pi, qf}``,
    and ``n_critics`` (a ``policy_kwargs`` entry in SB3)."""
    for part in ("actor", "critic"):
        if flat.get(f"network.{part}.type", "mlp") != "mlp":
            raise ConfigError(
                f"agent.network.{part}.type must be mlp for Stable-Baselines3's MlpPolicy."
            )
    activations = {flat.get(f"network.{p}.activation", "relu") for p in ("actor", "critic")}
    if len(activations) > 1:
        raise ConfigError(
            "Stable-Baselines3 uses one activation for actor and critic, but "
            "agent.network.actor.activation and agent.network.critic.activation differ "
            f"({', '.join(sorted(activations))}); set them equal."
        )
    kwargs: dict[str, Any] = {
        "net_arch": {
            "pi": list(flat["network.actor.hidden_sizes"]),
            "qf": list(flat["network.critic.hidden_sizes"]),
        },
        "activation_fn": ACTIVATIONS[activations.pop()],
    }
    if "n_critics" in flat:
        kwargs["n_critics"] = int(flat["n_critics"])
    if "network.log_std_init" in flat:  # SAC's gSDE weights
        kwargs["log_std_init"] = float(flat["network.log_std_init"])
    return "MlpPolicy", kwargs


def _on_policy_network(flat: Flat) -> tuple[str, dict[str, Any]]:
    """A2C/PPO-style ``network.*`` (+ ``recurrent``) → SB3 ``ActorCriticPolicy`` arguments.

    Separate feed-forward trunks are SB3's usual ``net_arch=dict(pi=..., vf=...)``. A shared
    trunk, and any trunk before an LSTM, is the :class:`MlpFeatures` extractor with an empty
    ``net_arch`` (see :mod:`rl_lab.baselines.extractors`), shared or not via
    ``share_features_extractor``. ``recurrent=true`` selects sb3-contrib's LSTM policies:
    separate trunks get separate LSTMs (``enable_critic_lstm``), a shared one ``shared_lstm``.
    ``network.lstm.*`` is read only when recurrent, as by our agents.
    """
    encoder = flat.get("network.encoder.type", "mlp")
    if encoder not in POLICIES:
        raise ConfigError(
            f"agent.network.encoder.type={encoder!r} has no Stable-Baselines3 policy; supported: "
            f"{', '.join(POLICIES)}."
        )
    init = flat.get("network.init", "orthogonal")
    if init not in ("orthogonal", "default"):
        raise ConfigError(
            f"agent.network.init={init!r} cannot be reproduced with Stable-Baselines3: its "
            "actor-critic policies use orthogonal init (ortho_init=True, the same gains as ours) "
            "or PyTorch's default (ortho_init=False). Use agent.network.init=orthogonal or "
            "default."
        )
    shared = bool(flat.get("network.shared", False))
    recurrent = bool(flat.get("recurrent", False))
    kwargs: dict[str, Any] = {
        "ortho_init": init == "orthogonal",
        "log_std_init": float(flat.get("network.log_std_init", 0.0)),
        "share_features_extractor": shared,
    }
    if flat.get("network.squash_output", False):
        kwargs["squash_output"] = True
    if encoder == "nature_cnn":
        # SB3's NatureCNN (the same layers, uint8 scaled by 1/255) feeds the heads/LSTM directly
        kwargs["net_arch"] = []
        features = int(flat.get("network.encoder.features", 512))
        kwargs["features_extractor_kwargs"] = {"features_dim": features}
    else:
        hidden = [int(h) for h in flat.get("network.encoder.hidden_sizes", [64, 64])]
        activation = ACTIVATIONS[flat.get("network.encoder.activation", "tanh")]
        kwargs["activation_fn"] = activation
        if shared or recurrent:
            kwargs["net_arch"] = []
            kwargs["features_extractor_class"] = MlpFeatures
            kwargs["features_extractor_kwargs"] = {
                "hidden_sizes": hidden,
                "activation_fn": activation,
            }
        else:
            kwargs["net_arch"] = {"pi": hidden, "vf": hidden}
    policy = POLICIES[encoder]
    if recurrent:
        policy = policy.replace("Policy", "LstmPolicy")  # MlpLstmPolicy / CnnLstmPolicy
        kwargs["lstm_hidden_size"] = int(flat.get("network.lstm.hidden_size", 256))
        kwargs["n_lstm_layers"] = int(flat.get("network.lstm.num_layers", 1))
        kwargs["shared_lstm"] = shared
        kwargs["enable_critic_lstm"] = not shared
    return policy, kwargs


@dataclass(frozen=True)
class Sb3Algo:
    """How one of our agents' configs maps onto a Stable-Baselines3 algorithm (which agent:
    :data:`rl_lab.agents.AGENTS`).

    Args:
        sb3_class: import path of the SB3 class.
        direct: our keys passed unchanged.
        schedules: our value key → its schedule key (``"constant"`` or ``"linear"``).
        network: our ``network.*`` keys → SB3 ``(policy, policy_kwargs)``.
        network_keys: the keys ``network`` reads.
        requires: our key → (the only value SB3 supports, why).
        notes: our key → the difference that no option controls.
        vec_normalize: ``normalize_obs``/``normalize_reward`` become SB3's ``VecNormalize``.
    """

    sb3_class: str
    direct: tuple[str, ...]
    network: Callable[[Flat], tuple[str, dict[str, Any]]]
    network_keys: tuple[str, ...]
    requires: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    schedules: Mapping[str, str] = field(default_factory=lambda: dict(LR_SCHEDULE))
    vec_normalize: bool = False

    def covered_keys(self) -> set[str]:
        """Every agent-config key this mapping accounts for."""
        return {
            *TRANSLATED,
            *self.schedules.keys(),
            *self.schedules.values(),
            *(VEC_NORMALIZE_KEYS if self.vec_normalize else ()),
            *self.network_keys,
            *self.direct,
            *self.requires,
            *self.notes,
        }


DQN = Sb3Algo(
    sb3_class="stable_baselines3.DQN",
    direct=(
        "buffer_size",
        "learning_starts",
        "batch_size",
        "tau",
        "gamma",
        "train_freq",
        "gradient_steps",
        "n_steps",
        "target_update_interval",
        "exploration_fraction",
        "exploration_initial_eps",
        "exploration_final_eps",
        "max_grad_norm",
    ),
    network=_encoder_network,
    network_keys=tuple(
        f"network.encoder.{key}" for key in ("type", "hidden_sizes", "activation", "features")
    ),
    requires={
        "loss": ("huber", "SB3's DQN always uses the Huber (smooth L1) loss"),
        "double_q": (False, "SB3's DQN has no Double DQN target"),
        "network.head": ("q", "SB3's DQN has no dueling head"),
        "network.encoder.norm": (None, "SB3's MLP policies have no normalisation layers"),
        "network.encoder.dropout": (0.0, "SB3's MLP policies have no dropout"),
        "mixed_precision": (False, "SB3 trains in float32"),
        "target_network": (True, "SB3's DQN always bootstraps from its target network"),
        "exploration_schedule": ("linear", "SB3's DQN decays epsilon linearly"),
        "exploration_decay": (0.995, "SB3's DQN has no exponential epsilon schedule"),
    },
    notes={
        "network.init": "SB3's DQN keeps PyTorch's default layer initialisation",
    },
)

#: The keys :func:`_actor_critic_network` reads (TD3, DDPG, SAC).
_ACTOR_CRITIC_NETWORK_KEYS = (
    "n_critics",
    *(
        f"network.{part}.{key}"
        for part in ("actor", "critic")
        for key in ("type", "hidden_sizes", "activation")
    ),
)

#: The replay and update-schedule keys every continuous off-policy agent passes unchanged.
_OFF_POLICY_DIRECT = (
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "n_steps",
)

_ACTION_NOISE_NOTE = (
    "becomes SB3's NormalActionNoise or OrnsteinUhlenbeckActionNoise on the [-1, 1] action scale"
)

#: gSDE's keys, which SB3's PPO, A2C, RecurrentPPO and SAC take under our names.
_SDE_DIRECT = ("use_sde", "sde_sample_freq")

TD3 = Sb3Algo(
    sb3_class="stable_baselines3.TD3",
    direct=(*_OFF_POLICY_DIRECT, "policy_delay", "target_policy_noise", "target_noise_clip"),
    network=_actor_critic_network,
    network_keys=_ACTOR_CRITIC_NETWORK_KEYS,
    requires={
        "network.init": ("default", "SB3's TD3 keeps PyTorch's default layer initialisation"),
        "mixed_precision": (False, "SB3 trains in float32"),
    },
    notes={"action_noise_std": _ACTION_NOISE_NOTE, "action_noise_type": _ACTION_NOISE_NOTE},
)

#: SB3's DDPG is its TD3 with these settings fixed (stable_baselines3/ddpg/ddpg.py); rl_lab's
#: ddpg is TD3 with the same values (rl_lab.rl.configs.DDPGConfig).
DDPG = Sb3Algo(
    sb3_class="stable_baselines3.DDPG",
    direct=_OFF_POLICY_DIRECT,
    network=_actor_critic_network,
    network_keys=_ACTOR_CRITIC_NETWORK_KEYS,
    requires={
        "policy_delay": (1, "SB3's DDPG updates the actor and the targets on every step"),
        "target_policy_noise": (0.0, "SB3's DDPG has no target policy smoothing"),
        "target_noise_clip": (0.0, "SB3's DDPG has no target policy smoothing"),
        "network.init": ("default", "SB3's DDPG keeps PyTorch's default layer initialisation"),
        "mixed_precision": (False, "SB3 trains in float32"),
    },
    notes={"action_noise_std": _ACTION_NOISE_NOTE, "action_noise_type": _ACTION_NOISE_NOTE},
)

SAC = Sb3Algo(
    sb3_class="stable_baselines3.SAC",
    direct=(
        *_OFF_POLICY_DIRECT,
        "ent_coef",
        "target_entropy",
        "target_update_interval",
        *_SDE_DIRECT,
    ),
    network=_actor_critic_network,
    network_keys=(*_ACTOR_CRITIC_NETWORK_KEYS, "network.log_std_init"),
    requires={
        "mixed_precision": (False, "SB3 trains in float32"),
        "network.init": ("default", "SB3's SAC keeps PyTorch's default layer initialisation"),
    },
    notes={
        "target_update_interval": (
            "SB3 counts it within each training phase (targets move on a phase's first "
            "gradient step and every interval-th after it); rl_lab counts every gradient step "
            "of the run. The two agree when gradient_steps is a multiple of it (e.g. both 1)"
        ),
    },
)

#: The ``network.*`` keys of our actor-critic agents (read by :func:`_on_policy_network`).
_ON_POLICY_NETWORK_KEYS = (
    "network.shared",
    "network.encoder.type",
    "network.encoder.hidden_sizes",
    "network.encoder.activation",
    "network.encoder.features",
    "network.lstm.hidden_size",
    "network.lstm.num_layers",
    "network.init",
    "network.log_std_init",
    "network.squash_output",
)

#: What SB3's actor-critic policies lack, for every on-policy agent.
_ON_POLICY_REQUIRES: dict[str, tuple[Any, str]] = {
    "network.encoder.norm": (None, "SB3's actor-critic policies have no normalisation layers"),
    "network.encoder.dropout": (0.0, "SB3's actor-critic policies have no dropout"),
    "mixed_precision": (False, "SB3 trains in float32"),
}

#: Hyperparameters SB3's PPO and sb3-contrib's RecurrentPPO take under our names.
_PPO_DIRECT = (
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "clip_range_vf",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "target_kl",
    *_SDE_DIRECT,
)

A2C = Sb3Algo(
    sb3_class="stable_baselines3.A2C",
    direct=(
        "n_steps",
        "gamma",
        "gae_lambda",
        "normalize_advantage",
        "ent_coef",
        "vf_coef",
        "max_grad_norm",
        "use_rms_prop",
        "rms_prop_eps",
        *_SDE_DIRECT,
    ),
    network=_on_policy_network,
    network_keys=_ON_POLICY_NETWORK_KEYS,
    requires={
        "recurrent": (False, "SB3 has no recurrent A2C"),
        **_ON_POLICY_REQUIRES,
    },
    vec_normalize=True,
)

PPO = Sb3Algo(
    sb3_class="stable_baselines3.PPO",
    direct=_PPO_DIRECT,
    schedules={**LR_SCHEDULE, "clip_range": "clip_range_schedule"},
    network=_on_policy_network,
    network_keys=_ON_POLICY_NETWORK_KEYS,
    requires={
        "recurrent": (False, "SB3's PPO has no LSTM policy (agent=ppo_lstm impl=sb3 has)"),
        **_ON_POLICY_REQUIRES,
    },
    vec_normalize=True,
)

PPO_LSTM = Sb3Algo(
    sb3_class="sb3_contrib.RecurrentPPO",
    direct=_PPO_DIRECT,
    schedules={**LR_SCHEDULE, "clip_range": "clip_range_schedule"},
    network=_on_policy_network,
    network_keys=_ON_POLICY_NETWORK_KEYS,
    requires={
        "recurrent": (
            True,
            "sb3-contrib's RecurrentPPO always has an LSTM (agent=ppo impl=sb3 has none)",
        ),
        **_ON_POLICY_REQUIRES,
    },
    notes={
        "batch_size": (
            "sb3-contrib cuts each epoch's rollout at a random offset into minibatches of "
            "batch_size transitions, split and padded at env and episode boundaries; rl_lab's "
            "minibatches are whole n_steps-long env sequences (state reset at episode starts)"
        ),
        "network.shared": (
            "with network.shared=true sb3-contrib's critic reads the shared LSTM's output "
            "detached, so the value loss trains neither the LSTM nor the encoder; rl_lab "
            "backpropagates both losses through the shared trunk"
        ),
    },
    vec_normalize=True,
)


def sb3_algo(name: str) -> Sb3Algo:
    """The mapping of ``agent=<name>`` (:data:`rl_lab.agents.AGENTS`), or a ConfigError for an
    unknown agent or one that SB3 has no counterpart of."""
    entry = agent_entry(name)
    if entry.sb3 is None:
        others = ", ".join(sorted(n for n, e in AGENTS.items() if e.sb3 is not None))
        raise ConfigError(
            f"agent={name} has no Stable-Baselines3 counterpart, so it cannot run with "
            f"impl=sb3. Train it with rl_lab's implementation (drop impl=sb3, or impl=rl_lab); "
            f"the agents SB3 also implements are {others}."
        )
    return load(entry.sb3)


def sb3_kwargs(
    algo: Sb3Algo, agent_cfg: DictConfig | Mapping[str, Any], action_dim: int | None = None
) -> dict[str, Any]:
    """SB3 constructor arguments (``policy``, ``policy_kwargs``, ...) for our agent config.

    Besides the constructor's own arguments, ``vec_normalize`` (present only when observations
    or rewards are normalised) holds the keyword arguments of the ``VecNormalize`` to put
    around the training env.

    ``action_dim`` (continuous actions) is needed to build SB3's action-noise object; without
    it ``action_noise`` is left out (enough to validate a config).

    Raises:
        ConfigError: a key has a value SB3 cannot take, or the mapping does not know a key.
    """
    if isinstance(agent_cfg, DictConfig):
        agent_cfg = config_dict(agent_cfg, resolve=True)
    flat = flatten(agent_cfg)
    name = flat.get("name", "<agent>")
    unknown = sorted(set(flat) - algo.covered_keys())
    if unknown:
        raise ConfigError(
            f"agent.{unknown[0]} has no mapping to Stable-Baselines3's {algo.sb3_class} "
            f"(unmapped: {', '.join(unknown)}). Remove the override or run agent={name} with "
            "impl=rl_lab."
        )
    for key, (allowed, why) in algo.requires.items():
        if key in flat and flat[key] != allowed:
            raise ConfigError(
                f"agent.{key}={flat[key]!r} cannot be reproduced with Stable-Baselines3: {why}. "
                f"Use agent.{key}={allowed!r} with impl=sb3, or run agent={name} with "
                "impl=rl_lab only."
            )
    kwargs: dict[str, Any] = {key: flat[key] for key in algo.direct if key in flat}
    if flat.get("train_freq_unit", "step") == "episode" and "train_freq" in kwargs:
        kwargs["train_freq"] = (int(kwargs["train_freq"]), "episode")
    for key, schedule_key in algo.schedules.items():
        value = float(flat[key])
        # SB3 schedules are functions of progress_remaining (1 → 0); linear decays to 0 at the end
        linear = flat.get(schedule_key, "constant") == "linear"
        kwargs[key] = LinearSchedule(value, 0.0, 1.0) if linear else value
    kwargs["policy"], kwargs["policy_kwargs"] = algo.network(flat)
    if algo.vec_normalize and any(flat.get(key, False) for key in VEC_NORMALIZE_KEYS):
        # the same statistics and clipping as rl_lab.rl.normalization (rewards are not clipped)
        kwargs["vec_normalize"] = {
            "norm_obs": bool(flat.get("normalize_obs", False)),
            "norm_reward": bool(flat.get("normalize_reward", False)),
            "gamma": float(flat["gamma"]),
            "clip_obs": OBS_CLIP,
            "clip_reward": np.inf,
            "epsilon": EPSILON,
        }
    if "action_noise_std" in flat and action_dim is not None:
        std = float(flat["action_noise_std"])
        noise_class = (
            OrnsteinUhlenbeckActionNoise
            if flat.get("action_noise_type") == "ornstein-uhlenbeck"
            else NormalActionNoise
        )
        kwargs["action_noise"] = noise_class(np.zeros(action_dim), np.full(action_dim, std))
    return kwargs
