"""Tests for rl_lab.summarize on hand-written run directories."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import api_pb2, metadata

from rl_lab.stats import bootstrap_ci, interquartile_mean
from rl_lab.summarize import build_report, main, summarize

REPO_ROOT = Path(__file__).resolve().parents[1]
DQN = "agent=dqn env=CartPole-v1"
PPO = "agent=ppo env=CartPole-v1"
DQN_RETURNS = {0: 500.0, 1: 480.0, 2: 300.0}
PPO_RETURNS = {0: 100.0, 1: 200.0, 2: 150.0}


def write_overrides(run_dir: Path, overrides: list[str]) -> None:
    """Write Hydra's .hydra/overrides.yaml for a job directory."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def write_run(
    root: Path,
    name: str,
    agent: str,
    seed: int,
    final_return: float = 0.0,
    status: str = "completed",
    overrides: list[str] | None = None,
    **extra: object,
) -> Path:
    """Write a results.json like the one the training entry point produces."""
    run_dir = root / name
    if overrides is None:
        overrides = [f"agent={agent}", "env=CartPole-v1", f"seed={seed}", "hydra.job.chdir=true"]
    write_overrides(run_dir, overrides)
    results = {
        "status": status,
        "task": "rl",
        "agent": agent,
        "env": "CartPole-v1",
        "seed": seed,
        "env_steps": 2000,
        "wall_time_s": 10.0 + seed,
        "sps": 200.0 - seed,
        "reward_threshold": 475.0,
        "eval": {"mean_return": final_return, "std_return": 0.0, "episodes": 5, "returns": []},
        # Seeds evaluate at different steps; seed 2 stops at 1800.
        "eval_history": [
            {"env_steps": 0, "mean_return": 10.0, "std_return": 0.0},
            {"env_steps": 1000 + 250 * seed, "mean_return": final_return / 2, "std_return": 0.0},
            {"env_steps": 2000 - 100 * seed, "mean_return": final_return, "std_return": 0.0},
        ],
        "overrides": overrides,
        "config": {"agent": {"name": agent}},
    }
    results.update(extra)
    (run_dir / "results.json").write_text(json.dumps(results))
    # The resolved config the app writes; each agent has a key the other lacks.
    own_key = "exploration_fraction: 0.1" if agent == "dqn" else "n_epochs: 10"
    (run_dir / "config.yaml").write_text(
        f"seed: {seed}\nagent:\n  name: {agent}\n  learning_rate: 0.001\n  {own_key}\n"
        "  hidden_sizes: [64, 64]\n"
    )
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A multirun: 2 agents x 3 seeds, a failed DQN seed 3, a PPO seed 3 still in progress."""
    root = tmp_path / "multirun"
    job = 0
    for agent, returns in (("dqn", DQN_RETURNS), ("ppo", PPO_RETURNS)):
        for seed, final in returns.items():
            write_run(root, str(job), agent, seed, final)
            job += 1
    error = "RuntimeError: replay buffer exploded\n  more traceback lines"
    write_run(root, str(job), "dqn", 3, status="failed", error=error, eval=None)
    write_overrides(root / str(job + 1), ["agent=ppo", "env=CartPole-v1", "seed=3"])
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


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


def test_writes_csv_markdown_and_png(sweep: Path, tmp_path: Path):
    out = tmp_path / "report"
    summarize(sweep, out_dir=out)
    with (out / "summary.csv").open(newline="") as handle:
        rows = {row["label"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {DQN, PPO}
    ppo = rows[PPO]
    assert (ppo["n_completed"], ppo["n_total"], ppo["n_failed"]) == ("3", "4", "0")
    assert float(ppo["mean_return"]) == pytest.approx(150.0)
    assert float(ppo["iqm"]) == pytest.approx(150.0)
    assert float(ppo["success_rate"]) == 0.0
    assert float(ppo["threshold"]) == 475.0
    assert float(ppo["ci_low"]) < 150.0 < float(ppo["ci_high"])
    assert ppo["seeds"] == "0 1 2"

    markdown = (out / "summary.md").read_text()
    assert f"| {DQN} | 3/4 |" in markdown
    assert "## Failed runs" in markdown
    assert "RuntimeError: replay buffer exploded" in markdown
    assert "more traceback lines" not in markdown  # first line of the error only
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (sweep / "summary.csv").exists()


def test_failed_run_is_reported_and_does_not_stop_the_summary(sweep: Path):
    dqn = {g.label: g for g in summarize(sweep)}[DQN]
    (failure,) = dqn.failures
    assert failure.seed == 3
    assert failure.error == "RuntimeError: replay buffer exploded"


def test_cli_prints_table_and_failures(
    sweep: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "200")  # rich would otherwise fold labels at 80 columns
    assert main([str(sweep), "--threshold", "450"]) == 0
    stdout = capsys.readouterr().out
    assert "agent=dqn" in stdout and "agent=ppo" in stdout
    assert "Failed runs" in stdout and "replay buffer exploded" in stdout
    assert (sweep / "summary.md").exists()


def test_label_falls_back_to_agent_env_and_partial_results_are_incomplete(tmp_path: Path):
    for seed in (0, 1):
        write_run(tmp_path, f"s{seed}", "dqn", seed, 400.0, overrides=[f"seed={seed}"])
    # In progress, only a seed override; run_info.json is written when a run starts.
    (tmp_path / "s2").mkdir()
    (tmp_path / "s2" / "run_info.json").write_text(json.dumps({"seed": 2, "overrides": ["seed=2"]}))
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / "results.json").write_text('{"status": "comp')  # caught mid-write
    write_run(tmp_path, "s4", "dqn", 4, 1.0, status="interrupted", overrides=["seed=4"])

    (group,) = summarize(tmp_path)
    assert group.label == "dqn CartPole-v1"
    assert (group.n_completed, group.n_total) == (2, 5)
    assert group.mean_return == 400.0 and (group.ci_low, group.ci_high) == (400.0, 400.0)


def test_cli_exits_2_with_message_on_dir_without_runs(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no runs here")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "rl_lab.summarize", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no runs found under" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_cli_exits_2_on_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_overrides_missing_from_results_are_read_from_hydra_dir(tmp_path: Path):
    for seed in (0, 1):
        run_dir = write_run(tmp_path, str(seed), "dqn", seed, 100.0 * (seed + 1))
        results = json.loads((run_dir / "results.json").read_text())
        del results["overrides"]  # only .hydra/overrides.yaml knows the job's overrides
        (run_dir / "results.json").write_text(json.dumps(results))

    (group,) = summarize(tmp_path)
    assert group.label == DQN
    assert group.seeds == (0, 1) and group.mean_return == 150.0


def test_sweep_that_just_started_is_summarised_as_incomplete(tmp_path: Path):
    # Jobs started (Hydra wrote .hydra/, the app run_info.json) but none has finished yet.
    for job in range(2):
        write_overrides(tmp_path / str(job), ["agent=dqn", f"seed={job}"])
    (tmp_path / "1" / "run_info.json").write_text(
        json.dumps({"seed": 1, "overrides": ["agent=dqn", "seed=1"]})
    )

    (group,) = summarize(tmp_path)
    assert (group.n_completed, group.n_total) == (0, 2)
    assert np.isnan(group.mean_return)
    assert "| agent=dqn | 0/2 |" in (tmp_path / "summary.md").read_text()


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


def test_one_learning_curve_plot_per_group(sweep: Path):
    groups = summarize(sweep)
    plots = sorted((sweep / "curves").glob("*.png"))
    assert [p.name for p in plots] == [
        "00_agent=dqn_env=CartPole-v1.png",
        "01_agent=ppo_env=CartPole-v1.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots)
    assert len(groups[0].histories) == 3  # the completed seeds' curves are drawn


def _hparams_events(view: Path) -> dict[str, dict[str, object]]:
    """Per run folder of the HPARAMS view: its hparams plugin payloads and scalars."""
    runs: dict[str, dict[str, object]] = {}
    for path in view.glob("**/events.out.tfevents.*"):
        run = runs.setdefault(str(path.parent.relative_to(view)), {})
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == metadata.PLUGIN_NAME:
                    run[value.tag] = value.metadata.plugin_data.content
                elif plugin == "scalars":  # the loader turns simple values into tensors
                    run[value.tag] = value.tensor.float_val[0]
    return runs


def test_hparams_view_has_every_job_with_the_same_keys(sweep: Path):
    summarize(sweep)
    runs = _hparams_events(sweep / "hparams")
    experiment = metadata.parse_experiment_plugin_data(runs.pop(".")[metadata.EXPERIMENT_TAG])
    keys = [info.name for info in experiment.hparam_infos]
    # Union of both agents' keys; keys that differ between jobs come first.
    assert set(keys) == {
        "seed",
        "agent.name",
        "agent.learning_rate",
        "agent.exploration_fraction",
        "agent.n_epochs",
        "agent.hidden_sizes",
    }
    assert set(keys[:4]) == {"seed", "agent.name", "agent.exploration_fraction", "agent.n_epochs"}
    types = {info.name: info.type for info in experiment.hparam_infos}
    assert types["agent.learning_rate"] == api_pb2.DATA_TYPE_FLOAT64
    assert types["agent.n_epochs"] == api_pb2.DATA_TYPE_STRING  # DQN jobs lack it: "n/a"
    assert {m.name.tag for m in experiment.metric_infos} == {
        "objective",
        "run/wall_time_s",
        "run/sps",
    }

    # 7 jobs have a config (3 + 3 completed, 1 failed); the one that has not started has none.
    assert len(runs) == 7
    statuses, groups = [], set()
    for run in runs.values():
        start = metadata.parse_session_start_info_plugin_data(run[metadata.SESSION_START_INFO_TAG])
        assert set(start.hparams) == set(keys)
        groups.add(start.group_name)
        end = metadata.parse_session_end_info_plugin_data(run[metadata.SESSION_END_INFO_TAG])
        statuses.append(end.status)
        if end.status == api_pb2.STATUS_SUCCESS:
            assert run["objective"] in {*DQN_RETURNS.values(), *PPO_RETURNS.values()}
        else:
            assert "objective" not in run
    assert statuses.count(api_pb2.STATUS_FAILURE) == 1
    assert groups == {DQN, PPO}

    summarize(sweep)  # a second summary replaces the view instead of adding to it
    assert len(list((sweep / "hparams").glob("**/events.out.tfevents.*"))) == 8


def write_trial(
    root: Path,
    number: int,
    lr: str,
    objective: float | None,
    status: str = "completed",
    **extra: object,
) -> Path:
    """A job of an Optuna sweep: its results.json and Hydra's record of the sweeper."""
    overrides = [f"agent.learning_rate={lr}", "experiment=dqn_cartpole_search", "total_steps=500"]
    run_dir = write_run(
        root,
        f"{number}_dqn_CartPole-v1_s0",
        "dqn",
        0,
        objective if objective is not None else 0.0,
        status=status,
        overrides=overrides,
        objective=objective,
        **extra,
    )
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n"
        "  sweeper:\n"
        "    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper\n"
        "    direction: maximize\n"
        "    n_trials: 6\n"
        "    params:\n"
        "      agent.learning_rate: tag(log, interval(1e-4, 1e-2))\n"
        f"  job:\n    num: {number}\n"
    )
    return run_dir


@pytest.fixture
def optuna_sweep(tmp_path: Path) -> Path:
    """Six trials: two tie for the best value, one failed, one still running."""
    root = tmp_path / "search"
    for number, lr, objective in ((0, "0.001", 200.0), (1, "0.002", 500.0), (3, "0.004", 500.0)):
        write_trial(root, number, lr, objective)
    write_trial(root, 2, "0.003", 120.0)
    write_trial(root, 4, "0.5", None, status="failed", error="ConfigError: bad lr")
    (root / "5_dqn_CartPole-v1_s0").mkdir()
    (root / "5_dqn_CartPole-v1_s0" / "run_info.json").write_text(
        json.dumps({"seed": 0, "overrides": ["agent.learning_rate=0.006"]})
    )
    return root


def test_optuna_trials_sorted_by_objective_with_the_best_marked(optuna_sweep: Path):
    report = build_report(optuna_sweep)
    assert report.search is not None and report.search.direction == "maximize"
    with (optuna_sweep / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial"] for r in rows] == ["1", "3", "0", "2", "4", "5"]
    assert [r["state"] for r in rows] == ["completed"] * 4 + ["failed", "incomplete"]
    assert [r["best"] for r in rows] == ["yes", "", "", "", "", ""]  # the earlier of the tie
    assert rows[0]["params"] == "agent.learning_rate=0.002"
    assert float(rows[0]["objective"]) == 500.0 and rows[4]["objective"] == ""
    markdown = (optuna_sweep / "trials.md").read_text()
    assert "| 1 | 1 ★ | completed | 500.00 | agent.learning_rate=0.002 |" in markdown
    assert "5/6 trials finished" in markdown


def test_cli_prints_the_trials_of_an_optuna_sweep(
    optuna_sweep: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "200")
    assert main([str(optuna_sweep)]) == 0
    stdout = capsys.readouterr().out
    assert "Optuna trials (5/6 finished, objective maximized)" in stdout
    assert "1 ★" in stdout
    assert "tensorboard --logdir" in stdout


def test_plain_sweep_has_no_trials_table(sweep: Path):
    report = build_report(sweep)
    assert report.search is None and not (sweep / "trials.csv").exists()
