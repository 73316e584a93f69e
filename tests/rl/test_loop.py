"""What every RL loop shares (rl_lab/rl/loop.py): the schedule of logs, evaluations and
checkpoints, and the counters a checkpoint carries."""

from __future__ import annotations

import pytest

from rl_lab import app, checkpoint
from rl_lab.rl.loop import LoopState, crossed
from tests.conftest import TINY


@pytest.mark.parametrize(
    ("before", "after", "every", "due"),
    [
        (0, 4, 4, True),  # lands on a multiple
        (3, 5, 4, True),  # steps over one (vector envs move several steps at once)
        (4, 7, 4, False),  # the multiple was already passed
        (0, 100, 0, False),  # 0 = never
        (7, 16, 8, True),
    ],
)
def test_crossed_tells_when_a_multiple_lies_in_the_step(before, after, every, due):
    assert crossed(before, after, every) is due


def test_evaluations_and_checkpoints_follow_their_frequencies(compose_cfg, tmp_path):
    overrides = [*TINY, "env.num_envs=3", "total_steps=1500", "eval.freq=500"]
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    # 3 envs move 3 steps at a time: each multiple of 500 is crossed once, the last eval is the
    # final one at the end of training
    steps = [h["env_steps"] for h in results["eval_history"]]
    assert steps[:2] == [501, 1002] and steps[-1] == results["env_steps"] == 1500
    saved = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    state = LoopState(**saved["loop"])
    assert state.env_steps == 1500 and state.vector_steps == 500
    assert state.eval_history == results["eval_history"]
    assert state.episodes == results["episodes"] > 0
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    assert best["loop"]["best_eval_return"] == max(
        h["mean_return"] for h in results["eval_history"]
    )
