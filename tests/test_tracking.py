"""The progress display every loop shares: its columns, and that a disabled one stays silent."""

from __future__ import annotations

import io

from rich.console import Console

from rl_lab.supervised.progress import EpochProgress
from rl_lab.tracking import CONSOLE, ProgressBar, live_progress


def rendered(progress) -> str:
    """The progress rows as plain text."""
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(progress.make_tasks_table(progress.tasks))
    return console.file.getvalue()


def test_a_disabled_progress_renders_nothing_and_raises_nothing() -> None:
    with CONSOLE.capture() as captured:
        progress = live_progress("steps  SPS {task.fields[sps]}", enabled=False)
        task = progress.add_task("dqn", total=10, sps="-")
        with progress:
            progress.update(task, completed=5, sps="123")
        with ProgressBar(100, "dqn CartPole-v1", enabled=False) as bar:
            bar.update(50, 12.5, 1000.0)
        with EpochProgress(epochs=2, batches=4, enabled=False) as epochs:
            epochs.start_epoch(1)
            epochs.update(2, {"train/loss": 0.5})
    assert captured.get() == ""


def test_the_shared_columns_show_the_count_the_fields_and_the_eta() -> None:
    progress = live_progress("batches  {task.fields[metrics]}")
    task = progress.add_task("epoch 1/3", total=40, metrics="loss 0.410")
    progress.update(task, completed=10)
    row = rendered(progress)
    assert "epoch 1/3" in row and "10/40" in row and "batches  loss 0.410" in row
    assert "ETA" in row
