"""The ``rl`` task: build the env and agent from the config, train, evaluate, write results.

``run`` is what ``python -m rl_lab task=rl mode=train|eval`` does (``train`` or
``evaluate_checkpoint``); :func:`validate_config` checks everything (config values, env id)
before any long work starts. The results' ``objective`` is the final greedy evaluation mean.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rl_lab import checkpoint
from rl_lab.baselines.mapping import SB3_ALGOS, sb3_kwargs
from rl_lab.baselines.sb3 import Sb3Agent, Sb3Loop
from rl_lab.config import COMMON_RULES, ENV_RULES, RL_RULES, validate
from rl_lab.errors import ConfigError
from rl_lab.rl.actor_critic import A2C, PPO
from rl_lab.rl.atari import ATARI_RULES, AtariSettings, check_atari_config, is_atari
from rl_lab.rl.dqn import DQN
from rl_lab.rl.envs import check_env_id, env_spaces
from rl_lab.rl.evaluation import Evaluator, greedy_policy, record_episode_gif
from rl_lab.rl.loop import Loop
from rl_lab.rl.normalization import FrozenObsNormalizer
from rl_lab.rl.off_policy import OffPolicyLoop
from rl_lab.rl.on_policy import OnPolicyLoop
from rl_lab.rl.td3 import TD3
from rl_lab.run_dir import write_json
from rl_lab.tracking import Tracker

log = logging.getLogger(__name__)

#: Agents by ``agent.name``. Each class has ``RULES`` (per-value validation), ``check_config(cfg)``
#: (cross-field checks), ``LOOP`` (a key of ``LOOPS``) and ``LOOP_KEYS`` (the ``cfg.agent`` keys
#: its loop reads, which are not passed to the agent's constructor).
#: ``ppo_lstm`` is PPO with ``recurrent: true`` (conf/agent/ppo_lstm.yaml).
AGENTS: dict[str, type] = {"dqn": DQN, "td3": TD3, "a2c": A2C, "ppo": PPO, "ppo_lstm": PPO}

#: Training loops by kind of learning; every agent of a kind shares its loop.
LOOPS: dict[str, type[Loop]] = {
    "sb3": Sb3Loop,
    "off_policy": OffPolicyLoop,
    "on_policy": OnPolicyLoop,
}


def agent_class(name: str) -> type:
    """The agent class for ``agent.name``, or a ConfigError listing the available agents."""
    if name in SB3_ALGOS:
        return Sb3Agent
    try:
        return AGENTS[name]
    except KeyError:
        available = ", ".join(sorted([*AGENTS, *SB3_ALGOS]))
        raise ConfigError(
            f"Unknown agent '{name}'. Available agents: {available}. "
            "Choose one with `agent=<name>`."
        ) from None


def config_class(name: str) -> type:
    """The rl_lab agent class whose hyperparameters ``agent=<name>`` uses (its RULES, checks)."""
    return AGENTS[SB3_ALGOS[name].ours] if name in SB3_ALGOS else agent_class(name)


def validate_config(cfg: DictConfig) -> None:
    """All checks of an RL run's config: values, cross-field constraints and the env id."""
    validate(cfg, COMMON_RULES + RL_RULES + ENV_RULES)
    cls = config_class(cfg.agent.name)
    validate(cfg, cls.RULES)
    cls.check_config(cfg)
    if cfg.agent.name in SB3_ALGOS:
        sb3_kwargs(SB3_ALGOS[cfg.agent.name], cfg.agent)  # raises on what SB3 cannot take
    check_env_id(cfg.env.id)
    if is_atari(cfg.env.id):
        AtariSettings.from_config(cfg.env)  # a clear error when env.atari is missing
        validate(cfg, ATARI_RULES)
        check_atari_config(cfg)
    if cfg.mode == "train":
        env_spaces(cfg.env)  # gymnasium accepts the env's settings (env.kwargs) before any work
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


def build_agent(cfg: DictConfig, observation_space: Any, action_space: Any, device: str) -> Any:
    """Instantiate ``cfg.agent`` for the given spaces (loop-level keys are left to the loop)."""
    cls = agent_class(cfg.agent.name)
    if hasattr(cls, "from_run_config"):  # agents that build their own envs (SB3 baselines)
        return cls.from_run_config(cfg, device)
    kwargs = OmegaConf.to_container(cfg.agent, resolve=True)
    for key in ("name", *cls.LOOP_KEYS):
        kwargs.pop(key, None)
    return cls(
        observation_space, action_space, total_steps=cfg.total_steps, device=device, **kwargs
    )


def run(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=train`` (or resume a run with ``resume=true``) or ``mode=eval``."""
    if cfg.mode == "eval":
        return evaluate_checkpoint(cfg, run_dir, device)
    return train(cfg, run_dir, device, resume=bool(cfg.resume))


def train(cfg: DictConfig, run_dir: Path, device: str, resume: bool = False) -> dict[str, Any]:
    """Train an agent, evaluate it, and write ``results.json``; returns the results."""
    resume_payload = None
    last = run_dir / "checkpoints" / "last.pt"
    if resume:
        resume_payload = checkpoint.load(last, kind="rl")
    torch.manual_seed(cfg.seed)

    agent = build_agent(cfg, *env_spaces(cfg.env), device)

    purge_step = resume_payload["loop"]["env_steps"] if resume_payload else None
    tracker = Tracker(run_dir / "tb", purge_step=purge_step)
    if not resume:
        tracker.config(cfg)
    loop = LOOPS[agent_class(cfg.agent.name).LOOP](
        agent, cfg, run_dir, tracker, resume_from=resume_payload
    )
    if resume_payload:
        log.info("Resuming from %s at env step %s", last, f"{loop.state.env_steps:,}")
    results_path = run_dir / "results.json"
    try:
        state = loop.run()
        final = Evaluator(cfg.env, cfg.eval.final_episodes, cfg.eval.seed)
        result = final.evaluate(loop.eval_policy(cfg.eval.final_episodes))
        final.close()
        loop.record_eval(result.mean_return, result.std_return, result.lengths)
        loop.save_checkpoint("last.pt")
        state.wall_time_s = loop.state.wall_time_s  # includes the final evaluation
        results = {
            "status": "completed",
            "task": "rl",
            "agent": cfg.agent.name,
            "env": cfg.env.id,
            "seed": cfg.seed,
            "env_steps": state.env_steps,
            "episodes": state.episodes,
            "gradient_steps": agent.updates,
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
            "device": device,
        }
        if hasattr(agent, "mapping_notes"):  # SB3 baselines: what no option can make equal
            results["sb3_notes"] = agent.mapping_notes
        tracker.hparams(cfg, {"eval/final_mean_return": result.mean_return})
        if cfg.record_video:
            gif = record_episode_gif(
                cfg.env, loop.eval_policy(1), run_dir / "videos" / "eval_episode.gif", cfg.eval.seed
            )
            results["video"] = str(gif.relative_to(run_dir))
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
        "agent": saved.agent.name,
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
