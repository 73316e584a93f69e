import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from rl_lab.compare import (
    CI_HIGH_TAG,
    CI_LOW_TAG,
    MEAN_TAG,
    THRESHOLD_TAG,
    build_report,
    main,
    parse_seeds,
    run_commands,
    steps_to_threshold,
)
from rl_lab.errors import ConfigError
from tests.conftest import ROOT, TINY
from tests.tensorboard_data import TensorBoardView


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("2-4") == [2, 3, 4]
    assert parse_seeds("0,5") == [0, 5]
    # the spellings the error message suggests for seed 0 alone
    assert parse_seeds("0-0") == [0] and parse_seeds("0,") == [0] and parse_seeds(" 7, ") == [7]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("0", "seeds=0 asks for no runs: a single number is a count of seeds"),
        ("5-2", "seeds=5-2 is an empty range (5 > 2)"),
        ("-3", "seeds=-3 is negative"),
        ("abc", "seeds=abc is not a seed spec ('abc' is not a whole number >= 0)"),
        ("1-", "seeds=1- is not a seed spec (a part is empty)"),
        ("0,,1", "seeds=0,,1 is not a seed spec (a part is empty)"),
        ("1.5", "'1.5' is not a whole number"),
        ("", "seeds= is not a seed spec"),
        ("0,3,0", "seeds=0,3,0 lists seed 0 more than once"),
    ],
)
def test_a_seed_spec_that_names_no_seeds_is_refused(spec, problem):
    with pytest.raises(ConfigError) as refused:
        parse_seeds(spec)
    message = str(refused.value)
    assert problem in message
    assert "for seed 0 alone write `seeds=0-0` or `seeds=0,`" in message
    assert "\n" not in message


def test_seeds_0_is_refused_before_anything_runs_or_is_written(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["agent=td3", "env=Pendulum-v1", "seeds=0", f"out={out}"]) == 2
    captured = capsys.readouterr()
    assert "seeds=0 asks for no runs" in captured.err and "`seeds=0-0`" in captured.err
    assert captured.out == "" and not out.exists()
    assert main(["agent=dqn", "jobs=0", f"out={out}"]) == 2
    assert "jobs=0 must be a whole number >= 1" in capsys.readouterr().err
    assert not out.exists()


def test_seed_0_alone_is_one_run_per_side(tmp_path):
    for spec in ("0-0", "0,"):
        commands = run_commands("dqn", parse_seeds(spec), [], tmp_path)
        assert [(side, seed) for side, seed, _ in commands] == [("ours", 0), ("sb3", 0)]


def test_the_cli_refuses_seeds_0_with_one_paragraph_and_status_2(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "rl_lab.compare", "agent=td3", "env=Pendulum-v1", "seeds=0",
         f"out={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: seeds=0 asks for no runs")
    assert "`seeds=0-0`" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1  # one paragraph
    assert proc.stdout == "" and not out.exists()  # no run started, nothing written


def test_steps_to_threshold_is_the_first_evaluation_at_or_above_it():
    history = [(1000, 100.0), (2000, 480.0), (3000, 300.0), (4000, 500.0)]
    assert steps_to_threshold(history, 475) == 2000
    assert steps_to_threshold(history, 501) != steps_to_threshold(history, 501)  # nan


def write_run(root, side, seed, final, wall, history):
    run = root / side / f"seed_{seed}"
    run.mkdir(parents=True)
    impl = "sb3" if side == "sb3" else "rl_lab"
    agent = "sb3_dqn" if side == "sb3" else "dqn"
    results = {
        "status": "completed", "task": "rl", "agent": agent, "impl": impl, "env": "CartPole-v1",
        "seed": seed, "env_steps": 4000, "wall_time_s": wall, "sps": 4000 / wall,
        "reward_threshold": 475.0, "eval": {"mean_return": final, "std_return": 0.0,
        "episodes": 20}, "eval_history": [{"env_steps": s, "mean_return": v} for s, v in history],
        "overrides": ["agent=dqn", f"impl={impl}", f"seed={seed}"],
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
    assert "Supported: a2c, ddpg, dqn, ppo, ppo_lstm, sac, td3." in capsys.readouterr().err


def write_tb(run_dir, history, episodic):
    """A run's tb/ as rl_lab's tracker writes it: eval and training returns by env step."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir / "tb"))
    for step, value in history:
        writer.add_scalar("eval/mean_return", value, step)
    for step, value in episodic:
        writer.add_scalar("charts/episodic_return", value, step)
    writer.close()


def test_the_tensorboard_view_puts_both_sides_on_the_same_charts(tmp_path):
    runs = tmp_path / "runs"
    histories = {
        "ours": [[(2000, 480.0), (4000, 500.0)], [(2000, 100.0), (4000, 300.0)]],
        "sb3": [[(2000, 100.0), (4000, 200.0)], [(2000, 50.0), (4000, 100.0)]],
    }
    for side, side_histories in histories.items():
        for seed, history in enumerate(side_histories):
            write_run(runs, side, seed, history[-1][1], 10.0, history)
            episodic = [(500 * i, 10.0 * i + seed) for i in range(1, 9)]
            write_tb(runs / side / f"seed_{seed}", history, episodic)
    build_report(runs, tmp_path)
    build_report(runs, tmp_path)  # rebuilt: the view's event files are replaced, not doubled
    view = TensorBoardView(tmp_path / "tensorboard")
    sides = {"dqn": "ours", "sb3_dqn": "sb3"}
    assert view.runs == {
        f"{agent}/{run}" for agent in sides for run in ("mean", "seed_0", "seed_1")
    }
    scalars = view.scalars()
    for agent, side in sides.items():
        for seed, history in enumerate(histories[side]):
            copied = scalars[f"{agent}/seed_{seed}"]
            assert copied["eval/mean_return"] == history  # the run's own curve, same tag
            assert copied["charts/episodic_return"][0] == (500, 10.0 + seed)
        mean = scalars[f"{agent}/mean"]
        seed_means = np.mean([[value for _, value in h] for h in histories[side]], axis=0)
        assert mean[MEAN_TAG] == list(zip((2000, 4000), seed_means, strict=True))
        for (step, low), (_, value), (_, high) in zip(
            mean[CI_LOW_TAG], mean[MEAN_TAG], mean[CI_HIGH_TAG], strict=True
        ):
            assert low <= value <= high and step in (2000, 4000)
        assert mean[CI_LOW_TAG] != mean[CI_HIGH_TAG]  # two different seeds: a real band
        assert mean[THRESHOLD_TAG] == [(2000, 475.0), (4000, 475.0)]
    [charts] = view.layout().values()
    assert charts["evaluation return: mean over seeds, 95% bootstrap CI"] == {
        "margin": {"series": [{"value": MEAN_TAG, "lower": CI_LOW_TAG, "upper": CI_HIGH_TAG}]}
    }
    assert charts["evaluation return per seed"] == {"multiline": {"tag": ["^eval/mean_return$"]}}
    assert charts["training episodic return per seed"] == {
        "multiline": {"tag": ["^charts/episodic_return$"]}
    }


def test_tiny_comparison_end_to_end(tmp_path):
    out = tmp_path / "report"
    args = ["agent=dqn", "env=CartPole-v1", "seeds=2", f"out={out}", *TINY, "total_steps=800"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["runs"] for r in rows[:2]] == ["2", "2"]
    assert len((out / "commands.txt").read_text().splitlines()) == 4
    assert (out / "learning_curves.png").is_file() and (out / "wall_time.png").is_file()
    # TensorBoard: every run of both implementations under the same tags, one view
    view = TensorBoardView(out / "tensorboard")
    for agent, side in (("dqn", "ours"), ("sb3_dqn", "sb3")):
        for seed in (0, 1):
            results = json.loads(
                (out / "runs" / side / f"seed_{seed}" / "results.json").read_text()
            )
            shown = view.scalars(f"{agent}/seed_{seed}")[f"{agent}/seed_{seed}"]
            history = [(h["env_steps"], h["mean_return"]) for h in results["eval_history"]]
            assert shown["eval/mean_return"] == [(s, pytest.approx(v)) for s, v in history]
            assert shown["charts/episodic_return"]
        assert f"{agent}/mean" in view.runs
    assert any(
        tag.startswith("rollout/") for tag in view.scalars("sb3_dqn/seed_0")["sb3_dqn/seed_0"]
    )
    # the report can be rebuilt from the run directories alone
    (out / "report.md").unlink()
    assert main(["--from-runs", str(out)]) == 0 and (out / "report.md").is_file()
