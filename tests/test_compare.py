import csv
import json

import pytest

from rl_lab.compare import build_report, main, parse_seeds, steps_to_threshold
from rl_lab.errors import ConfigError
from tests.conftest import TINY


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("2-4") == [2, 3, 4]
    assert parse_seeds("0,5") == [0, 5]


def test_steps_to_threshold_is_the_first_evaluation_at_or_above_it():
    history = [(1000, 100.0), (2000, 480.0), (3000, 300.0), (4000, 500.0)]
    assert steps_to_threshold(history, 475) == 2000
    assert steps_to_threshold(history, 501) != steps_to_threshold(history, 501)  # nan


def write_run(root, side, seed, final, wall, history):
    run = root / side / f"seed_{seed}"
    run.mkdir(parents=True)
    agent = "sb3_dqn" if side == "sb3" else "dqn"
    results = {
        "status": "completed", "task": "rl", "agent": agent, "env": "CartPole-v1",
        "seed": seed, "env_steps": 4000, "wall_time_s": wall, "sps": 4000 / wall,
        "reward_threshold": 475.0, "eval": {"mean_return": final, "std_return": 0.0,
        "episodes": 20}, "eval_history": [{"env_steps": s, "mean_return": v} for s, v in history],
        "overrides": [f"agent={agent}", f"seed={seed}"],
    }  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))


def test_report_from_fixture_runs(tmp_path):
    runs = tmp_path / "runs"
    for seed, final in enumerate([500.0, 500.0, 300.0]):
        write_run(runs, "ours", seed, final, 10.0, [(2000, 480.0), (4000, final)])
    for seed, final in enumerate([500.0, 200.0, 100.0]):
        write_run(runs, "sb3", seed, final, 20.0, [(2000, 100.0), (4000, final)])
    ours, sb3 = build_report(runs, tmp_path)
    assert ours.summary.success_rate == pytest.approx(2 / 3)
    assert sb3.summary.success_rate == pytest.approx(1 / 3)
    assert ours.median_steps_to_threshold == 2000 and sb3.median_steps_to_threshold == 4000
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["side"] for r in rows] == ["ours", "sb3", "ours/sb3"]
    assert float(rows[2]["median wall time (s)"]) == pytest.approx(0.5)
    assert float(rows[0]["final eval mean"]) == pytest.approx(1300 / 3)
    assert "| ours/SB3 |" in (tmp_path / "report.md").read_text()
    for png in ("learning_curves.png", "wall_time.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_report_needs_both_sides(tmp_path):
    write_run(tmp_path, "ours", 0, 500.0, 1.0, [(1000, 500.0)])
    with pytest.raises(ConfigError, match="both sides"):
        build_report(tmp_path, tmp_path / "out")


def test_unknown_agent_is_rejected(capsys):
    assert main(["agent=foo"]) == 2
    assert "Supported: a2c, dqn, ppo, ppo_lstm, td3" in capsys.readouterr().err


def test_tiny_comparison_end_to_end(tmp_path):
    out = tmp_path / "report"
    args = ["agent=dqn", "env=CartPole-v1", "seeds=2", f"out={out}", *TINY, "total_steps=800"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["runs"] for r in rows[:2]] == ["2", "2"]
    assert len((out / "commands.txt").read_text().splitlines()) == 4
    assert (out / "learning_curves.png").is_file() and (out / "wall_time.png").is_file()
    # the report can be rebuilt from the run directories alone
    (out / "report.md").unlink()
    assert main(["--from-runs", str(out)]) == 0 and (out / "report.md").is_file()
