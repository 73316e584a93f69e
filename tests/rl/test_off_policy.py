"""The off-policy loop (rl_lab/rl/off_policy.py): when it learns, how often, and what it
refuses."""

from __future__ import annotations

import pytest

from rl_lab import app
from rl_lab.errors import ConfigError
from tests.conftest import TINY


@pytest.mark.parametrize(
    ("num_envs", "train_freq", "gradient_steps"), [(1, 4, 1), (1, 2, 3), (2, 4, 2)]
)
def test_gradient_steps_follow_sb3s_schedule(
    compose_cfg, tmp_path, num_envs, train_freq, gradient_steps
):
    overrides = [
        *TINY, f"env.num_envs={num_envs}", f"agent.train_freq={train_freq}",
        f"agent.gradient_steps={gradient_steps}", "total_steps=1200", "agent.learning_starts=200",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    # one training phase every train_freq vector steps once learning has started
    vector_steps = range(1, 1200 // num_envs + 1)
    phases = sum(1 for v in vector_steps if v * num_envs > 200 and v % train_freq == 0)
    assert results["gradient_steps"] == phases * gradient_steps


def test_a_buffer_smaller_than_a_batch_is_refused(compose_cfg, tmp_path):
    cfg = compose_cfg(*TINY, "agent.buffer_size=8", "agent.batch_size=16")
    with pytest.raises(
        ConfigError, match="agent.buffer_size=8 is smaller than agent.batch_size=16"
    ):
        app.run(cfg, tmp_path / "run", [])


@pytest.mark.parametrize("train_freq", [1, 2])
def test_train_freq_can_count_finished_episodes(compose_cfg, tmp_path, train_freq):
    overrides = [
        *TINY, "agent.train_freq_unit=episode", f"agent.train_freq={train_freq}",
        "agent.gradient_steps=3", "agent.learning_starts=0",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    # one training phase each time train_freq more episodes have finished
    assert results["episodes"] >= 10
    assert results["gradient_steps"] == results["episodes"] // train_freq * 3


@pytest.mark.parametrize(("unit", "expected"), [("step", (1200 - 200) // 4 * 4), ("episode", 400)])
def test_gradient_steps_minus_one_trains_once_per_step_collected(
    compose_cfg, tmp_path, unit, expected
):
    """SB3's gradient_steps=-1: each phase trains as many steps as env steps it collected;
    Pendulum's episodes are 200 steps, so per episode phases end at 200 (before learning
    starts), 400 and 600."""
    from tests.rl.continuous import tiny

    total = 1200 if unit == "step" else 600
    overrides = [
        *tiny("td3"), f"agent.train_freq_unit={unit}", "agent.train_freq=4" if unit == "step"
        else "agent.train_freq=1", "agent.gradient_steps=-1", f"total_steps={total}",
        "agent.learning_starts=200",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["gradient_steps"] == expected
    with pytest.raises(ConfigError, match="gradient_steps=0 would never train"):
        app.run(compose_cfg(*tiny("td3"), "agent.gradient_steps=0"), tmp_path / "zero", [])
