"""The live progress bar of an epoch loop: epoch i/N, batches, running metrics, ETA (rich)."""

from __future__ import annotations

from rl_lab.tracking import live_progress


def short_metrics(metrics: dict[str, float]) -> str:
    """``{"train/loss": 0.41, "train/accuracy": 0.85}`` → ``"loss 0.410  accuracy 0.850"``."""
    return "  ".join(f"{tag.rpartition('/')[2]} {value:.3f}" for tag, value in metrics.items())


class EpochProgress:
    """One bar over the current epoch's batches, with the epoch's running training metrics.

    Args:
        epochs: epochs in the run.
        batches: mini-batches per epoch.
        enabled: ``False`` shows nothing (``progress=false``, tests, benchmarks).
    """

    def __init__(self, epochs: int, batches: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.epochs = epochs
        self._progress = live_progress("batches  {task.fields[metrics]}", enabled)
        self._task = self._progress.add_task("epoch", total=batches, metrics="")

    def __enter__(self) -> EpochProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()

    def start_epoch(self, epoch: int, done_batches: int = 0) -> None:
        """Reset the bar for ``epoch`` (1-based), ``done_batches`` already done (resume)."""
        if self.enabled:
            self._progress.reset(
                self._task,
                completed=done_batches,
                description=f"epoch {epoch}/{self.epochs}",
                metrics="",
            )

    def update(self, done_batches: int, metrics: dict[str, float]) -> None:
        """Move the bar to ``done_batches`` and show the running means ``metrics``."""
        if self.enabled:
            self._progress.update(
                self._task, completed=done_batches, metrics=short_metrics(metrics)
            )
