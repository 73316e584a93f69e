"""Sweeps at scale: parallel (joblib), distributed (Ray) and SLURM (submitit, run locally)
launchers, and the rl_lab.sweeps helpers (thread limits, best-trial preset, trials, HPARAMS
view). The Optuna search, ``python -m rl_lab.tune``, is tested in test_tune.py."""

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from rl_lab import app
from rl_lab.reports.hparams import MISSING, harmonize
from rl_lab.reports.summary import build_report
from rl_lab.reports.trials import Trial, best_trial, rank_trials, trial_params
from rl_lab.sweeps import best_preset, threads
from rl_lab.sweeps.failed_trials import FailedTrialError, NanAsFailedTrial
from tests.conftest import TINY, free_port, run_cli

# ---------------------------------------------------------------------------------------------
# Thread limits


@pytest.mark.parametrize(
    ("launcher", "cores", "expected"),
    [
        ({"n_jobs": 2}, 2, 1),
        ({"n_jobs": -1}, 8, 1),  # joblib: -1 = one job per core
        ({"n_jobs": 2}, 8, 4),
        ({"n_jobs": -3}, 8, 1),  # 8 + 1 - 3 = 6 jobs at once
        ({"n_jobs": 4}, 2, 1),  # more jobs than cores: still one thread each
        ({"ray": {"init": {}, "remote": {"num_cpus": 3}}}, 16, 3),
        ({"ray": {"init": {}, "remote": {}}}, 16, 1),  # Ray reserves one CPU per task
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 4, 4),
    ],
)
def test_job_cpus_is_the_jobs_share_of_the_cores(launcher, cores, expected):
    assert threads.job_cpus(launcher, cores) == expected


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    for name in threads.THREAD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_job_threads_limits_a_multirun_job(restore_threads, monkeypatch, caplog):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    config = OmegaConf.create(
        {"torch_threads": 3, "hydra": {"mode": "MULTIRUN", "launcher": {"n_jobs": 2}}}
    )
    threads.JobThreads().on_job_start(config, task_function=None)
    assert torch.get_num_threads() == 2
    assert all(os.environ[name] == "2" for name in threads.THREAD_ENV_VARS)
    assert "torch_threads=3 but this job's share of the 4 cores is 2" in caplog.text


def test_job_threads_leaves_single_runs_alone(restore_threads):
    config = OmegaConf.create(
        {"torch_threads": 1, "hydra": {"mode": "RUN", "launcher": {"n_jobs": 2}}}
    )
    before = torch.get_num_threads()
    threads.JobThreads().on_job_start(config, task_function=None)
    assert torch.get_num_threads() == before
    assert "OMP_NUM_THREADS" not in os.environ


def test_two_sweeps_started_in_the_same_second_get_their_own_directories():
    from hydra import compose, initialize_config_dir
    from hydra.core.utils import setup_globals

    import rl_lab.__main__ as entry

    setup_globals()  # Hydra's ${now:...} resolver
    dirs = []
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        for _ in range(2):
            cfg = compose(config_name="config", return_hydra_config=True)
            dirs.append((cfg.hydra.sweep.dir, cfg.hydra.run.dir))
    (sweep_a, run_a), (sweep_b, run_b) = dirs
    assert sweep_a != sweep_b and run_a != run_b
    assert re.fullmatch(r"outputs/multirun/\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}-\d{6}", sweep_a)
    assert run_a.endswith("_dqn_CartPole-v1_s0")  # the task's run name is kept


# ---------------------------------------------------------------------------------------------
# Failed trials, best-trial preset, trials, HPARAMS values


def _job_return(value: object) -> JobReturn:
    job = JobReturn(status=JobStatus.COMPLETED)
    job.return_value = value
    return job


def test_nan_objective_becomes_a_failed_optuna_trial(tmp_path: Path):
    (tmp_path / "results.json").write_text(
        json.dumps({"status": "failed", "error": "Invalid configuration: batch_size\nmore"})
    )
    optuna = {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"}
    config = OmegaConf.create(
        {"hydra": {"sweeper": optuna, "runtime": {"output_dir": str(tmp_path)}}}
    )
    job = _job_return(math.nan)
    NanAsFailedTrial().on_job_end(config, job)
    assert job.status == JobStatus.FAILED
    with pytest.raises(FailedTrialError, match="Invalid configuration: batch_size$"):
        _ = job.return_value

    finite = _job_return(12.5)
    NanAsFailedTrial().on_job_end(config, finite)
    assert finite.status == JobStatus.COMPLETED and finite.return_value == 12.5
    # Other sweepers keep the NaN: a failed job would stop their sweep.
    basic = OmegaConf.create({"hydra": {"sweeper": {"_target_": "BasicSweeper"}}})
    kept = _job_return(math.nan)
    NanAsFailedTrial().on_job_end(basic, kept)
    assert kept.status == JobStatus.COMPLETED


def test_config_difference_keeps_only_what_the_preset_must_set():
    baseline = {"seed": 0, "agent": {"lr": 1e-3, "net": [64, 64], "gamma": 0.99}, "gone": 1}
    config = {"seed": 0, "agent": {"lr": 5e-4, "net": [16, 16], "gamma": 0.99}, "new": {"a": 1}}
    assert best_preset.config_difference(config, baseline) == {
        "agent": {"lr": 5e-4, "net": [16, 16]},
        "new": {"a": 1},
    }


def _write_job(root: Path, number: int, objective: float, status: str = "completed") -> Path:
    job = root / f"{number}_dqn_CartPole-v1_s0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  job:\n    num: {number}\n  runtime:\n    choices:\n"
        "      agent: dqn\n      experiment: dqn_cartpole_search\n      hydra/sweeper: optuna\n"
    )
    (job / "config.yaml").write_text(f"seed: 0\nagent:\n  learning_rate: {number}.0\n")
    results = {"status": status, "objective": objective, "seed": 0}
    (job / "results.json").write_text(json.dumps(results))
    return job


def test_best_job_is_the_earliest_of_the_best(tmp_path: Path):
    _write_job(tmp_path, 0, 100.0)
    _write_job(tmp_path, 1, 500.0)
    _write_job(tmp_path, 2, 500.0)
    _write_job(tmp_path, 3, 900.0, status="failed")
    best = best_preset.find_best_job(tmp_path, "maximize")
    assert (best.number, best.objective) == (1, 500.0)
    assert best.choices["agent"] == "dqn"
    assert best_preset.group_overrides(best.choices) == ["agent=dqn"]
    assert best_preset.find_best_job(tmp_path, "minimize").number == 0


def test_best_preset_needs_a_completed_job(tmp_path: Path):
    _write_job(tmp_path, 0, math.nan)
    with pytest.raises(best_preset.PresetError, match="no completed job"):
        best_preset.find_best_job(tmp_path)


def test_trials_rank_best_first_then_failed_then_running(tmp_path: Path):
    def trial(number, state, objective):
        return Trial(number, state, objective, {}, tmp_path)

    trials = [
        trial(0, "completed", 3.0),
        trial(1, "failed", math.nan),
        trial(2, "incomplete", math.nan),
        trial(3, "completed", 1.0),
        trial(4, "completed", 3.0),
    ]
    assert [t.number for t in rank_trials(trials, "maximize")] == [0, 4, 3, 1, 2]
    assert [t.number for t in rank_trials(trials, "minimize")] == [3, 0, 4, 1, 2]
    assert best_trial(trials, "maximize").number == 0
    assert best_trial(trials[1:3], "maximize") is None


def test_trial_params_are_the_searched_and_varying_keys():
    overrides = [
        ["a.lr=0.1", "b=1", "experiment=x"],
        ["a.lr=0.2", "b=2", "experiment=x"],
        ["a.lr=0.3"],  # a job that has only started: run_info.json with fewer overrides
    ]
    assert trial_params(overrides, ["a.lr"]) == [
        {"a.lr": "0.1", "b": "1"},
        {"a.lr": "0.2", "b": "2"},
        {"a.lr": "0.3"},
    ]


def test_harmonize_gives_every_job_the_same_keys_and_types():
    rows, keys = harmonize(
        [
            {"lr": 1e-3, "n_epochs": 10, "double_q": True, "name": "dqn"},
            {"lr": 3, "double_q": False, "name": "dqn"},
        ]
    )
    assert keys == ["double_q", "lr", "n_epochs", "name"]  # differing first, then constant
    assert rows[0] == {"lr": 1e-3, "n_epochs": "10", "double_q": True, "name": "dqn"}
    assert rows[1] == {"lr": 3.0, "n_epochs": MISSING, "double_q": False, "name": "dqn"}
    assert isinstance(rows[1]["lr"], float)


# ---------------------------------------------------------------------------------------------
# Launchers and the search end to end, on tiny budgets


def _jobs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit())


def _results(job: Path) -> dict:
    return json.loads((job / "results.json").read_text())


def _job_threads(job: Path) -> tuple[int, int]:
    """(threads, cores) from the job's "Job threads: N (this job's share of C cores)" line."""
    log = (job / "run.log").read_text()
    found = re.search(r"Job threads: (\d+) \(this job's share of (\d+) cores\)", log)
    assert found, f"no 'Job threads' line in {job / 'run.log'}"
    return int(found[1]), int(found[2])


def test_joblib_sweep_keeps_going_past_a_failed_job(compose_cfg, tmp_path):
    # gamma=1.5 fails validation: that job records the failure, the other one still trains.
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        *TINY,
        "agent.gamma=0.99,1.5",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    ok, failed = _jobs(sweep)
    assert _results(ok)["status"] == "completed"
    assert any((ok / "tb").iterdir())
    assert _results(failed)["status"] == "failed"
    assert "agent.gamma" in _results(failed)["error"]
    # Each job ran with its share of the cores it saw (two jobs at once), however many it has.
    job_threads, cores = _job_threads(ok)
    assert job_threads == max(1, cores // 2)

    # The same config trained alone gives the same result: parallel jobs do not change numbers.
    alone = app.run(compose_cfg(*TINY, "agent.gamma=0.99"), tmp_path / "alone", [])
    assert alone["objective"] == _results(ok)["objective"]

    good, bad = sorted(build_report(sweep).groups, key=lambda g: "gamma=1.5" in g.label)
    assert (good.n_completed, good.n_failed) == (1, 0)
    assert (bad.n_completed, bad.n_failed) == (0, 1)
    assert "agent.gamma" in bad.failures[0].error


def test_ray_sweep_on_a_local_instance(tmp_path, monkeypatch):
    # Without a cluster Ray binds the local instance to loopback only.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    proc = run_cli(
        "-m",
        *TINY,
        "seed=0,1",
        "hydra/launcher=ray",
        "launcher.num_cpus=2",
        f"hydra.sweep.dir={tmp_path}",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Started a local Ray instance" in proc.stdout + proc.stderr
    jobs = _jobs(tmp_path)
    assert [p.name for p in jobs] == ["0_dqn_CartPole-v1_s0", "1_dqn_CartPole-v1_s1"]
    assert [_results(job)["seed"] for job in jobs] == [0, 1]
    assert all(_results(job)["status"] == "completed" for job in jobs)
    assert _job_threads(jobs[0])[0] == 1  # launcher.cpus_per_job=1, whatever the cores
    (group,) = build_report(tmp_path).groups  # launcher.num_cpus does not split the group
    assert group.n_completed == 2 and group.seeds == (0, 1)


@pytest.fixture
def ray_cluster(monkeypatch):
    """A Ray cluster started apart from the sweep, as on real machines: a head node (`ray start
    --head --block`) on loopback with a free port and token authentication, in a process group
    of its own, stopped after the test (killed if it lingers). Yields its address; the test's
    environment carries the token, as every client of such a cluster needs."""
    token = secrets.token_hex(16)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must be short
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    with open(temp / "head.log", "w") as log:
        head = subprocess.Popen(
            [ray, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={temp}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "will now block forever" not in (temp / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start:\n{(temp / 'head.log').read_text()}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_sweep_on_a_separately_started_cluster(tmp_path, ray_cluster):
    proc = run_cli(
        "-m", *TINY, "seed=0,1", "hydra/launcher=ray", f"launcher.address={ray_cluster}",
        f"hydra.sweep.dir={tmp_path}", timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "Connecting to existing Ray cluster" in output
    assert "Started a local Ray instance" not in output
    jobs = _jobs(tmp_path)
    assert [_results(job)["seed"] for job in jobs] == [0, 1]
    assert all(_results(job)["status"] == "completed" for job in jobs)


def test_submitit_local_sweep(tmp_path):
    # hydra-submitit-launcher's local executor: the same job objects its SLURM executor submits
    proc = run_cli(
        "-m",
        *TINY,
        "seed=0,1",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={tmp_path}",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = _jobs(tmp_path)
    assert [p.name for p in jobs] == ["0_dqn_CartPole-v1_s0", "1_dqn_CartPole-v1_s1"]
    assert all(_results(job)["status"] == "completed" for job in jobs)
    (group,) = build_report(tmp_path).groups
    assert group.n_completed == 2 and group.seeds == (0, 1)
