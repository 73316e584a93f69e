"""RL Zoo's table: every cell has a preset that composes, knows only real keys and trains on
both implementations; the runner resumes and reports."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from rl_lab import app, benchmark
from rl_lab.benchmark import (
    ZOO,
    Options,
    main,
    parse_args,
    read_archive,
    run_command,
    write_archive,
)
from rl_lab.config import unknown_keys
from rl_lab.errors import ConfigError
from rl_lab.rl.task import available_presets, validate_config

PRESETS = Path(__file__).resolve().parent.parent / "conf" / "preset"

#: Budgets that run each cell in about a second (every agent's own loop settings shrunk).
TINY_BY_ALGO = {
    "dqn": ["total_steps=300", "agent.learning_starts=100", "agent.buffer_size=1000",
            "agent.batch_size=16", "agent.train_freq=4", "agent.gradient_steps=1"],
    "ppo": ["total_steps=256", "env.num_envs=2", "agent.n_steps=64", "agent.batch_size=32",
            "agent.n_epochs=1"],
    "a2c": ["total_steps=200", "env.num_envs=2", "agent.n_steps=5"],
    "td3": ["total_steps=200", "agent.learning_starts=100", "agent.batch_size=16",
            "agent.buffer_size=1000"],
    "sac": ["total_steps=200", "agent.learning_starts=100", "agent.batch_size=16",
            "agent.buffer_size=1000", "agent.train_freq=1", "agent.gradient_steps=1"],
    "ddpg": ["total_steps=200", "agent.learning_starts=100", "agent.batch_size=16",
             "agent.buffer_size=1000"],
}  # fmt: skip
QUIET = ["eval.freq=0", "eval.final_episodes=2", "progress=false", "logging.log_freq=100"]


def preset_cells() -> list[tuple[str, str]]:
    return [(a, e) for a, envs in available_presets().items() for e in envs if "ALE" not in e]


@pytest.mark.parametrize(("agent", "env"), preset_cells())
def test_every_preset_names_itself_and_sets_only_known_keys(compose_cfg, agent, env):
    cfg = compose_cfg(f"agent={agent}", f"env={env}")
    assert cfg.tuned_preset == f"{agent}/{env}"
    # the same agent on an env without a preset: the schema the preset may only change
    schema = compose_cfg(f"agent={agent}", "env=rl_lab/NoPresetHere-v0")
    assert [k for k in unknown_keys(cfg, schema) if not k.startswith("env.kwargs")] == []
    validate_config(cfg)  # and its values pass the agent's checks as they are


def test_every_zoo_cell_has_a_preset():
    presets = available_presets()
    missing = [f"{c.algo}/{c.env}" for c in ZOO if c.env not in presets.get(c.algo, [])]
    assert missing == []


@pytest.mark.parametrize("impl", ["rl_lab", "sb3"])
@pytest.mark.parametrize("cell", ZOO, ids=lambda c: f"{c.algo}-{c.env}")
def test_every_zoo_cell_trains_a_tiny_budget(compose_cfg, tmp_path, cell, impl):
    overrides = [
        f"agent={cell.algo}", f"env={cell.env}", f"impl={impl}", *QUIET,
        *TINY_BY_ALGO[cell.algo],
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["status"] == "completed" and results["preset"] == f"{cell.algo}/{cell.env}"
    assert results["impl"] == impl


def test_arguments_are_checked_before_any_run(tmp_path):
    for bad, message in [
        (["algos=dqnn"], "dqnn has no benchmark cell"),
        (["envs=Pong"], "Pong has no benchmark cell"),
        (["seeds=0"], "seeds=0 must be a whole number >= 1"),
        (["impl=cleanrl"], "impl=rl_lab"),
        (["total_steps=5"], "set by the benchmark"),
        (["algos=dqn", "envs=Pendulum-v1"], "No benchmark cell matches"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_args(bad).cells()
    assert main(["algos=dqnn", f"out={tmp_path}"]) == 2
    assert not any(tmp_path.iterdir())


def test_the_runner_skips_finished_runs_and_resumes_interrupted_ones(tmp_path, monkeypatch):
    options = parse_args([f"out={tmp_path}", "algos=dqn", "envs=CartPole-v1"])
    cell = options.cells()[0]
    assert "resume=true" not in run_command(options, cell, 0)
    directory = benchmark.run_dir(tmp_path, "rl_lab", cell, 0)
    (directory / "checkpoints").mkdir(parents=True)
    (directory / "checkpoints" / "last.pt").write_bytes(b"")
    assert run_command(options, cell, 0)[-1] == "resume=true"  # an interrupted run continues
    (directory / "results.json").write_text(json.dumps({"status": "completed"}))
    assert run_command(options, cell, 0) is None  # a finished one is skipped


def test_a_small_table_end_to_end(tmp_path, capsys):
    args = [f"out={tmp_path}", "algos=dqn", "envs=CartPole-v1", "seeds=2", "max_steps=600",
            "eval.freq=300", "eval.final_episodes=2", "agent.learning_starts=100"]  # fmt: skip
    assert main(args) == 0
    assert main([*args, "impl=sb3", "seeds=1"]) == 0
    assert main(args) == 0 and "0 runs to do" in capsys.readouterr().out  # resumable
    report = (tmp_path / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| dqn | CartPole-v1"))
    assert "(ran 600)" in row  # a smoke test says it trained less than the Zoo's budget
    assert "**" not in row  # bold only at the bar, which 600 steps do not reach
    csv_rows = (tmp_path / "report.csv").read_text().splitlines()
    header, values = csv_rows[0].split(","), csv_rows[1].split(",")
    got = dict(zip(header, values, strict=True))
    assert got["seeds"] == "2" and got["sb3_seeds"] == "1" and got["wall_ratio_ours_sb3"] != "nan"
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    # two invocations ran something: a time stamp line and one line per run each
    assert len((tmp_path / "commands.txt").read_text().splitlines()) == (1 + 2) + (1 + 1)


def test_default_seeds_follow_the_budget():
    assert Options().cells() == list(ZOO)
    assert {c.default_seeds() for c in ZOO if c.budget <= 200_000} == {5}
    assert {c.default_seeds() for c in ZOO if c.budget > 200_000} == {3}


def test_runs_made_with_another_config_are_refused_or_moved_aside_never_reused(tmp_path, capsys):
    from omegaconf import OmegaConf

    from rl_lab.api import compose_config

    options = parse_args([f"out={tmp_path}", "algos=dqn", "envs=CartPole-v1"])
    cell = options.cells()[0]
    directory = benchmark.run_dir(tmp_path, "rl_lab", cell, 1)
    directory.mkdir(parents=True)
    recorded = compose_config(benchmark.run_overrides(options, cell, 1))
    OmegaConf.set_struct(recorded, False)  # edited below as an older run's record
    OmegaConf.save(recorded, directory / "config.yaml", resolve=True)
    (directory / "results.json").write_text(json.dumps({"status": "completed"}))
    assert benchmark.stale_runs(options, [cell]) == []  # the config its cell composes now
    # a key added to the schema since the run was made counts as its default
    del recorded.agent["exploration_decay"]
    OmegaConf.save(recorded, directory / "config.yaml", resolve=True)
    assert benchmark.stale_runs(options, [cell]) == []

    recorded.agent.learning_rate = 0.0123  # the preset changed since
    OmegaConf.save(recorded, directory / "config.yaml", resolve=True)
    stale = benchmark.stale_runs(options, [cell])
    assert [d for d, _ in stale] == [directory]
    assert stale[0][1] == [f"agent.learning_rate: 0.0123 -> {cell_lr(options, cell)}"]
    args = [f"out={tmp_path}", f"archive={tmp_path / 'runs.jsonl'}", "algos=dqn",
            "envs=CartPole-v1", "--report"]  # fmt: skip
    assert main(args) == 2  # refused before anything runs, the run untouched
    assert "Add stale=move" in capsys.readouterr().err and directory.is_dir()

    assert main([*args, "stale=move"]) == 0
    moved = directory.with_name("s1.stale-1")
    assert moved.is_dir() and not directory.exists()  # renamed, not deleted
    assert benchmark.collect(tmp_path, [cell])[0].seeds == []  # and left out of the report
    assert benchmark.stale_runs(options, [cell]) == []
    with pytest.raises(ConfigError, match="stale=move"):
        parse_args(["stale=delete"])


def cell_lr(options, cell) -> float:
    from rl_lab.api import compose_config

    return compose_config(benchmark.run_overrides(options, cell, 0)).agent.learning_rate


def finished_run(options, cell, seed: int, mean: float) -> Path:
    """A finished run directory of ``cell`` as the benchmark leaves it (no training)."""
    from omegaconf import OmegaConf

    from rl_lab.api import compose_config

    directory = benchmark.run_dir(options.out, options.impl, cell, seed)
    directory.mkdir(parents=True)
    config = compose_config(benchmark.run_overrides(options, cell, seed))
    OmegaConf.save(config, directory / "config.yaml", resolve=True)
    results = {"status": "completed", "seed": seed, "env_steps": cell.budget, "sps": 1000.0,
               "wall_time_s": 50.0, "eval": {"mean_return": mean, "returns": [mean, mean]},
               "eval_history": [{"env_steps": cell.budget, "mean_return": mean}]}  # fmt: skip
    (directory / "results.json").write_text(json.dumps(results))
    return directory


def report_row(out: Path) -> dict[str, str]:
    header, values = (out / "report.csv").read_text().splitlines()[:2]
    return dict(zip(header.split(","), values.split(","), strict=True))


def test_the_archive_carries_finished_runs_to_another_machine(tmp_path, capsys):
    archive, out = tmp_path / "runs.jsonl", tmp_path / "out"
    args = [f"out={out}", f"archive={archive}", "algos=dqn", "envs=CartPole-v1", "seeds=1"]
    options = parse_args(args)
    cell = options.cells()[0]
    finished_run(options, cell, 0, mean=480.0)
    assert main([*args, "--report"]) == 0
    [entry] = read_archive(archive)
    assert (entry["impl"], entry["seed"], entry["mean_return"]) == ("rl_lab", 0, 480.0)
    assert entry["config"]["agent.learning_rate"] == cell_lr(options, cell)
    assert "Archived 1 run(s)" in capsys.readouterr().out
    assert main([*args, "--report"]) == 0  # archiving again changes nothing
    assert "Archived" not in capsys.readouterr().out and len(read_archive(archive)) == 1

    shutil.rmtree(out)  # another machine or session: only the committed archive
    assert main(args) == 0  # the archived seed is not run again
    assert "0 runs to do (rl_lab); finished runs are skipped, 1 of them in the archive" in (
        capsys.readouterr().out
    )
    got = report_row(out)
    assert (got["seeds"], float(got["mean"])) == ("1", 480.0)
    assert "Runs: 1 on " in (out / "report.md").read_text()

    # a run made under OUT replaces its archived twin
    finished_run(options, cell, 0, mean=490.0)
    assert main([*args, "--report"]) == 0
    assert [e["mean_return"] for e in read_archive(archive)] == [490.0]

    # runs with extra overrides are not the table's: the archive is neither read nor written
    other = [*args, "agent.learning_rate=0.5", f"out={tmp_path / 'other'}", "--report"]
    assert main(other) == 0
    assert "The archive is left out" in capsys.readouterr().out
    assert len(read_archive(archive)) == 1


def test_invocations_side_by_side_keep_each_others_archived_runs(tmp_path, monkeypatch):
    archive = tmp_path / "runs.jsonl"
    common = [f"archive={archive}", "algos=dqn", "envs=CartPole-v1"]
    mine = [f"out={tmp_path / 'a'}", *common, "seeds=1"]  # seed 0
    theirs = [f"out={tmp_path / 'b'}", *common, "seeds=2"]  # seed 1 (and the archived seed 0)
    cell = parse_args(mine).cells()[0]

    def run_all(commands, jobs, log):
        # while seed 0 trains here, another invocation finishes seed 1 and archives it
        finished_run(parse_args(theirs), cell, 1, mean=470.0)
        assert main([*theirs, "--report"]) == 0
        finished_run(parse_args(mine), cell, 0, mean=480.0)
        return [0] * len(commands)

    monkeypatch.setattr(benchmark, "run_all", run_all)
    assert main(mine) == 0
    assert {(e["seed"], e["mean_return"]) for e in read_archive(archive)} == {
        (0, 480.0),
        (1, 470.0),
    }


def test_archived_runs_of_a_changed_preset_are_refused_then_moved_aside(tmp_path, capsys):
    archive, out = tmp_path / "runs.jsonl", tmp_path / "out"
    args = [f"out={out}", f"archive={archive}", "algos=dqn", "envs=CartPole-v1", "--report"]
    options = parse_args(args)
    cell = options.cells()[0]
    finished_run(options, cell, 2, mean=500.0)
    assert main(args) == 0
    shutil.rmtree(out)
    [entry] = read_archive(archive)
    entry["config"]["agent.learning_rate"] = 0.0123
    write_archive(archive, [entry])
    assert main(args) == 2  # refused before anything runs, the archive untouched
    err = capsys.readouterr().err
    assert "runs.jsonl (rl_lab dqn CartPole-v1 s2)" in err and "agent.learning_rate: 0.0123" in err
    assert read_archive(archive) == [entry]
    assert main([*args, "stale=move"]) == 0
    assert read_archive(archive) == []
    assert read_archive(tmp_path / "runs.stale.jsonl") == [entry]  # moved, not deleted
    assert report_row(out)["seeds"] == "0"


def test_a_damaged_archive_is_refused_with_what_to_do(tmp_path, capsys):
    archive = tmp_path / "runs.jsonl"
    archive.write_text('{"impl": "rl_lab"\n')
    assert main([f"out={tmp_path}", f"archive={archive}", "algos=dqn", "--report"]) == 2
    assert "line 1, is not an archived run" in capsys.readouterr().err
    assert archive.read_text() == '{"impl": "rl_lab"\n'


def test_ours_over_sb3_wall_time_compares_runs_of_one_machine():
    def row(machines, walls, sb3_machines, sb3_walls) -> benchmark.Row:
        return benchmark.Row(
            cell=ZOO[0], seeds=list(range(len(walls))), returns=[500.0] * len(walls),
            wall_times=walls, sps=[1.0] * len(walls), histories=[],
            sb3_returns=[500.0] * len(sb3_walls), sb3_wall_times=sb3_walls,
            env_steps=[50_000] * len(walls), machines=machines, sb3_machines=sb3_machines,
        )  # fmt: skip

    # our runs on a fast machine and a slow one, SB3's on the slow one: slow against slow
    mixed = row(["fast", "slow", "slow"], [10.0, 30.0, 34.0], ["slow", "slow"], [40.0, 40.0])
    assert mixed.ratio() == 32.0 / 40.0
    assert math.isnan(row(["fast"], [10.0], ["slow"], [40.0]).ratio())  # no machine has both
