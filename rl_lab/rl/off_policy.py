"""The off-policy loop, shared by every replay-based agent (DQN now; TD3 and others reuse it).

It owns time: collecting experience from the vector env into the replay buffer, deciding when
to train (``learning_starts``, ``train_freq``, ``gradient_steps`` as in Stable-Baselines3),
periodic greedy evaluation, TensorBoard logging, checkpoints and graceful interruption.

An agent plugged into this loop provides ``random_actions(n, rng)``, ``act(obs, env_step, rng)``,
``predict(obs)``, ``update(batch, env_step) -> metrics``, ``on_env_step(env_step)``,
``charts(env_step)``, ``state_dict()`` and ``load_state_dict(state)``.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rl_lab import checkpoint
from rl_lab.errors import InterruptedRunError, TrainingDivergedError
from rl_lab.rl.buffers import ReplayBuffer
from rl_lab.rl.envs import make_vec_env
from rl_lab.rl.evaluation import Evaluator
from rl_lab.tracking import ProgressBar, Tracker


@dataclass
class LoopState:
    """Counters and history of a training run; saved in every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    wall_time_s: float = 0.0
    best_eval_return: float = -math.inf
    eval_history: list[dict[str, float]] = field(default_factory=list)


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in ``(before, after]`` (``every <= 0``: never)."""
    return every > 0 and after // every > before // every


class GracefulStop:
    """Turns the first SIGINT/SIGTERM into a request the loop honours at the next step.

    A second signal interrupts immediately. Outside the main thread (some sweep launchers)
    signals cannot be caught and the handlers are not installed.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """RNG states of NumPy (the loop's generator), torch and Python, checkpoint-safe."""
    return {
        "numpy": rng.bit_generator.state,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }


def restore_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class OffPolicyLoop:
    """Trains ``agent`` on ``cfg.env`` for ``cfg.total_steps`` env steps.

    Args:
        agent: the agent (see the module docstring for what it must provide).
        cfg: the resolved run config (``agent``, ``env``, ``eval``, ``checkpointing``, ...).
        run_dir: the run directory; checkpoints go to ``run_dir/checkpoints``.
        tracker: TensorBoard writer of the run.
        resume_from: a loaded ``last.pt`` payload to continue from, if any.
    """

    def __init__(
        self,
        agent: Any,
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
        self.envs = make_vec_env(cfg.env)
        self.num_envs = self.envs.num_envs
        space = self.envs.single_observation_space
        action_space = self.envs.single_action_space
        self.buffer = ReplayBuffer(
            cfg.agent.buffer_size,
            space.shape,
            space.dtype,
            action_space.shape,
            action_space.dtype if action_space.shape else np.int64,
        )
        self.rng = np.random.default_rng(cfg.seed)
        self.state = LoopState()
        self.evaluator = Evaluator(cfg.env, cfg.eval.episodes, cfg.eval.seed)
        self._recent_returns: deque[float] = deque(maxlen=20)
        self._reset_seed = cfg.seed
        if resume_from is not None:
            self._restore(resume_from)

    # ----------------------------------------------------------------------------- state
    def _restore(self, payload: dict[str, Any]) -> None:
        self.agent.load_state_dict(payload["agent"])
        self.state = LoopState(**payload["loop"])
        restore_rng_state(self.rng, payload["rng"])
        if payload.get("buffer") is not None:
            self.buffer.load_state_dict(payload["buffer"])
        # Env internals cannot be saved generically: a resumed run starts fresh episodes, seeded
        # from the seed and the step count so the continuation is itself reproducible.
        self._reset_seed = self.cfg.seed + 7919 * self.state.env_steps

    def _payload(self, with_buffer: bool) -> dict[str, Any]:
        return {
            "kind": "rl",
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "agent": self.agent.state_dict(),
            "loop": asdict(self.state),
            "rng": rng_state(self.rng),
            "buffer": self.buffer.state_dict() if with_buffer else None,
        }

    def save_checkpoint(self, name: str = "last.pt") -> Path:
        """Write ``checkpoints/<name>`` atomically (``last.pt`` includes the replay buffer)."""
        with_buffer = name == "last.pt" and self.cfg.checkpointing.save_buffer
        return checkpoint.save(self._payload(with_buffer), self.ckpt_dir / name)

    # ----------------------------------------------------------------------------- loop
    def run(self) -> LoopState:
        """Train until ``total_steps``; returns the final loop state (before final eval)."""
        cfg, agent, state = self.cfg, self.agent, self.state
        # Plain Python values: DictConfig attribute access costs microseconds in the hot loop.
        total = int(cfg.total_steps)
        learning_starts, train_freq = int(cfg.agent.learning_starts), int(cfg.agent.train_freq)
        gradient_steps, batch_size = int(cfg.agent.gradient_steps), int(cfg.agent.batch_size)
        log_freq, eval_freq = int(cfg.logging.log_freq), int(cfg.eval.freq)
        checkpoint_freq = int(cfg.checkpointing.freq)
        start_steps, start_time = state.env_steps, time.perf_counter() - state.wall_time_s
        obs, _ = self.envs.reset(seed=self._reset_seed)
        metrics: dict[str, torch.Tensor] = {}
        sps = 0.0
        progress_every = max(1, total // (200 * self.num_envs))
        description = f"{cfg.agent.name} {cfg.env.id} seed={cfg.seed}"
        with (
            GracefulStop() as stop,
            ProgressBar(total, description, cfg.progress, state.env_steps) as bar,
        ):
            while state.env_steps < total:
                if state.env_steps < learning_starts:
                    actions = agent.random_actions(self.num_envs, self.rng)
                else:
                    actions = agent.act(obs, state.env_steps, self.rng)
                next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
                # On episode ends the vector env already returns the next episode's first
                # observation; the replay buffer needs the real last one to bootstrap from.
                real_next_obs = next_obs
                if "final_obs" in infos:
                    real_next_obs = next_obs.copy()
                    for i in np.flatnonzero(infos["_final_obs"]):
                        real_next_obs[i] = infos["final_obs"][i]
                self.buffer.add(obs, actions, rewards, real_next_obs, terminated)
                obs = next_obs

                before = state.env_steps
                state.env_steps += self.num_envs
                state.vector_steps += 1
                if "episode" in infos:
                    self._log_episodes(infos)
                agent.on_env_step(state.env_steps)

                if state.env_steps > learning_starts and state.vector_steps % train_freq == 0:
                    for _ in range(gradient_steps):
                        batch = self.buffer.sample(batch_size, self.rng)
                        metrics = agent.update(batch, state.env_steps)
                    self._check_finite(metrics)

                now = time.perf_counter()
                state.wall_time_s = now - start_time
                sps = (state.env_steps - start_steps) / max(state.wall_time_s, 1e-9)
                if crossed(before, state.env_steps, log_freq):
                    self._log_scalars(metrics, sps)
                if crossed(before, state.env_steps, eval_freq) and state.env_steps < total:
                    self.periodic_eval()
                if crossed(before, state.env_steps, checkpoint_freq):
                    self.save_checkpoint()
                if state.vector_steps % progress_every == 0:
                    bar.update(state.env_steps, self._recent_return(), sps)
                if stop.requested:
                    path = self.save_checkpoint()
                    raise InterruptedRunError(
                        f"Stopped by {stop.requested} at env step {state.env_steps:,}; the "
                        f"checkpoint {path} holds everything needed to continue. Resume with "
                        f"`python -m rl_lab resume=true hydra.run.dir={self.run_dir}`."
                    )
            bar.update(state.env_steps, self._recent_return(), sps)
        state.wall_time_s = time.perf_counter() - start_time
        return state

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

    def _log_scalars(self, metrics: dict[str, torch.Tensor], sps: float) -> None:
        values = {tag: value.item() for tag, value in metrics.items()}
        values.update(self.agent.charts(self.state.env_steps))
        values["charts/SPS"] = sps
        self.tracker.scalars(values, self.state.env_steps)

    def _check_finite(self, metrics: dict[str, torch.Tensor]) -> None:
        loss = next(iter(metrics.values()))
        if not torch.isfinite(loss).item():
            last = self.ckpt_dir / "last.pt"
            kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint"
            raise TrainingDivergedError(
                f"The loss became {loss.item()} at env step {self.state.env_steps:,} (update "
                f"{self.agent.updates:,}); training stopped and {kept}. Lower "
                "agent.learning_rate, keep agent.max_grad_norm small, or check the env's "
                "rewards/observations for NaN or huge values."
            )

    # ----------------------------------------------------------------------------- eval
    def periodic_eval(self) -> dict[str, float]:
        """Evaluate the greedy policy, log ``eval/*`` and keep ``best.pt`` up to date."""
        result = self.evaluator.evaluate(self.agent.predict)
        return self.record_eval(result.mean_return, result.std_return, result.lengths)

    def record_eval(self, mean: float, std: float, lengths: list[int]) -> dict[str, float]:
        """Log one evaluation at the current step and save ``best.pt`` on a new best."""
        step = self.state.env_steps
        entry = {"env_steps": step, "mean_return": mean, "std_return": std}
        self.state.eval_history.append(entry)
        self.tracker.scalars(
            {
                "eval/mean_return": mean,
                "eval/std_return": std,
                "eval/mean_length": float(np.mean(lengths)),
            },
            step,
        )
        if mean > self.state.best_eval_return:
            self.state.best_eval_return = mean
            self.save_checkpoint("best.pt")
        return entry

    def close(self) -> None:
        """Close the training and evaluation envs."""
        self.envs.close()
        self.evaluator.close()
