"""The ``rl`` task: build the env and agent from the config, train, evaluate, write results.

``run`` is what ``python -m rl_lab task=rl mode=train|eval`` does (``train`` or
``evaluate_checkpoint``); :func:`validate_config` checks everything (config values, env id)
before any long work starts. The results' ``objective`` is the final greedy evaluation mean.

Who trains the agent is the root key ``impl`` (conf/task/rl.yaml): an :class:`Implementation`
from :data:`rl_lab.agents.IMPLS`, imported on use. ``impl=rl_lab`` is :data:`RL_LAB` below (our
agents and loops); ``impl=sb3`` lives in :mod:`rl_lab.baselines.sb3`, which builds on this
package, never the reverse.
"""

from __future__ import annotations

import difflib
import functools
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rl_lab import checkpoint
from rl_lab.agents import IMPLS, agent_entry, agent_label, load, retired_name
from rl_lab.config import (
    COMMON_RULES,
    CommonConfig,
    Rule,
    add_missing_settings,
    build_config,
    rules_of,
    schema,
    unknown_fields,
    validate,
)
from rl_lab.config_dict import CONF_DIR, config_dict
from rl_lab.errors import ConfigError
from rl_lab.rl.atari import check_atari_config, is_atari
from rl_lab.rl.configs import (
    AGENT_CONFIGS,
    ATARI_RULES,
    ENV_RULES,
    RL_RULES,
    AtariSettings,
    RLRunConfig,
)
from rl_lab.rl.envs import check_env_id, env_spaces
from rl_lab.rl.evaluation import Evaluator, greedy_policy, record_episode_gif
from rl_lab.rl.loop import Loop
from rl_lab.rl.normalization import FrozenObsNormalizer
from rl_lab.rl.off_policy import OffPolicyLoop
from rl_lab.rl.on_policy import EpisodeLoop, OnPolicyLoop
from rl_lab.run_dir import write_json
from rl_lab.tracking import VIDEO_TAG, Tracker

log = logging.getLogger(__name__)

#: ``impl`` (conf/task/rl.yaml); its choices are the registry's, so the rule lives beside the
#: code that dispatches on it.
IMPL_RULES: tuple[Rule, ...] = (Rule("impl", str, choices=tuple(IMPLS)),)

#: Training loops of rl_lab's agents by kind of learning (an agent class's ``LOOP``); every
#: agent of a kind shares its loop. ``episodes`` is the on-policy loop with whole-episode
#: rollouts (Monte-Carlo returns).
LOOPS: dict[str, type[Loop]] = {
    "off_policy": OffPolicyLoop,
    "on_policy": OnPolicyLoop,
    "episodes": EpisodeLoop,
}


class Implementation(Protocol):
    """Who trains ``agent=<name>`` (one value of ``impl``): builds the agent and its loop from
    the same run config. The agent's own config checks (its config class's rules and its
    rl_lab class's ``check_config``) apply to every implementation before :meth:`check_config`."""

    def check_config(self, cfg: DictConfig) -> None:
        """Raise a ConfigError for what this implementation cannot run (the config's values
        are already valid for the agent)."""

    def build_agent(
        self, cfg: DictConfig, observation_space: Any, action_space: Any, device: str
    ) -> Any:
        """The agent for ``cfg`` (``predict``, ``state_dict``, ``updates``, ``charts``, ...)."""

    def loop_class(self, cfg: DictConfig) -> type[Loop]:
        """The loop that trains the agent built by :meth:`build_agent`."""

    def extra_results(self, agent: Any) -> dict[str, Any]:
        """Entries this implementation adds to a training run's ``results.json``."""


class AgentClass(Protocol):
    """What the task needs of an rl_lab agent class before any agent exists."""

    #: The loop of the agent's kind, a key of :data:`LOOPS`.
    LOOP: str

    def __call__(
        self, observation_space: Any, action_space: Any, config: Any, **kwargs: Any
    ) -> Any:
        """The agent."""

    def check_config(self, cfg: DictConfig) -> None:
        """Raise a ConfigError for values that are valid alone but not together."""


def agent_class(name: str) -> AgentClass:
    """The rl_lab agent class of ``agent.name`` (imported on use), whose ``check_config``
    checks the agent's config across fields; a ConfigError lists the available agents."""
    cls: AgentClass = load(agent_entry(name).rl_lab)
    return cls


@functools.cache
def agent_rules(name: str) -> tuple[Rule, ...]:
    """The rules of every ``agent.*`` key of ``agent=<name>``, from its config class."""
    return rules_of(AGENT_CONFIGS[name], "agent")


class RlLabImplementation:
    """``impl=rl_lab``: rl_lab's own agent class, trained by the loop of its kind."""

    def check_config(self, cfg: DictConfig) -> None:
        """Nothing beyond the agent's own checks."""

    def build_agent(
        self, cfg: DictConfig, observation_space: Any, action_space: Any, device: str
    ) -> Any:
        """The agent class with its typed config, built from ``cfg.agent``."""
        cls = agent_class(cfg.agent.name)
        config = build_config(AGENT_CONFIGS[cfg.agent.name], cfg.agent)
        return cls(
            observation_space, action_space, config, total_steps=cfg.total_steps, device=device
        )

    def loop_class(self, cfg: DictConfig) -> type[Loop]:
        """The shared loop of the agent's kind (off- or on-policy)."""
        return LOOPS[agent_class(cfg.agent.name).LOOP]

    def extra_results(self, agent: Any) -> dict[str, Any]:
        """Nothing beyond the common results."""
        return {}


#: ``impl=rl_lab`` (named in rl_lab.agents.IMPLS).
RL_LAB = RlLabImplementation()


def implementation(cfg: DictConfig) -> Implementation:
    """The :class:`Implementation` of ``cfg.impl`` (imported on use)."""
    return load(IMPLS[cfg.impl].trainer)


def upgrade_saved_config(cfg: DictConfig) -> None:
    """Give a config saved by an older rl_lab (resume, ``mode=eval`` of an older run) the keys
    added since, at their defaults (which keep the older behaviour: ``eval.select=last``, the
    agents' new settings), and ``impl``: its ``agent.name=sb3_<agent>`` meant ``agent=<agent>
    impl=sb3``, any other run was rl_lab's. Configs composed now have them all (a retired name
    is then refused)."""
    # the run keys added since (eval.select: the runs before it kept their last policy)
    add_missing_settings(cfg, "", RLRunConfig)
    add_missing_settings(cfg, "", CommonConfig)  # e.g. `format`, added with mode=export
    if "impl" not in cfg:
        base = retired_name(str(OmegaConf.select(cfg, "agent.name")))
        with open_dict(cfg):
            cfg.impl = "sb3" if base is not None else "rl_lab"
            if base is not None:
                cfg.agent.name = base
    add_new_agent_settings(cfg)


def add_new_agent_settings(cfg: DictConfig) -> None:
    """Give a saved agent config the settings its agent gained since it was written
    (:func:`~rl_lab.config.add_missing_settings`)."""
    name = OmegaConf.select(cfg, "agent.name")
    if name in AGENT_CONFIGS:
        add_missing_settings(cfg, "agent", AGENT_CONFIGS[name])


#: The action spaces each agent acts in: ``Discrete``, ``MultiDiscrete`` (1-D: independent
#: categoricals) and ``Box`` (1-D for the actor-critic family's Gaussian head). Anything else
#: is refused before work starts.
ACTION_SPACES: dict[str, tuple[str, ...]] = {
    "dqn": ("Discrete",),
    "td3": ("Box",),
    "ddpg": ("Box",),
    "sac": ("Box",),
    "a2c": ("Discrete", "MultiDiscrete", "1-D Box"),
    "ppo": ("Discrete", "MultiDiscrete", "1-D Box"),
    "ppo_lstm": ("Discrete", "MultiDiscrete", "1-D Box"),
    "reinforce": ("Discrete", "MultiDiscrete", "1-D Box"),
}


def _kind(space: Any) -> str | None:
    if isinstance(space, gym.spaces.Discrete):
        return "Discrete"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return "MultiDiscrete" if space.nvec.ndim == 1 else None
    if isinstance(space, gym.spaces.Box):
        return "1-D Box" if len(space.shape) == 1 else "Box"
    return None


def _accepts(kinds: tuple[str, ...], kind: str | None) -> bool:
    # a 1-D Box is a Box too
    return kind is not None and (kind in kinds or (kind == "1-D Box" and "Box" in kinds))


def check_action_space(agent: str, env_id: str, space: Any) -> None:
    """Raise a ConfigError naming the agents that can act in ``space`` unless ``agent`` can."""
    kind = _kind(space)
    accepted = ACTION_SPACES.get(agent, ())
    if _accepts(accepted, kind):
        return
    able = [name for name, kinds in ACTION_SPACES.items() if _accepts(kinds, kind)]
    others = f"Agents for it: {', '.join(able)}." if able else "No rl_lab agent acts in it."
    raise ConfigError(
        f"agent={agent} cannot act in {env_id}'s action space {space}: {agent} takes "
        f"{' or '.join(accepted) or 'no'} actions. {others} Choose one with agent=NAME, or "
        "another env."
    )


def validate_config(cfg: DictConfig) -> None:
    """All checks of an RL run's config: values, cross-field constraints and the env id."""
    upgrade_saved_config(cfg)
    validate(cfg, COMMON_RULES + RL_RULES + IMPL_RULES + ENV_RULES)
    cls = agent_class(cfg.agent.name)
    check_agent_keys(cfg)
    validate(cfg, agent_rules(cfg.agent.name))
    cls.check_config(cfg)
    implementation(cfg).check_config(cfg)
    check_env_id(cfg.env.id)
    if is_atari(cfg.env.id):
        AtariSettings.from_config(cfg.env)  # a clear error when env.atari is missing
        validate(cfg, ATARI_RULES)
        check_atari_config(cfg)
    if cfg.mode == "train":
        # gymnasium accepts the env's settings (env.kwargs), and the agent its spaces
        check_action_space(cfg.agent.name, cfg.env.id, env_spaces(cfg.env)[1])
    preset_env = (cfg.get("tuned_preset") or "").partition("/")[2]
    atari_preset = preset_env == "ALE/atari" and is_atari(cfg.env.id)  # one for every game
    if preset_env and preset_env != cfg.env.id and not atari_preset:
        log.warning(
            "The tuned preset %s was applied, but env.id=%s: its hyperparameters were tuned for "
            "%s. Select the env with env=%s to get its own preset (or the agent's defaults).",
            cfg.tuned_preset,
            cfg.env.id,
            preset_env,
            cfg.env.id,
        )


def check_agent_keys(cfg: DictConfig) -> None:
    """Refuse keys under ``agent`` that the agent's config class does not declare: typed ones
    are caught when composed, but a config group merged into the agent node (``encoder=``) can
    bring keys one agent has and another has not."""
    name = cfg.agent.name
    unknown = unknown_fields(AGENT_CONFIGS[name], config_dict(cfg.agent, resolve=False), "agent")
    if not unknown:
        return
    hint = ""
    if "agent.network.encoder" in unknown:
        networks = {agent: schema(config)["network"] for agent, config in AGENT_CONFIGS.items()}
        with_encoder = [agent for agent, network in networks.items() if "encoder" in network]
        own = [f"agent.network.{k}" for k, v in networks[name].items() if isinstance(v, dict)]
        hint = (
            f" An encoder option (encoder=nature_cnn) sets agent.network.encoder, which only "
            f"{', '.join(with_encoder)} have; agent={name}'s networks are {', '.join(own)}."
            " Drop the encoder option, or set the type of those networks."
        )
    raise ConfigError(
        f"agent={name} has no setting {', '.join(f'`{k}`' for k in unknown)}.{hint} "
        f"`python -m rl_lab.schema agent={name}` lists every key it has."
    )


def build_agent(cfg: DictConfig, observation_space: Any, action_space: Any, device: str) -> Any:
    """The agent of ``cfg.agent``, built by the implementation ``cfg.impl`` for the spaces."""
    return implementation(cfg).build_agent(cfg, observation_space, action_space, device)


def check_same_impl(cfg: DictConfig, payload: dict[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint with another ``impl`` than the one that wrote it: the two
    implementations save different agent states."""
    saved = OmegaConf.create(payload.get("config") or {})
    upgrade_saved_config(saved)
    if saved.impl != cfg.impl:
        raise ConfigError(
            f"Cannot change `impl` when resuming: {path} was trained with impl={saved.impl}. "
            f"Drop `impl={cfg.impl}`, or start a new run in another directory."
        )


def run(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=train`` (or resume a run with ``resume=true``) or ``mode=eval``."""
    if cfg.mode == "eval":
        return evaluate_checkpoint(cfg, run_dir, device)
    return train(cfg, run_dir, device, resume=bool(cfg.resume))


#: Where the (agent, env) presets live: conf/preset/<agent>/<env id>.yaml.
PRESET_DIR = CONF_DIR / "preset"


def available_presets() -> dict[str, list[str]]:
    """The env ids with a tuned preset, by agent (the Atari preset as ``ALE/atari``)."""
    found: dict[str, list[str]] = {}
    for path in sorted(PRESET_DIR.glob("*/**/*.yaml")):
        agent, *env = path.relative_to(PRESET_DIR).with_suffix("").parts
        if not agent.startswith("_"):
            found.setdefault(agent, []).append("/".join(env))
    return found


def preset_message(cfg: DictConfig) -> tuple[int, str]:
    """The log level and line that say which tuned preset the run applied, or that none exists
    for its (agent, env) and which ones are nearest."""
    agent, env = str(cfg.agent.name), str(cfg.env.id)
    if cfg.get("tuned_preset"):
        return logging.INFO, (
            f"Tuned preset {cfg.tuned_preset} applied (conf/preset/{cfg.tuned_preset}.yaml); "
            "command-line values override it."
        )
    presets = available_presets()
    mine = presets.get(agent, [])
    if env in mine or (is_atari(env) and "ALE/atari" in mine):
        return logging.INFO, (
            f"The tuned preset of agent={agent} on {env} is not applied (an experiment or "
            "`~preset` turned it off): the run uses the agent's defaults and its own settings."
        )
    near = difflib.get_close_matches(env, mine, n=3, cutoff=0.3) or mine[:3]
    others = sorted(a for a, envs in presets.items() if env in envs and a != agent)
    return logging.WARNING, (
        f"No tuned preset exists for agent={agent} on {env}: the agent's defaults are used "
        f"(`python -m rl_lab.schema agent={agent}` lists them), which are not tuned for this env. "
        + (f"Nearest presets of {agent}: {', '.join(near)}. " if near else "")
        + (f"Agents with a preset for {env}: {', '.join(others)}." if others else "")
    )


def held_out_seed(cfg: DictConfig) -> int:
    """The seed of the first final-evaluation episode that no periodic evaluation played
    (periodic episode ``i`` is reset with ``eval.seed + i``): a policy picked or stopped by the
    periodic evaluations is scored from here on."""
    return int(cfg.eval.seed) + int(cfg.eval.episodes)


def train(cfg: DictConfig, run_dir: Path, device: str, resume: bool = False) -> dict[str, Any]:
    """Train an agent, evaluate it, and write ``results.json``; returns the results."""
    log.log(*preset_message(cfg))
    resume_payload = None
    last = run_dir / "checkpoints" / "last.pt"
    if resume:
        resume_payload = checkpoint.load(last, kind="rl")
        check_same_impl(cfg, resume_payload, last)
    torch.manual_seed(cfg.seed)

    trainer = implementation(cfg)
    agent = trainer.build_agent(cfg, *env_spaces(cfg.env), device)

    purge_step = resume_payload["loop"]["env_steps"] if resume_payload else None
    tracker = Tracker(run_dir / "tb", purge_step=purge_step)
    if not resume:
        tracker.config(cfg)
    tracker.returns_chart(
        check_env_id(cfg.env.id).reward_threshold, purge_step or 0, int(cfg.total_steps)
    )
    loop = trainer.loop_class(cfg)(agent, cfg, run_dir, tracker, resume_from=resume_payload)
    if resume_payload:
        log.info("Resuming from %s at env step %s", last, f"{loop.state.env_steps:,}")
    results_path = run_dir / "results.json"
    try:
        state = loop.run()
        updates = agent.updates  # of the training (select=best loads best.pt's agent below)
        if cfg.eval.select == "best":
            result, selection = final_eval_of_best(cfg, loop, agent, run_dir)
        else:
            # a run stopped by eval.stop_at is scored on other episodes than those that stopped it
            seed = held_out_seed(cfg) if state.stopped_early_at is not None else int(cfg.eval.seed)
            final = Evaluator(cfg.env, cfg.eval.final_episodes, seed)
            result = final.evaluate(loop.eval_policy(cfg.eval.final_episodes))
            final.close()
            loop.record_eval(result.mean_return, result.std_return, result.lengths)
            loop.save_checkpoint("last.pt")
            selection = None
        state.wall_time_s = loop.state.wall_time_s  # includes the final evaluation
        results = {
            "status": "completed",
            "task": "rl",
            "agent": agent_label(cfg.agent.name, cfg.impl),
            "impl": cfg.impl,
            "env": cfg.env.id,
            "seed": cfg.seed,
            "env_steps": state.env_steps,
            "episodes": state.episodes,
            "gradient_steps": updates,
            "wall_time_s": state.wall_time_s,
            "sps": state.env_steps / max(state.wall_time_s, 1e-9),
            "reward_threshold": check_env_id(cfg.env.id).reward_threshold,
            "eval": result.as_dict(),
            "objective": result.mean_return,
            "best_eval": {
                "mean_return": state.best_eval_return,
                "checkpoint": "checkpoints/best.pt",
            },
            "eval_history": state.eval_history,
            "stopped_early_at": state.stopped_early_at,
            "device": device,
            "preset": cfg.get("tuned_preset"),
        }
        if selection is not None:
            results["selection"] = selection
        results.update(trainer.extra_results(agent))
        tracker.hparams(cfg, {"eval/final_mean_return": result.mean_return})
        if cfg.record_video:
            gif = record_episode_gif(
                cfg.env, loop.eval_policy(1), run_dir / "videos" / "eval_episode.gif", cfg.eval.seed
            )
            results["video"] = str(gif.relative_to(run_dir))
            tracker.video(VIDEO_TAG, gif, state.env_steps)
        write_json(results_path, results)
        log.info(
            "Final greedy evaluation over %d episodes: %.1f ± %.1f (%s env steps, %.0f s)",
            len(result.returns),
            result.mean_return,
            result.std_return,
            f"{state.env_steps:,}",
            state.wall_time_s,
        )
        return results
    finally:
        loop.close()
        tracker.close()


def final_eval_of_best(
    cfg: DictConfig, loop: Loop, agent: Any, run_dir: Path
) -> tuple[Any, dict[str, Any]]:
    """``eval.select=best``: the final policy is ``best.pt``, the best of the periodic
    evaluations (the last policy competes too, on the same episodes), scored on
    ``eval.final_episodes`` episodes disjoint from the ones it was picked on (seeds from
    ``eval.seed + eval.episodes`` on). ``last.pt`` keeps the last policy, for resuming."""
    # the last policy, on the selection episodes (not through periodic_eval: training is over,
    # so no evaluation hook, e.g. a search's pruner, should see this one)
    last_policy = loop.evaluator.evaluate(loop.eval_policy(loop.evaluator.episodes))
    loop.record_eval(last_policy.mean_return, last_policy.std_return, last_policy.lengths)
    loop.save_checkpoint("last.pt")
    best_path = run_dir / "checkpoints" / "best.pt"
    best = checkpoint.load(best_path, kind="rl")
    agent.load_state_dict(best["agent"])
    normalizer = FrozenObsNormalizer.from_state(best.get("normalization"))
    final_seed = held_out_seed(cfg)
    final = Evaluator(cfg.env, cfg.eval.final_episodes, final_seed)
    try:
        result = final.evaluate(greedy_policy(agent, cfg.eval.final_episodes, normalizer))
    finally:
        final.close()
    selection = {
        "policy": "best",
        "checkpoint": "checkpoints/best.pt",
        "env_steps": int(best["loop"]["env_steps"]),
        "selection_mean_return": float(loop.state.best_eval_return),
        "selection_episodes": int(cfg.eval.episodes),
        "final_seed": final_seed,
    }
    log.info(
        "Final policy: best.pt (env step %s, %.1f on the selection episodes); scored on %d "
        "other episodes (seeds from %d)",
        f"{selection['env_steps']:,}",
        selection["selection_mean_return"],
        cfg.eval.final_episodes,
        final_seed,
    )
    return result, selection


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=eval``: evaluate a saved agent for ``cfg.episodes`` greedy episodes."""
    if not cfg.checkpoint:
        raise ConfigError(
            "mode=eval needs a checkpoint: pass `checkpoint=outputs/.../checkpoints/best.pt` "
            "(or last.pt) of a training run."
        )
    path = Path(cfg.checkpoint)
    payload = checkpoint.load(path, kind="rl")
    saved = OmegaConf.create(payload["config"])
    validate_config(saved)
    agent = build_agent(saved, *env_spaces(saved.env), device)
    agent.load_state_dict(payload["agent"])
    started = time.perf_counter()
    # observations as the agent saw them in training (frozen stats; None when not normalised)
    normalizer = FrozenObsNormalizer.from_state(payload.get("normalization"))
    evaluator = Evaluator(saved.env, cfg.episodes, cfg.eval.seed)
    result = evaluator.evaluate(greedy_policy(agent, cfg.episodes, normalizer))
    evaluator.close()
    results = {
        "status": "completed",
        "task": "rl",
        "mode": "eval",
        "checkpoint": str(path.resolve()),
        "agent": agent_label(saved.agent.name, saved.impl),
        "impl": saved.impl,
        "env": saved.env.id,
        "seed": saved.seed,
        "env_steps": payload["loop"]["env_steps"],
        "wall_time_s": time.perf_counter() - started,
        "reward_threshold": check_env_id(saved.env.id).reward_threshold,
        "eval": result.as_dict(),
        "objective": result.mean_return,
    }
    if cfg.record_video:
        gif = record_episode_gif(
            saved.env,
            greedy_policy(agent, 1, normalizer),
            run_dir / "videos" / "eval_episode.gif",
            cfg.eval.seed,
        )
        results["video"] = str(gif.relative_to(run_dir))
    write_json(run_dir / "results.json", results)
    log.info(
        "Evaluated %s over %d episodes: %.1f ± %.1f",
        path,
        len(result.returns),
        result.mean_return,
        result.std_return,
    )
    return results
