"""The progress display every loop shares (its columns, and that a disabled one stays silent),
and what TensorBoard shows of an RL run: the returns chart and the greedy episode."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageSequence
from rich.console import Console

from rl_lab import app
from rl_lab.supervised.progress import EpochProgress
from rl_lab.tracking import (
    CONSOLE,
    THRESHOLD_TAG,
    VIDEO_TAG,
    ProgressBar,
    Tracker,
    live_progress,
)
from tests.conftest import TINY
from tests.tensorboard_data import TensorBoardView


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


# ------------------------------------------------------------------ TensorBoard views of RL runs
RETURNS_CHART = "training return, evaluation return and the reward threshold"
RETURN_TAGS = ["^charts/episodic_return$", "^eval/mean_return$", f"^{THRESHOLD_TAG}$"]


def test_the_returns_chart_draws_the_threshold_across_the_budget(tmp_path) -> None:
    tracker = Tracker(tmp_path / "with")
    tracker.returns_chart(475.0, start_step=0, last_step=5000)
    tracker.close()
    tracker = Tracker(tmp_path / "without")  # an env without a threshold (Pendulum)
    tracker.returns_chart(None, start_step=0, last_step=5000)
    tracker.close()
    view = TensorBoardView(tmp_path)
    # one chart for every run: the same layout merges into one
    assert view.layout() == {"returns": {RETURNS_CHART: {"multiline": {"tag": RETURN_TAGS}}}}
    scalars = view.scalars()
    assert scalars["with"] == {THRESHOLD_TAG: [(0, 475.0), (5000, 475.0)]}
    assert THRESHOLD_TAG not in scalars.get("without", {})


def test_a_video_is_the_gif_file_as_tensorboard_shows_it(tmp_path) -> None:
    frames = [Image.new("RGB", (12, 8), (40 * i, 0, 0)) for i in range(5)]
    gif = tmp_path / "episode.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=33, loop=0)
    tracker = Tracker(tmp_path / "tb")
    tracker.video(VIDEO_TAG, gif, 700)
    tracker.close()
    [(step, width, height, encoded)] = TensorBoardView(tmp_path).images("tb", VIDEO_TAG)
    assert (step, width, height) == (700, 12, 8)
    assert encoded == gif.read_bytes()
    assert Image.open(io.BytesIO(encoded)).n_frames == 5  # animated, as add_video's GIFs


def test_an_rl_run_shows_its_returns_chart_and_its_greedy_episode(compose_cfg, tmp_path) -> None:
    cfg = compose_cfg(*TINY, "record_video=true")
    results = app.run(cfg, tmp_path / "run", ["record_video=true"])
    view = TensorBoardView(tmp_path)
    assert view.layout()["returns"][RETURNS_CHART] == {"multiline": {"tag": RETURN_TAGS}}
    scalars = view.scalars("run/tb")["run/tb"]
    assert scalars[THRESHOLD_TAG] == [(0, 475.0), (1200, 475.0)]  # CartPole-v1's threshold
    final_eval = scalars["eval/mean_return"][-1]
    assert final_eval == (1200, pytest.approx(results["eval"]["mean_return"]))  # float32
    assert scalars["charts/episodic_return"]  # the training return shares the chart
    [(step, width, height, encoded)] = view.images("run/tb", VIDEO_TAG)
    gif = tmp_path / "run" / results["video"]
    assert (step, width, height) == (1200, 600, 400) and encoded == gif.read_bytes()
    # the greedy episode from reset(seed=eval.seed), the first final-eval episode: one frame
    # per step plus the first (CartPole pays 1 per step); GIF shows repeated frames as one
    # longer frame, so count in frame durations
    durations = [frame.info["duration"] for frame in ImageSequence.Iterator(Image.open(gif))]
    assert sum(durations) == min(durations) * (results["eval"]["returns"][0] + 1)


def test_a_resumed_run_draws_the_threshold_to_its_new_budget(compose_cfg, tmp_path) -> None:
    app.run(compose_cfg(*TINY, "total_steps=800"), tmp_path / "run", [])
    overrides = ["resume=true", "total_steps=1200"]
    app.run(compose_cfg(*TINY, *overrides), tmp_path / "run", overrides)
    scalars = TensorBoardView(tmp_path).scalars("run/tb")["run/tb"]
    # the first session's line ends at its budget, the resumed one extends it
    assert scalars[THRESHOLD_TAG] == [(0, 475.0), (800, 475.0), (1200, 475.0)]
    assert [step for step, _ in scalars["eval/mean_return"]] == [400, 800, 1200]
