"""Grouping runs by configuration and the statistics over seeds (rl_lab.reports.aggregate)."""

from pathlib import Path

import numpy as np
import pytest

from rl_lab.reports.summary import summarize
from rl_lab.stats import bootstrap_ci, interquartile_mean
from tests.reports.conftest import DQN, DQN_RETURNS, PPO, write_run


def test_groups_runs_by_overrides_without_seed_or_hydra(sweep: Path):
    groups = {g.label: g for g in summarize(sweep)}
    assert list(groups) == [DQN, PPO]
    dqn, ppo = groups[DQN], groups[PPO]
    assert (dqn.n_completed, dqn.n_total, dqn.n_failed) == (3, 4, 1)
    assert (ppo.n_completed, ppo.n_total, ppo.n_failed) == (3, 4, 0)
    assert dqn.seeds == (0, 1, 2) and ppo.seeds == (0, 1, 2)
    assert len(ppo.incomplete_paths) == 1 and ppo.incomplete_paths[0].name == "7"


def test_group_statistics(sweep: Path):
    dqn = {g.label: g for g in summarize(sweep)}[DQN]
    returns = list(DQN_RETURNS.values())
    assert dqn.mean_return == pytest.approx(np.mean(returns))
    assert dqn.ci_low < dqn.mean_return < dqn.ci_high
    assert (dqn.ci_low, dqn.ci_high) == bootstrap_ci(returns)
    assert dqn.iqm == pytest.approx(interquartile_mean(returns))
    assert dqn.success_rate == pytest.approx(2 / 3)  # 500 and 480 reach the env's 475
    assert dqn.threshold == 475.0
    assert dqn.median_wall_time_s == 11.0 and dqn.median_sps == 199.0
    # Learning curve on the steps covered by all three seeds (seed 2 stops at 1800).
    np.testing.assert_array_equal(dqn.curve_steps, [0, 1000, 1250, 1500, 1800])
    assert dqn.curve_mean[0] == 10.0
    assert np.all(dqn.curve_low <= dqn.curve_mean) and np.all(dqn.curve_mean <= dqn.curve_high)

    again = {g.label: g for g in summarize(sweep)}[DQN]
    assert (again.ci_low, again.ci_high) == (dqn.ci_low, dqn.ci_high)


def test_threshold_argument_overrides_env_threshold(sweep: Path):
    groups = {g.label: g for g in summarize(sweep, threshold=150.0)}
    assert groups[PPO].success_rate == pytest.approx(2 / 3)
    assert groups[DQN].success_rate == 1.0
    assert groups[PPO].threshold == 150.0


def test_failed_run_is_reported_and_does_not_stop_the_summary(sweep: Path):
    dqn = {g.label: g for g in summarize(sweep)}[DQN]
    (failure,) = dqn.failures
    assert failure.seed == 3
    assert failure.error == "RuntimeError: replay buffer exploded"


def test_launcher_and_display_settings_do_not_split_groups(tmp_path: Path):
    for seed, address, progress in ((0, "auto", "true"), (1, "null", "false")):
        overrides = [
            "agent=dqn",
            f"seed={seed}",
            f"launcher.address={address}",
            "hydra/launcher=ray",
            f"progress={progress}",
        ]
        write_run(tmp_path, str(seed), "dqn", seed, 100.0, overrides=overrides)
    (group,) = summarize(tmp_path)
    assert group.label == "agent=dqn" and group.n_completed == 2
