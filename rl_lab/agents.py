"""Every agent of ``agent=<name>`` and the two implementations that can train it (``impl=``).

``impl=rl_lab`` (the default) trains rl_lab's own agent; ``impl=sb3`` trains the
Stable-Baselines3 (or sb3-contrib) algorithm with the same config: the same typed agent config
(:mod:`rl_lab.rl.configs`),
the same (agent, env) preset, mapped one to one by :mod:`rl_lab.baselines.mapping`.

Like ``rl_lab.app.TASKS``, entries are import paths (``"module:attribute"``) imported on use:
a run imports only the implementation it trains with (an ``impl=rl_lab`` run never loads
Stable-Baselines3), and ``rl_lab.rl`` never imports ``rl_lab.baselines``, the layer that wraps
it. This module itself imports nothing of either, so Hydra's config source can use it early.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rl_lab.errors import ConfigError


@dataclass(frozen=True)
class AgentEntry:
    """One agent and its implementations, as ``"module:attribute"`` import paths.

    Args:
        rl_lab: the rl_lab agent class. Its ``check_config`` checks the agent's config across
            fields for both implementations (each field's own rule comes from the agent's
            config class, :data:`rl_lab.rl.configs.AGENT_CONFIGS`); its ``LOOP`` says which
            loop trains it (``impl=rl_lab``).
        sb3: the :class:`~rl_lab.baselines.mapping.Sb3Algo` that maps the same config onto
            Stable-Baselines3 (``impl=sb3``); ``None`` when SB3 has no counterpart.
    """

    rl_lab: str
    sb3: str | None = None


#: Agents by ``agent.name`` (:data:`rl_lab.rl.configs.AGENT_CONFIGS`). ``ppo_lstm`` is PPO with
#: ``recurrent: true``, which SB3 has only as sb3-contrib's RecurrentPPO; ``ddpg`` is TD3 with
#: one critic, no policy delay and no target smoothing, as SB3's DDPG is its TD3; SB3 has no
#: REINFORCE.
AGENTS: dict[str, AgentEntry] = {
    "dqn": AgentEntry("rl_lab.rl.dqn:DQN", "rl_lab.baselines.mapping:DQN"),
    "td3": AgentEntry("rl_lab.rl.td3:TD3", "rl_lab.baselines.mapping:TD3"),
    "ddpg": AgentEntry("rl_lab.rl.td3:TD3", "rl_lab.baselines.mapping:DDPG"),
    "sac": AgentEntry("rl_lab.rl.sac:SAC", "rl_lab.baselines.mapping:SAC"),
    "a2c": AgentEntry("rl_lab.rl.actor_critic:A2C", "rl_lab.baselines.mapping:A2C"),
    "ppo": AgentEntry("rl_lab.rl.actor_critic:PPO", "rl_lab.baselines.mapping:PPO"),
    "ppo_lstm": AgentEntry("rl_lab.rl.actor_critic:PPO", "rl_lab.baselines.mapping:PPO_LSTM"),
    "reinforce": AgentEntry("rl_lab.rl.reinforce:REINFORCE"),
}


@dataclass(frozen=True)
class Impl:
    """One value of ``impl``.

    Args:
        trainer: the object that validates, builds and trains an agent this way (an
            :class:`~rl_lab.rl.task.Implementation`), as ``"module:attribute"``.
        label_prefix: put before ``agent.name`` wherever runs are told apart: the ``agent`` of
            ``results.json`` and reports, and the run directory's name (``task.impl_prefix``
            in conf/task/rl.yaml says the same).
    """

    trainer: str
    label_prefix: str


#: Implementations by ``impl``; the first is the default (conf/task/rl.yaml).
IMPLS: dict[str, Impl] = {
    "rl_lab": Impl("rl_lab.rl.task:RL_LAB", ""),
    "sb3": Impl("rl_lab.baselines.sb3:SB3", "sb3_"),
}

#: What ``agent=sb3_<name>`` meant before ``impl`` existed.
RETIRED_PREFIX = "sb3_"


def load(path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def retired_name(name: str) -> str | None:
    """``sb3_dqn`` → ``dqn``: the agent a retired ``agent=sb3_<name>`` spelling meant, else
    ``None`` (also for agents SB3 has no counterpart of: they never had one)."""
    base = name.removeprefix(RETIRED_PREFIX)
    if not name.startswith(RETIRED_PREFIX) or base not in AGENTS:
        return None
    return base if AGENTS[base].sb3 is not None else None


def retired_message(name: str) -> str:
    """The paragraph that answers the retired spelling ``agent=<name>`` (``agent=sb3_dqn``)."""
    base = retired_name(name)
    return (
        f"agent={name} is now spelled `agent={base} impl=sb3`: `impl` picks who trains the agent "
        f"(rl_lab | sb3), with agent={base}'s hyperparameters and its tuned (agent, env) presets "
        f"either way. Run `python -m rl_lab agent={base} impl=sb3 ...` (results and run "
        f"directories still name it {IMPLS['sb3'].label_prefix}{base})."
    )


def agent_entry(name: str) -> AgentEntry:
    """The registry entry of ``agent.name``, or a ConfigError listing the available agents (or
    naming the new spelling of a retired ``sb3_<agent>``)."""
    if name in AGENTS:
        return AGENTS[name]
    if retired_name(name) is not None:
        raise ConfigError(retired_message(name))
    raise ConfigError(
        f"Unknown agent '{name}'. Available agents: {', '.join(sorted(AGENTS))}. Choose one with "
        "`agent=<name>` (and `impl=sb3` for Stable-Baselines3's implementation)."
    )


def agent_label(name: str, impl: str) -> str:
    """How results, reports and run directories name ``agent=<name>`` trained by ``impl``
    (``dqn``, ``sb3_dqn``)."""
    return IMPLS[impl].label_prefix + name
