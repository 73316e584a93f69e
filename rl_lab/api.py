"""rl_lab from Python: train, load, predict and evaluate, as the command line does.

::

    import rl_lab

    run = rl_lab.train("agent=dqn", "env=CartPole-v1", "seed=3")
    run.results["eval"]["mean_return"], run.dir, run.config
    agent = rl_lab.load(run.dir / "checkpoints" / "best.pt")
    action, state = agent.predict(obs, state=None, deterministic=True)
    rl_lab.evaluate(agent, episodes=20)

:func:`train` composes the same Hydra config as ``python -m rl_lab`` from the same override
strings and runs it through the same checks and run-directory rules, so a notebook and a shell
give identical runs. Nothing here exits the process: errors raise the
:class:`~rl_lab.errors.RLLabError` whose message the command line prints. Hydra's global state
is set up and cleared inside each call, so calls are independent of each other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf, open_dict

import rl_lab.__main__  # noqa: F401  (registers the env config source and the resolvers)
from rl_lab import app, checkpoint
from rl_lab.config_dict import load_mapping
from rl_lab.errors import CheckpointError, ConfigError
from rl_lab.run_dir import check_creatable, read_json
from rl_lab.tracking import RunLogHandler, console_log_handler

__all__ = ["Run", "Agent", "Classifier", "GanGenerator", "compose_config", "train", "load"]
__all__ += ["evaluate", "export", "summarize", "SummaryTable"]

log = logging.getLogger("rl_lab")

_FILE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def _flatten(overrides: Iterable[str | Sequence[str]]) -> list[str]:
    flat: list[str] = []
    for item in overrides:
        if isinstance(item, str):
            flat.append(item)
        else:
            flat.extend(item)
    return flat


def _compose(overrides: list[str], with_hydra: bool) -> DictConfig:
    if GlobalHydra.instance().is_initialized():
        raise ConfigError(
            "rl_lab.train and rl_lab.compose_config set up Hydra themselves and cannot run "
            "inside a Hydra app (GlobalHydra is already initialised); call them from plain Python."
        )
    try:
        with initialize_config_dir(config_dir=app.CONFIG_DIR, version_base="1.3"):
            return compose(
                config_name="config", overrides=overrides, return_hydra_config=with_hydra
            )
    except ConfigCompositionException as exc:  # the command line's paragraph, as an error
        from rl_lab.__main__ import unknown_override_message

        raise ConfigError(unknown_override_message(exc, overrides) or str(exc)) from exc


def compose_config(*overrides: str | Sequence[str]) -> DictConfig:
    """The config ``python -m rl_lab OVERRIDES --cfg job`` prints, as a ``DictConfig``.

    Raises:
        hydra.errors.ConfigCompositionException: an override Hydra cannot apply.
    """
    return _compose(_flatten(overrides), with_hydra=False)


@dataclass
class Run:
    """A finished run: its directory, resolved config and ``results.json``."""

    dir: Path
    config: DictConfig
    results: dict[str, Any]

    @property
    def best_checkpoint(self) -> Path:
        """``checkpoints/best.pt`` (the best periodic evaluation, or the best epoch)."""
        return self.dir / "checkpoints" / "best.pt"

    @property
    def last_checkpoint(self) -> Path:
        """``checkpoints/last.pt`` (the end of training, with what ``resume`` needs)."""
        return self.dir / "checkpoints" / "last.pt"


def train(*overrides: str | Sequence[str], run_dir: str | Path | None = None) -> Run:
    """Run ``python -m rl_lab OVERRIDES`` in this process and return the finished run.

    Args:
        overrides: Hydra override strings, each given separately or as lists
            (``"agent=dqn", "env=CartPole-v1"`` or ``["agent=dqn", "env=CartPole-v1"]``).
            ``mode=eval``, ``mode=sample`` and ``resume=true`` work as on the command line.
        run_dir: the run directory (``hydra.run.dir``); by default a new one under
            ``outputs/runs/``, named as the command line names it.

    Raises:
        RLLabError: the run was refused or failed (the message says why and what to do).
    """
    from rl_lab.__main__ import checkpoint_choices

    args = _flatten(overrides)
    args = checkpoint_choices(args) + args  # a checkpoint names its task, as on the command line
    if any(override_key == "hydra.run.dir" for override_key in map(app.override_key, args)):
        if run_dir is not None:
            raise ConfigError("Give the run directory once: run_dir= or hydra.run.dir=, not both.")
    elif run_dir is not None:
        args.append(f"hydra.run.dir={Path(run_dir)}")
    full = _compose(args, with_hydra=True)
    hydra_node = full.hydra
    directory = Path(str(OmegaConf.select(full, "hydra.run.dir")))
    with open_dict(full):
        del full["hydra"]
    cfg = full
    check_creatable(directory)
    record = {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_node})),
        "overrides.yaml": OmegaConf.to_yaml(args),
    }
    threads = torch.get_num_threads()
    with _run_logging(directory):
        try:
            results = app.run(
                cfg,
                directory,
                args,
                reference=lambda kept: _compose(kept, with_hydra=False),
                hydra_record=record,
            )
        finally:
            torch.set_num_threads(threads)  # the run's torch_threads is not the caller's
    saved = directory / "config.yaml"
    config = load_mapping(saved) if saved.is_file() else cfg
    return Run(directory, config, results)


class _run_logging:
    """The run's log lines: ``run.log`` in its directory, and the console when the caller has
    no logging of its own (a notebook)."""

    def __init__(self, run_dir: Path) -> None:
        self.logger = logging.getLogger("rl_lab")
        self.file = RunLogHandler(str(run_dir / "run.log"))
        self.file.setFormatter(logging.Formatter(_FILE_FORMAT))
        self.console = None if logging.getLogger().handlers else console_log_handler()

    def __enter__(self) -> None:
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.file)
        if self.console is not None:
            self.logger.addHandler(self.console)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.file)
        self.file.close()
        if self.console is not None:
            self.logger.removeHandler(self.console)
        self.logger.setLevel(self.level)


# ----------------------------------------------------------------------------- trained models
def _device(device: str) -> str:
    return app.resolve_device(device)


class Agent:
    """A trained RL agent: ``predict`` for acting, ``env_config`` for where it was trained.

    Observations are raw env observations; the agent's frozen normalisation statistics (if it
    trained with ``agent.normalize_obs``) are applied inside.
    """

    def __init__(self, payload: dict[str, Any], device: str = "cpu") -> None:
        from rl_lab.rl.envs import env_spaces
        from rl_lab.rl.normalization import FrozenObsNormalizer
        from rl_lab.rl.task import build_agent

        self.config = OmegaConf.create(payload["config"])
        self.env_config: DictConfig = self.config.env
        self.observation_space, self.action_space = env_spaces(self.config.env)
        self.policy = build_agent(self.config, self.observation_space, self.action_space, device)
        self.policy.load_state_dict(payload["agent"])
        self.normalizer = FrozenObsNormalizer.from_state(payload.get("normalization"))
        self.env_steps = int(payload["loop"]["env_steps"])

    @property
    def recurrent(self) -> bool:
        """Whether the policy has a hidden state (``predict``'s ``state``)."""
        return bool(getattr(self.policy, "recurrent", False))

    def predict(
        self,
        obs: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The action for ``obs`` and the policy's state after it.

        Args:
            obs: one observation (shape of the observation space) or a batch ``(n, ...)``.
            state: a recurrent policy's state before ``obs`` (``None``: zeros, an episode's
                start); ignored by feed-forward policies, which return ``None``.
            episode_start: ``(n,)`` booleans marking observations that begin an episode (their
                state is reset first); recurrent policies only.
            deterministic: the greedy action (the mode); ``False`` samples from the policy
                (the actor-critic family only; the replay-based agents act greedily here).

        Returns:
            ``(action, state)``: one action for one observation, else ``(n, ...)`` actions.
        """
        obs = np.asarray(obs)
        single = obs.shape == self.observation_space.shape
        batch = obs[None] if single else obs
        if self.normalizer is not None:
            batch = self.normalizer(batch)
        policy = self.policy
        if deterministic and hasattr(policy, "predict_step"):
            if episode_start is not None and state is not None:
                state = _reset_state(policy, state, np.asarray(episode_start))
            actions, state = policy.predict_step(batch, state)
        elif deterministic:
            actions, state = policy.predict(batch), None
        elif hasattr(policy, "predict_step"):  # actor-critic: a sample from the policy
            if state is None and self.recurrent:
                state = policy.initial_state(len(batch))
            starts = np.zeros(len(batch), bool) if episode_start is None else episode_start
            step = policy.act(batch, state, np.asarray(starts))
            actions, state = step.env_actions, step.state
        else:
            raise ValueError(
                f"{self.config.agent.name} has no stochastic policy to sample from; use "
                "deterministic=True."
            )
        return (actions[0] if single else actions), state


def _reset_state(policy: Any, state: torch.Tensor, starts: np.ndarray) -> torch.Tensor:
    """``state`` with the entries of envs that start an episode set to zeros."""
    fresh = policy.initial_state(len(starts))
    if fresh is None:
        return state
    # the env axis of the state tensor: the one whose size follows the number of envs
    one, two = policy.initial_state(1).shape, policy.initial_state(2).shape
    env_axis = next(axis for axis, (a, b) in enumerate(zip(one, two, strict=True)) if a != b)
    shape = [1] * state.dim()
    shape[env_axis] = -1
    mask = torch.as_tensor(starts, dtype=torch.bool, device=state.device).view(shape)
    return torch.where(mask, fresh.to(state.device), state)


class Classifier:
    """A trained image classifier: ``predict(images)`` → labels, ``predict_proba`` → probabilities.

    Images are ``(N, C, H, W)`` (or one ``(C, H, W)``) floats in ``[0, 1]``, as the datasets give.
    """

    def __init__(self, payload: dict[str, Any], device: str = "cpu") -> None:
        from rl_lab.supervised.models import build_classifier

        self.config = OmegaConf.create(payload["config"])
        spec = payload.get("model_spec") or {}
        self.image_shape = tuple(spec["in_shape"])
        self.num_classes = int(spec["num_classes"])
        self.class_names = spec.get("class_names")
        self.device = device
        self.model = build_classifier(self.config.model, self.image_shape, self.num_classes)
        self.model.load_state_dict(payload["networks"]["model"])
        self.model.to(device).eval()

    @torch.no_grad()
    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities ``(N, num_classes)``."""
        batch = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        if tuple(batch.shape) == self.image_shape:
            batch = batch[None]
        if tuple(batch.shape[1:]) != self.image_shape:
            raise ValueError(
                f"images must be (N, {', '.join(map(str, self.image_shape))}) in [0, 1]; got "
                f"{tuple(batch.shape)}"
            )
        return torch.softmax(self.model(batch.to(self.device)), dim=1).cpu().numpy()

    def predict(self, images: Any) -> np.ndarray:
        """The most likely class of each image, ``(N,)`` int64."""
        return self.predict_proba(images).argmax(axis=1)


class GanGenerator:
    """A trained GAN's generator: ``sample(n, labels)`` → images ``(n, C, H, W)`` in ``[0, 1]``."""

    def __init__(self, payload: dict[str, Any], device: str = "cpu") -> None:
        from rl_lab.gan.task import build_gan

        self.config = OmegaConf.create(payload["config"])
        spec = payload.get("model_spec") or {}
        self.image_shape = tuple(spec["image_shape"])
        self.num_classes = spec.get("num_classes")
        self.class_names = spec.get("class_names")
        generator, _ = build_gan(self.config.model, self.image_shape, self.num_classes)
        generator.load_state_dict(payload["networks"]["generator"])
        self.generator = generator.to(device).eval()

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> np.ndarray:
        """``n`` images from the noise of ``seed``; a conditional GAN takes ``labels`` (one int
        for all, or ``(n,)``; default: the classes in turn)."""
        from rl_lab.gan.sampling import cycled_labels, generate, noise

        z = noise(n, self.generator.latent_dim, seed)
        y = None
        if self.num_classes is not None:
            if labels is None:
                y = cycled_labels(n, int(self.num_classes))
            else:
                y = torch.as_tensor(np.array(np.broadcast_to(labels, (n,))), dtype=torch.int64)
                if int(y.min()) < 0 or int(y.max()) >= int(self.num_classes):
                    raise ValueError(f"labels must be in [0, {self.num_classes}); got {labels!r}")
        elif labels is not None:
            raise ValueError("this GAN is unconditional: it takes no labels")
        return generate(self.generator, z, y).numpy()


def load(path: str | Path, device: str = "cpu") -> Agent | Classifier | GanGenerator:
    """The trained model of any task's checkpoint (``best.pt`` or ``last.pt``).

    Raises:
        CheckpointError: the file is missing, damaged or not an rl_lab checkpoint.
    """
    payload = checkpoint.load(path)
    kind = payload.get("kind")
    device = _device(device)
    try:
        if kind == "rl":
            return Agent(payload, device)
        if kind == "supervised":
            return Classifier(payload, device)
        if kind == "gan":
            return GanGenerator(payload, device)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} cannot be loaded as a {kind} model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); it is damaged or from another "
            "rl_lab version."
        ) from exc
    raise CheckpointError(f"{path} is a checkpoint of an unknown kind '{kind}'.")


def export(
    model: Agent | Classifier | GanGenerator | str | Path, path: str | Path, format: str = "onnx"
) -> Path:
    """Write a trained model (or the model of a checkpoint path) as ONNX or TorchScript; see
    :mod:`rl_lab.exporting` for what the file computes. Returns the file's path."""
    from rl_lab.exporting import export as write

    if isinstance(model, (str, Path)):
        model = load(model)
    return write(model, path, format)


def evaluate(agent: Agent, episodes: int = 20, seed: int | None = None) -> dict[str, Any]:
    """Score ``agent`` greedily as ``mode=eval`` does: episode ``i`` starts from
    ``reset(seed=seed + i)`` on the env it was trained on (``seed``: the run's ``eval.seed``).

    Returns:
        The ``eval`` block of ``results.json``: ``mean_return``, ``std_return``, ``episodes``,
        ``mean_length``, ``returns``.
    """
    from rl_lab.rl.evaluation import Evaluator, greedy_policy

    seed = int(agent.config.eval.seed if seed is None else seed)
    evaluator = Evaluator(agent.env_config, episodes, seed)
    try:
        result = evaluator.evaluate(greedy_policy(agent.policy, episodes, agent.normalizer))
    finally:
        evaluator.close()
    return result.as_dict()


def results(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``results.json`` of ``run_dir`` (``None`` when it has none)."""
    return read_json(Path(run_dir) / "results.json")


#: The columns of :func:`summarize`'s table, in order.
SUMMARY_COLUMNS = (
    "config",
    "runs",
    "failed",
    "mean_return",
    "ci_low",
    "ci_high",
    "iqm",
    "success_rate",
    "median_wall_time_s",
    "median_sps",
    "seeds",
)


class SummaryTable(list):
    """The rows of :func:`summarize`, one ``dict`` per configuration (keys: ``SUMMARY_COLUMNS``);
    ``to_pandas()`` when pandas is installed, and a table in Jupyter."""

    columns = SUMMARY_COLUMNS

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of the rows (pandas is not a dependency of rl_lab)."""
        import pandas as pd

        return pd.DataFrame(list(self), columns=list(self.columns))

    def _repr_markdown_(self) -> str:
        def cell(value: Any) -> str:
            return f"{value:.4g}" if isinstance(value, float) else str(value)

        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(cell(row[c]) for c in self.columns) + " |" for row in self]
        return "\n".join(lines)


def summarize(sweep_dir: str | Path, threshold: float | None = None) -> SummaryTable:
    """``python -m rl_lab.summarize DIR`` from Python: writes the report files into ``sweep_dir``
    and returns its table (final greedy evaluation per configuration over its seeds, with the
    95% bootstrap interval).

    Raises:
        SummaryError: ``sweep_dir`` holds no run directory.
    """
    from rl_lab.reports import summarize as summarize_runs

    table = SummaryTable()
    for group in summarize_runs(Path(sweep_dir), threshold=threshold):
        table.append(
            {
                "config": group.label,
                "runs": group.n_completed,
                "failed": group.n_failed,
                "mean_return": group.mean_return,
                "ci_low": group.ci_low,
                "ci_high": group.ci_high,
                "iqm": group.iqm,
                "success_rate": group.success_rate,
                "median_wall_time_s": group.median_wall_time_s,
                "median_sps": group.median_sps,
                "seeds": list(group.seeds),
            }
        )
    return table
