"""The rl task module: presets, validation before work, what results.json records."""

from __future__ import annotations

import logging

from rl_lab import app
from rl_lab.rl.task import available_presets, preset_message
from tests.conftest import TINY


def test_a_run_says_which_preset_it_applied_or_that_none_exists(compose_cfg):
    level, line = preset_message(compose_cfg("agent=ppo", "env=Pendulum-v1"))
    assert level == logging.INFO and "ppo/Pendulum-v1 applied" in line
    level, line = preset_message(compose_cfg("agent=dqn", "env=CartPole-v0"))
    assert (
        level == logging.WARNING and "No tuned preset exists for agent=dqn on CartPole-v0" in line
    )
    assert "Nearest presets of dqn: CartPole-v1" in line
    level, line = preset_message(compose_cfg("agent=a2c", "env=LunarLanderContinuous-v3"))
    assert "Agents with a preset for LunarLanderContinuous-v3: " in line and "ppo" in line
    assert "CartPole-v1" in available_presets()["dqn"] and "_atari" not in available_presets()


def test_results_record_the_preset(compose_cfg, tmp_path):
    results = app.run(compose_cfg(*TINY), tmp_path, [])
    assert results["preset"] == "dqn/CartPole-v1"


def test_select_best_scores_best_pt_on_episodes_it_was_not_picked_on(compose_cfg, tmp_path):
    from rl_lab import checkpoint

    overrides = [*TINY, "eval.select=best", "eval.episodes=3", "eval.final_episodes=4"]
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    selection = results["selection"]
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    last = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert selection["env_steps"] == best["loop"]["env_steps"]
    assert selection["selection_mean_return"] == max(
        h["mean_return"] for h in results["eval_history"]
    )
    assert selection["final_seed"] == 1_000_000 + 3  # after the 3 selection episodes
    assert results["eval"]["episodes"] == 4
    # the last policy competed on the selection episodes too; last.pt keeps it for resuming
    assert results["eval_history"][-1]["env_steps"] == 1200 and last["loop"]["env_steps"] == 1200
    # the reported score is best.pt's on the disjoint episodes: mode=eval with those seeds agrees
    eval_overrides = [
        "mode=eval", f"checkpoint={tmp_path / 'checkpoints' / 'best.pt'}", "episodes=4",
        "eval.seed=1000003",
    ]  # fmt: skip
    scored = app.run(compose_cfg(*eval_overrides), tmp_path / "eval", eval_overrides)
    assert scored["eval"]["returns"] == results["eval"]["returns"]
    assert last["agent"]["updates"] == 250 >= best["agent"]["updates"]
