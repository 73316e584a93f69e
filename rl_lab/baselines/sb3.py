"""Stable-Baselines3 agents behind rl_lab's agent interface, trained by :class:`Sb3Loop`.

``agent=sb3_dqn`` runs SB3's DQN with the hyperparameters of ``agent=dqn`` (mapped by
``rl_lab.baselines.mapping``) on the same env construction, seeds, step budget and evaluation
protocol, and leaves the same run directory: SB3's own TensorBoard scalars (``rollout/``,
``train/``) land in ``tb/`` beside ours (``charts/episodic_return``, ``eval/mean_return``, ...),
which our callback logs at the same env steps as our own loops.

Checkpoints: ``last.pt``/``best.pt`` hold the policy weights (loadable with
``weights_only=True``, used by ``mode=eval``); resume uses SB3's own ``sb3_last.zip`` and
``sb3_replay_buffer.pkl`` written next to ``last.pt``.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import get_class
from omegaconf import DictConfig
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor

from rl_lab.baselines.mapping import Sb3Algo, sb3_algo, sb3_kwargs
from rl_lab.rl.envs import make_env
from rl_lab.rl.loop import GracefulStop, Loop, LoopState, crossed
from rl_lab.tracking import ProgressBar

ZIP_NAME, BUFFER_NAME = "sb3_last.zip", "sb3_replay_buffer.pkl"


def make_sb3_env(env_cfg: DictConfig) -> VecEnv:
    """SB3 vector env of ``env.num_envs`` copies of ``make_env(env_cfg)``, with episode stats."""
    factories = [partial(make_env, env_cfg)] * int(env_cfg.num_envs)
    vec_cls = SubprocVecEnv if env_cfg.vectorization == "async" else DummyVecEnv
    return VecMonitor(vec_cls(factories))


class Sb3Agent:
    """An SB3 model seen through rl_lab's agent interface (predict, state_dict, charts).

    Args:
        algo: the mapping of the algorithm.
        cfg: the run config (its ``agent`` is the rl_lab agent's config).
        device: torch device.
    """

    LOOP = "sb3"
    LOOP_KEYS: tuple[str, ...] = ()

    def __init__(self, algo: Sb3Algo, cfg: DictConfig, device: str) -> None:
        self.algo = algo
        self.sb3_class = get_class(algo.sb3_class)
        #: differences no option controls, recorded in results.json
        self.mapping_notes = dict(algo.notes)
        env = make_sb3_env(cfg.env)
        action_shape = env.action_space.shape
        kwargs = sb3_kwargs(algo, cfg.agent, int(np.prod(action_shape)) if action_shape else None)
        self.policy_name = kwargs.pop("policy")
        self.model = self.sb3_class(
            self.policy_name,
            env,
            seed=cfg.seed,
            device=device,
            verbose=0,
            **kwargs,
        )

    @classmethod
    def from_run_config(cls, cfg: DictConfig, device: str) -> Sb3Agent:
        """Build the agent for ``cfg.agent.name`` (``sb3_<algo>``)."""
        return cls(sb3_algo(cfg.agent.name), cfg, device)

    @property
    def updates(self) -> int:
        """Gradient steps taken so far."""
        return int(getattr(self.model, "_n_updates", 0))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy (deterministic) actions for a batch of observations."""
        return self.model.predict(obs, deterministic=True)[0]

    def charts(self, env_step: int) -> dict[str, float]:
        """Exploration rate (DQN) and learning rate, under our chart tags."""
        progress = self.model._current_progress_remaining
        charts = {"charts/learning_rate": float(self.model.lr_schedule(progress))}
        if hasattr(self.model, "exploration_rate"):
            charts["charts/epsilon"] = float(self.model.exploration_rate)
        return charts

    def state_dict(self) -> dict[str, Any]:
        """The policy weights (for ``best.pt``/``last.pt`` and ``mode=eval``)."""
        return {"policy": self.model.policy.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load policy weights saved by :meth:`state_dict`."""
        self.model.policy.load_state_dict(state["policy"])


class _LoopCallback(BaseCallback):
    """Drives our loop bookkeeping from inside ``model.learn``: episodes, eval, checkpoints."""

    def __init__(self, loop: Sb3Loop, bar: ProgressBar, stop: GracefulStop) -> None:
        super().__init__()
        self.loop, self.bar, self.stop = loop, bar, stop
        cfg = loop.cfg
        self.total = int(cfg.total_steps)
        self.eval_freq, self.checkpoint_freq = int(cfg.eval.freq), int(cfg.checkpointing.freq)
        self.log_freq = int(cfg.logging.log_freq)
        self.start_steps = loop.state.env_steps
        self.start_time = time.perf_counter() - loop.state.wall_time_s

    def _on_step(self) -> bool:
        loop, state = self.loop, self.loop.state
        before, state.env_steps = state.env_steps, int(self.num_timesteps)
        state.vector_steps += 1
        for info in self.locals.get("infos", []):
            if "episode" in info:
                state.episodes += 1
                loop._recent_returns.append(float(info["episode"]["r"]))
                loop.tracker.scalars(
                    {
                        "charts/episodic_return": info["episode"]["r"],
                        "charts/episodic_length": info["episode"]["l"],
                    },
                    state.env_steps,
                )
        state.wall_time_s = time.perf_counter() - self.start_time
        sps = (state.env_steps - self.start_steps) / max(state.wall_time_s, 1e-9)
        if crossed(before, state.env_steps, self.log_freq):
            loop.tracker.scalars(
                {**loop.agent.charts(state.env_steps), "charts/SPS": sps}, state.env_steps
            )
            self.bar.update(state.env_steps, loop._recent_return(), sps)
        if crossed(before, state.env_steps, self.eval_freq) and state.env_steps < self.total:
            loop.periodic_eval()
        if crossed(before, state.env_steps, self.checkpoint_freq):
            loop.save_checkpoint()
        if self.stop.requested:
            loop.interrupt(self.stop.requested)
        return True


class Sb3Loop(Loop):
    """Runs ``model.learn`` with our callback; the rest is the shared :class:`Loop`."""

    def make_envs(self) -> Any:
        return self.agent.model.get_env()

    def run(self) -> LoopState:
        """Train the SB3 model until ``total_steps``; returns the loop state."""
        agent, state, cfg = self.agent, self.state, self.cfg
        agent.model.set_logger(configure(str(self.run_dir / "tb"), ["tensorboard"]))
        total = int(cfg.total_steps)
        description = f"{cfg.agent.name} {cfg.env.id} seed={cfg.seed}"
        with (
            GracefulStop() as stop,
            ProgressBar(total, description, cfg.progress, state.env_steps) as bar,
        ):
            callback = _LoopCallback(self, bar, stop)
            agent.model.learn(
                total_timesteps=total - state.env_steps if state.env_steps else total,
                callback=callback,
                reset_num_timesteps=state.env_steps == 0,
            )
            bar.update(state.env_steps, self._recent_return(), 0.0)
        state.wall_time_s = time.perf_counter() - callback.start_time
        return state

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """For ``last.pt``: write SB3's own zip (and replay buffer) beside it for resume."""
        if not for_resume:
            return {}
        model = self.agent.model
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        model.save(self.ckpt_dir / ZIP_NAME)
        has_buffer = isinstance(model, OffPolicyAlgorithm)
        if has_buffer and self.cfg.checkpointing.save_buffer:
            model.save_replay_buffer(self.ckpt_dir / BUFFER_NAME)
        return {"sb3": {"zip": ZIP_NAME, "num_timesteps": int(model.num_timesteps)}}

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        zip_path = self.ckpt_dir / payload["sb3"]["zip"]
        agent = self.agent
        agent.model = agent.sb3_class.load(zip_path, env=self.envs, device=agent.model.device)
        buffer_path = Path(self.ckpt_dir / BUFFER_NAME)
        if buffer_path.exists() and isinstance(agent.model, OffPolicyAlgorithm):
            agent.model.load_replay_buffer(buffer_path)
