"""End-to-end checks of the run directory contract, resume, eval mode and error handling."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.errors import CheckpointError, ConfigError, TrainingDivergedError
from rl_lab.rl.dqn import DQN
from tests.conftest import ROOT, TINY, run_cli


def train(compose_cfg, run_dir, *overrides):
    cfg = compose_cfg(*TINY, *overrides)
    return app.run(cfg, run_dir, list(overrides))


def test_training_leaves_a_complete_run_directory(compose_cfg, tmp_path):
    results = train(compose_cfg, tmp_path, "seed=3", "record_video=true")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    for key in ("task", "agent", "env", "seed", "env_steps", "wall_time_s"):
        assert key in results
    assert (results["task"], results["agent"], results["env"]) == ("rl", "dqn", "CartPole-v1")
    assert results["seed"] == 3 and results["env_steps"] == 1200
    assert set(results["eval"]) >= {"mean_return", "std_return", "episodes"}
    assert results["eval"]["episodes"] == 3
    assert [h["env_steps"] for h in results["eval_history"]] == [400, 800, 1200]
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    assert (tmp_path / "checkpoints" / "best.pt").is_file()
    assert (tmp_path / results["video"]).stat().st_size > 1000
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["seed"] == 3 and info["versions"]["torch"] == torch.__version__
    assert "commit" in info["git"]
    assert "learning_rate" in (tmp_path / "config.yaml").read_text()

    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/epsilon",
        "charts/SPS",
        "losses/td_loss",
        "losses/q_values",
        "eval/mean_return",
    } <= tags
    assert "config/text_summary" in events.Tags()["tensors"]
    # hparams with the final metric, for TensorBoard's HPARAMS tab
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(
        events.PluginTagToContent("hparams")
    )


def test_same_seed_gives_identical_results(compose_cfg, tmp_path):
    first = train(compose_cfg, tmp_path / "a", "seed=5")
    second = train(compose_cfg, tmp_path / "b", "seed=5")
    train(compose_cfg, tmp_path / "c", "seed=6")
    assert first["eval"] == second["eval"]
    assert first["eval_history"] == second["eval_history"]
    assert first["episodes"] == second["episodes"]

    def weights(run):
        return checkpoint.load(tmp_path / run / "checkpoints" / "last.pt")["agent"]["q_net"]

    a, b, c = weights("a"), weights("b"), weights("c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed matters


def test_resume_continues_from_the_last_checkpoint(compose_cfg, tmp_path):
    train(compose_cfg, tmp_path, "total_steps=800")
    saved = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="rl")
    assert saved["loop"]["env_steps"] == 800 and saved["buffer"]["size"] == 800
    cfg = compose_cfg(*TINY, "resume=true", "total_steps=1600")
    results = app.run(cfg, tmp_path, ["resume=true", "total_steps=1600"])
    assert results["env_steps"] == 1600
    assert [h["env_steps"] for h in results["eval_history"]] == [400, 800, 1200, 1600]
    resumed = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert resumed["agent"]["updates"] > saved["agent"]["updates"]


def test_resume_accepts_a_run_saved_before_newer_root_keys(compose_cfg, tmp_path):
    train(compose_cfg, tmp_path, "total_steps=400")
    saved = (tmp_path / "config.yaml").read_text()
    older = "\n".join(line for line in saved.splitlines() if "reuse_freed_memory" not in line)
    assert older != saved
    (tmp_path / "config.yaml").write_text(older + "\n")
    cfg = compose_cfg(*TINY, "resume=true", "total_steps=800")
    results = app.run(cfg, tmp_path, ["resume=true", "total_steps=800"])
    assert results["env_steps"] == 800


def test_resume_refuses_to_change_the_env(compose_cfg, tmp_path):
    train(compose_cfg, tmp_path, "total_steps=400")
    cfg = compose_cfg(*TINY, "resume=true", "env=Acrobot-v1")
    with pytest.raises(ConfigError, match="Cannot change `env`"):
        app.run(cfg, tmp_path, ["resume=true", "env=Acrobot-v1"])


def test_a_finished_run_directory_is_not_overwritten(compose_cfg, tmp_path):
    train(compose_cfg, tmp_path, "total_steps=400")
    with pytest.raises(ConfigError, match="already holds a run"):
        train(compose_cfg, tmp_path, "total_steps=400")


def test_eval_mode_scores_a_checkpoint(compose_cfg, tmp_path):
    trained = train(compose_cfg, tmp_path / "train")
    best = tmp_path / "train" / "checkpoints" / "last.pt"
    cfg = compose_cfg("mode=eval", f"checkpoint={best}", "episodes=3", "record_video=true")
    results = app.run(cfg, tmp_path / "eval", [])
    assert results["eval"]["episodes"] == 3
    # same weights, same evaluation seeds: the same returns as the run's final evaluation
    assert results["eval"]["returns"] == trained["eval"]["returns"]
    assert (tmp_path / "eval" / "videos" / "eval_episode.gif").is_file()


def test_missing_and_corrupt_checkpoints_get_clear_errors(compose_cfg, tmp_path):
    cfg = compose_cfg("mode=eval", f"checkpoint={tmp_path / 'nope.pt'}")
    with pytest.raises(CheckpointError, match="Checkpoint not found"):
        app.run(cfg, tmp_path / "eval", [])
    train(compose_cfg, tmp_path / "run", "total_steps=400")
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as after a full disk
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        app.run(compose_cfg("mode=eval", f"checkpoint={last}"), tmp_path / "eval2", [])
    with pytest.raises(ConfigError, match="needs a checkpoint"):
        app.run(compose_cfg("mode=eval"), tmp_path / "eval3", [])


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    compose_cfg, tmp_path, monkeypatch
):
    real_update = DQN.update

    def update(self, batch, env_step):
        metrics = real_update(self, batch, env_step)
        if env_step > 900:
            metrics["losses/td_loss"] = torch.tensor(float("nan"))
        return metrics

    monkeypatch.setattr(DQN, "update", update)
    with pytest.raises(TrainingDivergedError, match="last good checkpoint .*last.pt is kept"):
        train(compose_cfg, tmp_path)
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["loop"]["env_steps"] == 800


def test_cli_errors_are_one_paragraph_without_traceback(tmp_path):
    proc = run_cli("env=CartPol-v1", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert "Did you mean: CartPole-v1" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("agent=dqnn", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0 and "Available options in 'agent'" in proc.stderr
    assert "dqn" in proc.stderr


def test_sigint_writes_a_checkpoint_and_the_run_resumes(tmp_path):
    args = [*TINY, "total_steps=200000", "eval.freq=0", "checkpointing.freq=400"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl_lab", *args, f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # wait until it has trained (its first periodic checkpoint), however fast the machine is
    deadline = time.monotonic() + 120
    last = tmp_path / "checkpoints" / "last.pt"
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "resume=true" in stderr
    saved = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    steps = saved["loop"]["env_steps"]
    assert 0 < steps < 200_000
    status = json.loads((tmp_path / "results.json").read_text())["status"]
    assert status == "interrupted"
    done = run_cli(*TINY, f"total_steps={steps + 400}", "resume=true", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["env_steps"] == steps + 400


def test_multirun_gives_each_job_a_directory_and_summarizes(tmp_path):
    proc = run_cli("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path}", timeout=180)
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert [p.name for p in jobs] == ["0_dqn_CartPole-v1_s0", "1_dqn_CartPole-v1_s1"]
    for job in jobs:
        assert json.loads((job / "results.json").read_text())["status"] == "completed"
        assert any((job / "tb").iterdir())
    summary = subprocess.run(
        [sys.executable, "-m", "rl_lab.summarize", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert summary.returncode == 0, summary.stderr
    rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(rows) == 2  # header + one configuration with both seeds
    assert (tmp_path / "learning_curves.png").stat().st_size > 0


def test_unknown_task_lists_the_available_ones():
    with pytest.raises(ConfigError, match="Available tasks: rl, supervised, gan"):
        app.task_module("reinforce")


def test_the_main_returns_the_objective(compose_cfg, tmp_path):
    results = train(compose_cfg, tmp_path / "run")
    assert results["objective"] == results["eval"]["mean_return"]
    cfg = compose_cfg(*TINY)
    assert app.run_and_report(cfg, tmp_path / "other", [], multirun=True) == pytest.approx(
        results["objective"]
    )
