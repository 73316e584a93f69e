"""The run directory's rules: one owner, nothing of a finished run lost, clean stops.

- a refused run writes nothing into a directory that holds a run;
- a finished run's results.json, config.yaml and run_info.json change only by a resume of it;
- one process owns a directory (flock), and the kernel frees it when that process dies;
- an interruption's results.json says where the run stopped this time;
- a directory that cannot be written is refused before work starts, and a write failure
  mid-run stops the run cleanly with the last checkpoint intact.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rl_lab import app, checkpoint
from rl_lab.errors import (
    CheckpointError,
    ConfigError,
    InterruptedRunError,
    RunDirError,
    TrainingDivergedError,
)
from rl_lab.run_dir import RunDirLock, check_creatable, holds_run
from tests.conftest import ROOT, TINY, run_cli


def train(compose_cfg, run_dir, *overrides):
    return app.run(compose_cfg(*TINY, *overrides), run_dir, list(overrides))


def snapshot(run_dir: Path) -> dict[str, str]:
    """Every file under ``run_dir`` with a hash of its bytes and its modification time."""
    found = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(run_dir))] = f"{digest} {path.stat().st_mtime_ns}"
    return found


@pytest.fixture
def finished(compose_cfg, tmp_path):
    """A finished tiny DQN run and the snapshot of its directory."""
    run_dir = tmp_path / "run"
    train(compose_cfg, run_dir, "total_steps=400")
    return run_dir, snapshot(run_dir)


def test_a_refused_new_run_leaves_a_finished_run_as_it_was(compose_cfg, finished):
    run_dir, before = finished
    with pytest.raises(RunDirError, match="already holds a run"):
        train(compose_cfg, run_dir, "total_steps=800")
    with pytest.raises(SystemExit) as stopped:
        app.run_and_report(compose_cfg(*TINY), run_dir, [], multirun=False)
    assert stopped.value.code == 2
    assert app.run_and_report(compose_cfg(*TINY), run_dir, [], multirun=True) != 0  # NaN
    assert snapshot(run_dir) == before


def test_the_cli_refuses_a_finished_run_directory_and_changes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli(*TINY, "total_steps=400", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()  # Hydra's record, written by rl_lab
    before = snapshot(run_dir)
    refused = run_cli(*TINY, "total_steps=800", f"hydra.run.dir={run_dir}")
    assert refused.returncode == 2
    assert "already holds a run" in refused.stderr and "Traceback" not in refused.stderr
    assert snapshot(run_dir) == before  # .hydra/ and run.log included


def test_a_resume_that_is_refused_changes_nothing(compose_cfg, finished):
    run_dir, before = finished
    cfg = compose_cfg("resume=true", "agent=td3", "env=Pendulum-v1")
    with pytest.raises(ConfigError, match="Cannot change `agent`"):
        app.run(cfg, run_dir, ["resume=true", "agent=td3", "env=Pendulum-v1"])
    assert snapshot(run_dir) == before


def test_resume_with_a_corrupt_last_checkpoint_keeps_config_and_run_info(compose_cfg, finished):
    run_dir, _ = finished
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as after a full disk
    before = snapshot(run_dir)
    cfg = compose_cfg(*TINY, "resume=true", "total_steps=800")
    with pytest.raises(CheckpointError):
        app.run(cfg, run_dir, ["resume=true", "total_steps=800"])
    assert snapshot(run_dir) == before


def test_resume_of_a_finished_run_changes_nothing(compose_cfg, finished):
    run_dir, before = finished
    results = app.run(compose_cfg(*TINY, "resume=true"), run_dir, ["resume=true"])
    assert results["status"] == "completed" and results["env_steps"] == 400
    history = json.loads((run_dir / "results.json").read_text())["eval_history"]
    assert [h["env_steps"] for h in history] == [400]  # no second entry for the same step
    assert snapshot(run_dir) == before


def test_a_longer_resume_replaces_the_results_and_keeps_the_provenance(compose_cfg, finished):
    run_dir, _ = finished
    started = json.loads((run_dir / "run_info.json").read_text())
    overrides = ["resume=true", "total_steps=800"]
    results = app.run(compose_cfg(*TINY, *overrides), run_dir, overrides)
    assert results["env_steps"] == 800
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["started_at"] == started["started_at"]  # the run's own start
    assert [r["overrides"] for r in info["resumes"]] == [overrides]


def test_a_failed_resume_of_a_finished_run_keeps_its_results(compose_cfg, finished, monkeypatch):
    run_dir, before = finished
    from rl_lab.rl import task

    def diverge(*args, **kwargs):
        raise TrainingDivergedError("The loss became nan")

    monkeypatch.setattr(task, "train", diverge)
    overrides = ["resume=true", "total_steps=800"]
    with pytest.raises(TrainingDivergedError):
        app.run(compose_cfg(*TINY, *overrides), run_dir, overrides)
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    assert snapshot(run_dir)["results.json"] == before["results.json"]


class StopAfter:
    """A stand-in for GracefulStop whose stop request arrives after ``checks`` checks."""

    def __init__(self, checks: int, signal_name: str) -> None:
        self.checks, self.signal_name = checks, signal_name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    @property
    def requested(self):
        self.checks -= 1
        return self.signal_name if self.checks < 0 else None


def test_each_interruption_records_where_it_stopped(compose_cfg, tmp_path, monkeypatch):
    from rl_lab.rl import off_policy

    run_dir = tmp_path / "run"
    overrides = ["total_steps=100000", "eval.freq=0", "checkpointing.freq=0"]
    monkeypatch.setattr(off_policy, "GracefulStop", lambda: StopAfter(300, "SIGTERM"))
    with pytest.raises(InterruptedRunError):
        train(compose_cfg, run_dir, *overrides)
    first = checkpoint.load(run_dir / "checkpoints" / "last.pt")["loop"]["env_steps"]
    assert (
        f"SIGTERM at env step {first:,}"
        in json.loads((run_dir / "results.json").read_text())["error"]
    )
    monkeypatch.setattr(off_policy, "GracefulStop", lambda: StopAfter(300, "SIGINT"))
    with pytest.raises(InterruptedRunError):
        app.run(compose_cfg(*TINY, *overrides, "resume=true"), run_dir, ["resume=true"])
    second = checkpoint.load(run_dir / "checkpoints" / "last.pt")["loop"]["env_steps"]
    results = json.loads((run_dir / "results.json").read_text())
    assert second > first
    assert results["status"] == "interrupted"
    assert f"SIGINT at env step {second:,}" in results["error"]


def test_a_second_process_is_refused_with_the_owner_pid(compose_cfg, tmp_path):
    run_dir = tmp_path / "run"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from rl_lab.run_dir import RunDirLock\n"
            "with RunDirLock(Path(sys.argv[1])):\n"
            "    print('locked', flush=True); time.sleep(600)",
            str(run_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout.readline().strip() == "locked"
        with pytest.raises(
            RunDirError, match=f"in use by another rl_lab process \\(PID {owner.pid}"
        ):
            train(compose_cfg, run_dir)
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # nothing else written
    finally:
        owner.kill()
        owner.wait()
    train(compose_cfg, run_dir)  # the kernel released the dead owner's lock


def test_the_lock_is_held_for_the_whole_run(compose_cfg, tmp_path, monkeypatch):
    from rl_lab.rl import task

    run_dir = tmp_path / "run"
    seen = []
    real_train = task.train

    def train_and_probe(cfg, run_dir, device, resume=False):
        try:
            with RunDirLock(run_dir):
                seen.append("acquired")
        except RunDirError as exc:
            seen.append(str(exc))
        return real_train(cfg, run_dir, device, resume)

    monkeypatch.setattr(task, "train", train_and_probe)
    train(compose_cfg, run_dir)
    assert seen and f"PID {os.getpid()}" in seen[0]
    with RunDirLock(run_dir):  # released at the end of the run
        pass


def test_resume_after_sigkill(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "total_steps=500000", "eval.freq=0", "checkpointing.freq=400"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl_lab", *args, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    last = run_dir / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert last.exists(), "the run wrote no checkpoint within 120 s"
    steps = checkpoint.load(last)["loop"]["env_steps"]
    done = run_cli(*TINY, f"total_steps={steps + 400}", "resume=true", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "results.json").read_text())["env_steps"] == steps + 400


def test_a_directory_that_cannot_be_created_is_refused_before_hydra_starts(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = run_cli(*TINY, f"hydra.run.dir={blocker}/run")
    assert proc.returncode == 2
    assert "Cannot write to" in proc.stderr and "Traceback" not in proc.stderr
    assert "hydra.run.dir=DIR" in proc.stderr
    with pytest.raises(RunDirError, match="not a folder"):
        check_creatable(blocker / "run")


def test_a_checkpoint_folder_that_cannot_be_written_is_refused_before_training(
    compose_cfg, tmp_path
):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoints").write_text("in the way")
    with pytest.raises(RunDirError, match="Cannot write to .*checkpoints"):
        train(compose_cfg, run_dir)
    assert not (run_dir / "tb").exists()  # refused before any work


def test_a_write_failure_mid_run_stops_cleanly_and_keeps_the_last_checkpoint(
    compose_cfg, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    real_save = torch.save
    calls = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:  # best.pt and last.pt at step 400 succeed, the disk is full after
            raise OSError(errno.ENOSPC, "No space left on device", getattr(f, "name", None))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(RunDirError, match="the disk is full.*resume=true"):
        train(compose_cfg, run_dir)
    monkeypatch.undo()
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["loop"]["env_steps"] == 400
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # no half-written file left
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "failed" and "disk is full" in results["error"]


def test_holds_run_tells_fresh_failed_and_finished_directories_apart(compose_cfg, tmp_path):
    assert holds_run(tmp_path / "missing") is None
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "results.json").write_text('{"status": "failed"}')
    assert holds_run(failed) is None  # a failed start may be run again in place
    train(compose_cfg, tmp_path / "done", "total_steps=400")
    assert "finished rl run" in holds_run(tmp_path / "done")


def test_supervised_runs_follow_the_same_rules(compose_cfg, tmp_path):
    from tests.supervised.conftest import FAST

    run_dir = tmp_path / "run"
    app.run(compose_cfg(*FAST), run_dir, [])
    before = snapshot(run_dir)
    with pytest.raises(RunDirError, match="already holds a run"):
        app.run(compose_cfg(*FAST, "trainer.epochs=3"), run_dir, [])
    overrides = ["resume=true", "model=cnn"]
    with pytest.raises(ConfigError, match="Cannot change `model`"):
        app.run(compose_cfg(*FAST, *overrides), run_dir, overrides)
    done = app.run(compose_cfg(*FAST, "resume=true"), run_dir, ["resume=true"])
    assert done["status"] == "completed" and done["epochs_run"] == 2
    assert snapshot(run_dir) == before
