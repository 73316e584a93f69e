"""What a run shows while it trains: TensorBoard scalars/hparams and a live progress bar.

TensorBoard tags are grouped the same way for every agent: ``charts/`` (episodic return and
length, epsilon, SPS), ``losses/`` (td_loss, q_values, ...), ``eval/`` (mean_return, ...).
Every RL run also writes :data:`RETURNS_LAYOUT` (CUSTOM SCALARS tab: training return,
evaluation return and the env's reward threshold on one chart) and, with ``record_video=true``,
its greedy evaluation episode (``videos/eval_episode``, an animated image in the IMAGES tab).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from tensorboard.compat.proto.summary_pb2 import Summary

# TensorBoard's file layer imports boto3, when installed, for s3:// log dirs (a tenth of a second
# and more of every run's start-up); run directories are local, so it is kept out of that import
# and stays importable afterwards.
_BLOCK_BOTO3 = "boto3" not in sys.modules
if _BLOCK_BOTO3:
    sys.modules["boto3"] = None  # type: ignore[assignment]
try:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams
finally:
    if _BLOCK_BOTO3:
        del sys.modules["boto3"]

#: The console for progress bars and log lines (stderr, so stdout stays free for results).
CONSOLE = Console(stderr=True)


def console_log_handler() -> logging.Handler:
    """Logging handler that prints through :data:`CONSOLE` (used by conf/hydra/job_logging)."""
    return RichHandler(console=CONSOLE, show_path=False, log_time_format="[%X]")


class RunLogHandler(logging.FileHandler):
    """``run.log``: records are held in memory until the process owns the run directory.

    A run that is refused (another process owns the directory, or it holds a finished run)
    must not write into it, yet the log is configured before the run knows; so nothing is
    written until :func:`claim_run_log`. A write that fails later (full disk) turns the file
    log off with one line on the console instead of a traceback per record.
    """

    def __init__(self, filename: str, mode: str = "a", encoding: str | None = "utf-8") -> None:
        super().__init__(filename, mode, encoding, delay=True)
        self._held: list[logging.LogRecord] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        if self._held is not None:
            self._held.append(record)
        else:
            super().emit(record)

    def claim(self) -> None:
        """Start writing: the held records first."""
        held, self._held = self._held, None
        for record in held or ():
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.close()
        logging.getLogger().removeHandler(self)
        CONSOLE.print(f"[yellow]Could not write {self.baseFilename}; the file log is off.")


def claim_run_log() -> None:
    """Let the :class:`RunLogHandler` (``run.log``) of the root logger (the command line's) or
    of the ``rl_lab`` logger (the Python API's) write from now on."""
    for logger in (logging.getLogger(), logging.getLogger("rl_lab")):
        for handler in logger.handlers:
            if isinstance(handler, RunLogHandler):
                handler.claim()


def flatten_hparams(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a config to ``{"agent.learning_rate": 0.001, ...}`` with TensorBoard-safe values.

    Lists and ``None`` become strings, so every run of a sweep has the same keys and types.
    """
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    flat: dict[str, Any] = {}

    def visit(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                visit(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, (bool, int, float, str)):
            flat[prefix] = node
        else:
            flat[prefix] = str(node)

    visit("", container)
    return flat


#: The scalar that draws the env's reward threshold (``env.spec.reward_threshold``) as a line.
THRESHOLD_TAG = "charts/reward_threshold"
#: The tag of the greedy evaluation episode (``record_video=true``).
VIDEO_TAG = "videos/eval_episode"

#: The CUSTOM SCALARS layout of every RL run (``SummaryWriter.add_custom_scalars``: category →
#: chart title → ``["Multiline", tag regexes]``). Runs of any agent and env write the same
#: layout, so TensorBoard merges them into one chart that shows every run's lines.
RETURNS_LAYOUT: dict[str, dict[str, list[Any]]] = {
    "returns": {
        "training return, evaluation return and the reward threshold": [
            "Multiline",
            ["^charts/episodic_return$", "^eval/mean_return$", f"^{THRESHOLD_TAG}$"],
        ],
    },
}


class Tracker:
    """TensorBoard writer for one run (``run_dir/tb``); ``purge_step`` is set when resuming."""

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        # purge_step drops events logged after the checkpoint a resumed run restarts from
        self.writer = SummaryWriter(log_dir=str(log_dir), flush_secs=30, purge_step=purge_step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log one scalar at ``step`` (env steps for RL)."""
        self.writer.add_scalar(tag, float(value), step)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log several scalars at the same step."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)

    def config(self, cfg: DictConfig) -> None:
        """Log the resolved config as text (shown in TensorBoard's TEXT tab)."""
        text = OmegaConf.to_yaml(cfg, resolve=True)
        self.writer.add_text("config", "```yaml\n" + text + "\n```", 0)

    def returns_chart(
        self, reward_threshold: float | None, start_step: int, last_step: int
    ) -> None:
        """Write :data:`RETURNS_LAYOUT` and the reward threshold as a flat line up to
        ``last_step`` (the budget, env steps; no line when the env has no threshold).

        ``start_step`` is where this session's training starts: 0 for a new run, which writes
        the layout and the line's first point at step 0; a resumed run keeps those and only
        extends the line to its (new) budget.
        """
        if start_step == 0:
            self.writer.add_custom_scalars(RETURNS_LAYOUT)
        if reward_threshold is not None:
            for step in sorted({0, last_step} if start_step == 0 else {last_step}):
                self.writer.add_scalar(THRESHOLD_TAG, float(reward_threshold), step)

    def video(self, tag: str, gif: Path, step: int) -> None:
        """Show an animated GIF (an episode) under ``tag`` at ``step``.

        This is the summary ``SummaryWriter.add_video`` writes (a GIF in an image summary,
        shown animated in the IMAGES tab), made from the already encoded file, so it needs no
        moviepy and no second encoding.
        """
        with Image.open(gif) as image:
            width, height = image.size
        encoded = Path(gif).read_bytes()
        image_summary = Summary.Image(
            height=height, width=width, colorspace=3, encoded_image_string=encoded
        )
        summary = Summary(value=[Summary.Value(tag=tag, image=image_summary)])
        self.writer._get_file_writer().add_summary(summary, step)

    def hparams(self, cfg: DictConfig, metrics: Mapping[str, float]) -> None:
        """Write hyperparameters and final metrics into this run (HPARAMS tab).

        ``SummaryWriter.add_hparams`` would create a separate sub-run; writing the summaries
        into the run's own file keeps one TensorBoard run per job.
        """
        exp, ssi, sei = hparams(flatten_hparams(cfg), dict(metrics))
        file_writer = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            file_writer.add_summary(summary)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.flush()
        self.writer.close()


def live_progress(counted: str, enabled: bool = True) -> Progress:
    """The progress display of every training loop (rich, on :data:`CONSOLE`): description,
    bar, done/total, then ``counted``, elapsed time and ETA.

    Args:
        counted: a rich format string after the count, naming what is counted and the task's
            extra fields, e.g. ``"steps  SPS {task.fields[sps]}"``.
        enabled: ``False`` shows nothing (``progress=false``, tests, benchmarks).
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(counted),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=CONSOLE,
        disable=not enabled,
    )


class ProgressBar:
    """Live progress: env steps, last episodic return, SPS and ETA (rich)."""

    def __init__(self, total: int, description: str, enabled: bool = True, start: int = 0):
        self.enabled = enabled
        self._progress = live_progress(
            "steps  return {task.fields[ret]}  SPS {task.fields[sps]}", enabled
        )
        self._task = self._progress.add_task(
            description, total=total, completed=start, ret="-", sps="-"
        )
        self._last_time = time.perf_counter()

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, completed: int, episodic_return: float | None, sps: float) -> None:
        """Move the bar to ``completed`` steps and refresh the shown statistics."""
        if not self.enabled:
            return
        # the task's own fields (rich takes them as **fields: Any, beside its typed options)
        fields: dict[str, Any] = {"sps": f"{sps:,.0f}"}
        if episodic_return is not None:
            fields["ret"] = f"{episodic_return:.1f}"
        self._progress.update(self._task, completed=completed, **fields)
