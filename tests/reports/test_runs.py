"""Reading run directories and results.json (rl_lab.reports.runs)."""

import json
from pathlib import Path

import numpy as np
import pytest

from rl_lab.reports.runs import (
    Results,
    ResultsError,
    job_number,
    read_hydra_config,
    read_results,
)
from rl_lab.reports.summary import summarize
from tests.reports.conftest import DQN, write_overrides, write_run


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


def test_results_schema_reads_a_completed_rl_run(tmp_path: Path):
    run_dir = write_run(tmp_path, "0", "dqn", 2, 480.0, best_eval={"mean_return": 500.0})
    results = read_results(run_dir)
    assert results is not None and read_results(run_dir / "results.json") == results
    assert (results.status, results.task, results.mode) == ("completed", "rl", "train")
    assert (results.agent, results.env, results.seed, results.env_steps) == (
        "dqn",
        "CartPole-v1",
        2,
        2000,
    )
    assert results.eval is not None and results.eval.episodes == 5
    assert results.final_return == 480.0 and results.best_eval == 500.0
    assert results.eval_history[-1] == (1800, 480.0)
    assert results.reward_threshold == 475.0
    assert results.overrides == ("agent=dqn", "env=CartPole-v1", "seed=2", "hydra.job.chdir=true")
    assert results.raw["config"] == {"agent": {"name": "dqn"}}  # the task's own entries
    assert results.headline() == {"mean_return": 480.0, "wall_time_s": 12.0, "sps": 198.0}


def test_results_schema_tolerates_failure_stubs_and_older_files():
    stub = Results.from_dict(
        {
            "status": "interrupted",
            "error": "stopped by SIGTERM\nresume with ...",
            "error_type": "InterruptedRunError",
            "seed": 3,
            "overrides": ["seed=3"],
        }
    )
    assert (stub.status, stub.seed, stub.overrides) == ("interrupted", 3, ("seed=3",))
    assert stub.error_line == "stopped by SIGTERM" and stub.error_type == "InterruptedRunError"
    assert stub.eval is None and np.isnan(stub.final_return) and stub.eval_history == ()
    # No task or mode (the first runs were all RL training), odd types read as "not recorded".
    old = Results.from_dict(
        {"status": "completed", "objective": 7, "seed": True, "sps": "fast", "best_eval": 9}
    )
    assert (old.task, old.mode, old.seed, old.overrides) == ("rl", "train", None, None)
    assert old.final_return == 7.0 and old.best_eval == 9.0 and np.isnan(old.sps)
    assert Results.from_dict({}).error_line == ""


def test_the_first_periodic_evaluation_at_a_threshold_and_an_early_stop():
    results = Results.from_dict(
        {
            "stopped_early_at": 3000,
            "eval_history": [
                {"env_steps": 1000, "mean_return": 100.0, "episodes": 40},
                "garbage",
                {"env_steps": 2000, "mean_return": 480.0, "episodes": 55},
                {"env_steps": 3000, "mean_return": 500.0},
            ],
        }
    )
    assert results.stopped_early_at == 3000
    assert results.first_reached(475) == (2000, 55)
    assert results.first_reached(500) == (3000, None)  # a run that did not record episodes
    assert results.first_reached(501) is None
    assert Results.from_dict({}).first_reached(0) is None and Results().stopped_early_at is None


def test_read_results_without_a_readable_file(tmp_path: Path):
    assert read_results(tmp_path) is None
    (tmp_path / "results.json").write_text('{"status": "comp')  # caught mid-write
    assert read_results(tmp_path) is None
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(ResultsError, match="is not a JSON object"):
        read_results(tmp_path, required=True)
    with pytest.raises(ResultsError, match="does not exist"):
        read_results(tmp_path / "missing", required=True)


def test_job_number_from_hydra_or_the_directory_name(tmp_path: Path):
    job = tmp_path / "7_dqn_CartPole-v1_s0"
    (job / ".hydra").mkdir(parents=True)
    assert job_number(job) == 7  # hydra.sweep.subdir starts with the job number
    (job / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    num: 12\n")
    assert job_number(job) == 12 and read_hydra_config(job) is not None
    (job / ".hydra" / "hydra.yaml").write_text("hydra: {job: [")  # a job that is starting
    assert read_hydra_config(job) is None and job_number(job) == 7
    assert job_number(tmp_path / "seed_3") is None
