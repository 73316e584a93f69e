"""``python -m rl_lab.summarize DIR``: output and exit status (rl_lab.reports.cli)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rl_lab.reports.cli import main
from tests.conftest import ROOT


def test_cli_prints_table_and_failures(
    sweep: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "200")  # rich would otherwise fold labels at 80 columns
    assert main([str(sweep), "--threshold", "450"]) == 0
    stdout = capsys.readouterr().out
    assert "agent=dqn" in stdout and "agent=ppo" in stdout
    assert "Failed runs" in stdout and "replay buffer exploded" in stdout
    assert (sweep / "summary.md").exists()


def test_cli_exits_2_with_message_on_dir_without_runs(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no runs here")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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


def test_cli_prints_the_trials_of_an_optuna_sweep(
    optuna_sweep: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "200")
    assert main([str(optuna_sweep)]) == 0
    stdout = capsys.readouterr().out
    assert "Optuna trials (5/6 finished, objective maximized)" in stdout
    assert "1 ★" in stdout
    assert "tensorboard --logdir" in stdout


def test_nothing_imports_the_command_module():
    # Importing rl_lab.summarize would replace the API function rl_lab.summarize with it.
    code = (
        "import sys, rl_lab.reports.cli, rl_lab.compare, rl_lab.sweeps.best_preset, "
        "rl_lab.sweeps.failed_trials; from rl_lab.reports import summarize; "
        "print('rl_lab.summarize' in sys.modules, callable(summarize))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.stdout.split() == ["False", "True"], proc.stderr
