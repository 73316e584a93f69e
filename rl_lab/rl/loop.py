"""What every RL training loop shares: counters, RNG state, checkpoints, evaluation, logging.

A loop subclasses :class:`Loop` and implements :meth:`Loop.run` (how experience is collected
and when the agent learns); everything around that is here, so the off-policy and on-policy
loops differ only in their own lines.

An agent plugged into a loop is a :class:`LoopAgent` (agents with memory also provide
``predict_fn(n_envs)``, see :func:`~rl_lab.rl.evaluation.greedy_policy`), plus what its loop asks
for (:class:`~rl_lab.rl.off_policy.OffPolicyAgent`, :class:`~rl_lab.rl.on_policy.OnPolicyAgent`).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rl_lab import checkpoint
from rl_lab.rl.envs import make_vec_env
from rl_lab.rl.evaluation import Evaluator, Policy, greedy_policy
from rl_lab.signals import GracefulStop
from rl_lab.tracking import Tracker
from rl_lab.training import capture_rng, check_finite, interruption, restore_rng

log = logging.getLogger(__name__)


#: Called as ``hook(env_steps, mean_return)`` after every periodic evaluation (not the final
#: one, which the task makes once training has ended), in the order added. A hook may raise an
#: :class:`~rl_lab.errors.RLLabError` to stop the run there: ``python -m rl_lab.tune`` adds one
#: that reports to the Optuna trial and raises :class:`~rl_lab.errors.RunPrunedError` when the
#: pruner says so. Process-wide: add a hook for one run and remove it afterwards.
EVAL_HOOKS: list[Callable[[int, float], None]] = []


class LoopAgent(Protocol):
    """What every loop asks of its agent."""

    @property
    def updates(self) -> int:
        """Gradient steps taken so far."""
        ...

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations."""
        ...

    def charts(self, env_step: int) -> dict[str, float]:
        """Scalars to log now (learning rate, exploration, ...)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint must hold to restore the agent."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        ...


@dataclass
class LoopState:
    """Counters and history of a training run; saved in every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    wall_time_s: float = 0.0
    best_eval_return: float = -math.inf
    eval_history: list[dict[str, float]] = field(default_factory=list)
    #: env steps at which a periodic evaluation reached ``eval.stop_at`` (training ends there)
    stopped_early_at: int | None = None


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in ``(before, after]`` (``every <= 0``: never)."""
    return every > 0 and after // every > before // every


#: Advice of the divergence error (:func:`~rl_lab.training.check_finite`).
DIVERGENCE_ADVICE = (
    "Lower agent.learning_rate, keep agent.max_grad_norm small, or check the env's "
    "rewards/observations for NaN or huge values."
)


class Loop:
    """Base of the training loops: trains ``agent`` on ``cfg.env`` for ``cfg.total_steps``.

    Args:
        agent: the agent.
        cfg: the resolved run config (``agent``, ``env``, ``eval``, ``checkpointing``, ...).
        run_dir: the run directory; checkpoints go to ``run_dir/checkpoints``.
        tracker: TensorBoard writer of the run.
        resume_from: a loaded ``last.pt`` payload to continue from, if any.
    """

    def __init__(
        self,
        agent: LoopAgent,
        cfg: DictConfig,
        run_dir: Path,
        tracker: Tracker,
        resume_from: dict[str, Any] | None = None,
    ) -> None:
        self.agent = agent
        self.cfg = cfg
        self.run_dir = run_dir
        self.tracker = tracker
        self.ckpt_dir = run_dir / "checkpoints"
        self.envs = self.make_envs()
        self.num_envs = self.envs.num_envs
        self.rng = np.random.default_rng(cfg.seed)
        self.state = LoopState()
        self.evaluator = Evaluator(cfg.env, cfg.eval.episodes, cfg.eval.seed, native=True)
        self._recent_returns: deque[float] = deque(maxlen=20)
        self._reset_seed = cfg.seed
        # plain ints: read on every step, and DictConfig access costs microseconds
        self._total = int(cfg.total_steps)
        self._log_freq, self._eval_freq = int(cfg.logging.log_freq), int(cfg.eval.freq)
        self._checkpoint_freq = int(cfg.checkpointing.freq)
        stop_at = cfg.eval.get("stop_at")
        self._stop_at = None if stop_at is None else float(stop_at)
        if resume_from is not None:
            self._restore(resume_from)

    def make_envs(self) -> Any:
        """The training vector env (override to add wrappers)."""
        return make_vec_env(self.cfg.env)

    def run(self) -> LoopState:
        """Train until :meth:`training_done`; returns the final loop state (before final
        eval)."""
        raise NotImplementedError

    def training_done(self) -> bool:
        """``total_steps`` reached, or a periodic evaluation reached ``eval.stop_at``."""
        return self.state.env_steps >= self._total or self.state.stopped_early_at is not None

    # ----------------------------------------------------------------------------- state
    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """Loop-specific checkpoint content (e.g. the replay buffer); ``{}`` by default."""
        return {}

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def _restore(self, payload: dict[str, Any]) -> None:
        self.agent.load_state_dict(payload["agent"])
        self.state = LoopState(**payload["loop"])
        restore_rng(payload["rng"], self._generators())
        self.load_extra_state(payload)
        # Env internals cannot be saved generically: a resumed run starts fresh episodes, seeded
        # from the seed and the step count so the continuation is itself reproducible.
        self._reset_seed = self.cfg.seed + 7919 * self.state.env_steps

    def _generators(self) -> dict[str, np.random.Generator]:
        # The loop draws NumPy numbers only from its own generator (exploration, replay
        # sampling), so NumPy's global state is not saved; the generator keeps the key
        # "numpy" it has had in every RL checkpoint.
        return {"numpy": self.rng}

    def save_checkpoint(self, name: str = "last.pt") -> Path:
        """Write ``checkpoints/<name>`` atomically; ``last.pt`` also holds what resume needs."""
        for_resume = name == "last.pt"
        payload = {
            "kind": "rl",
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "agent": self.agent.state_dict(),
            "loop": asdict(self.state),
            "rng": capture_rng(self._generators(), numpy_global=False),
            **self.extra_state(for_resume),
        }
        return checkpoint.save(payload, self.ckpt_dir / name)

    def interrupt(self, signal_name: str) -> None:
        """Save ``last.pt`` and raise the error that tells the user how to resume."""
        path = self.save_checkpoint()
        where = f"at env step {self.state.env_steps:,}"
        raise interruption(signal_name, where, path, self.cfg.task.name, self.run_dir)

    # ----------------------------------------------------------------------------- logging
    def _recent_return(self) -> float | None:
        return float(np.mean(self._recent_returns)) if self._recent_returns else None

    def _log_episodes(self, infos: dict[str, Any]) -> None:
        episode = infos["episode"]
        for i in np.flatnonzero(infos["_episode"]):
            self.state.episodes += 1
            self._recent_returns.append(float(episode["r"][i]))
            self.tracker.scalars(
                {
                    "charts/episodic_return": episode["r"][i],
                    "charts/episodic_length": episode["l"][i],
                },
                self.state.env_steps,
            )

    def after_steps(
        self, before: int, metrics: dict[str, torch.Tensor], sps: float, stop: GracefulStop
    ) -> None:
        """What is due now that the env-step counter moved from ``before``: scalars every
        ``logging.log_freq`` steps, a periodic evaluation every ``eval.freq`` (the last one is the
        task's final evaluation), ``last.pt`` every ``checkpointing.freq``, and a stop request."""
        now = self.state.env_steps
        if crossed(before, now, self._log_freq):
            self._log_scalars(metrics, sps)
        if crossed(before, now, self._eval_freq) and now < self._total:
            self.periodic_eval()
        if crossed(before, now, self._checkpoint_freq):
            self.save_checkpoint()
        if stop.requested:
            self.interrupt(stop.requested)

    def _log_scalars(self, metrics: dict[str, torch.Tensor], sps: float) -> None:
        values = {tag: value.item() for tag, value in metrics.items()}
        values.update(self.agent.charts(self.state.env_steps))
        values["charts/SPS"] = sps
        self.tracker.scalars(values, self.state.env_steps)

    def _check_finite(self, metrics: dict[str, torch.Tensor]) -> None:
        # Only the first metric, the loss: one device sync per update, and other metrics
        # may be NaN legitimately (explained variance of constant returns).
        tag, loss = next(iter(metrics.items()))
        check_finite(
            {tag: loss.item()},
            f"at env step {self.state.env_steps:,} (update {self.agent.updates:,})",
            self.ckpt_dir / "last.pt",
            DIVERGENCE_ADVICE,
        )

    # ----------------------------------------------------------------------------- eval
    def eval_policy(self, n_envs: int) -> Policy:
        """A fresh greedy policy for ``n_envs`` evaluation episodes (override to add e.g. frozen
        observation normalisation)."""
        return greedy_policy(self.agent, n_envs)

    def periodic_eval(self) -> dict[str, float]:
        """Evaluate the greedy policy, log ``eval/*``, keep ``best.pt`` up to date, call the
        :data:`EVAL_HOOKS` and end training if the mean reached ``eval.stop_at``."""
        result = self.evaluator.evaluate(self.eval_policy(self.evaluator.episodes))
        entry = self.record_eval(result.mean_return, result.std_return, result.lengths)
        for hook in list(EVAL_HOOKS):
            hook(self.state.env_steps, result.mean_return)
        if self._stop_at is not None and result.mean_return >= self._stop_at:
            self.state.stopped_early_at = self.state.env_steps
            log.info(
                "eval.stop_at=%g reached at %s env steps: training stops",
                self._stop_at,
                f"{self.state.env_steps:,}",
            )
        return entry

    def record_eval(self, mean: float, std: float, lengths: list[int]) -> dict[str, float]:
        """Log one evaluation at the current step and save ``best.pt`` on a new best."""
        step = self.state.env_steps
        entry = {
            "env_steps": step,
            "episodes": self.state.episodes,  # training episodes finished so far
            "mean_return": mean,
            "std_return": std,
        }
        self.state.eval_history.append(entry)
        self.tracker.scalars(
            {
                "eval/mean_return": mean,
                "eval/std_return": std,
                "eval/mean_length": float(np.mean(lengths)),
            },
            step,
        )
        best = mean > self.state.best_eval_return
        if best:
            self.state.best_eval_return = mean
            self.save_checkpoint("best.pt")
        log.info(
            "eval at %s steps: %.1f ± %.1f over %d episodes%s",
            f"{step:,}",
            mean,
            std,
            len(lengths),
            " (new best)" if best else "",
        )
        return entry

    def close(self) -> None:
        """Close the training and evaluation envs."""
        self.envs.close()
        self.evaluator.close()
