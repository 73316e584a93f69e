"""``python -m rl_lab.tune``: search spaces, studies in SQLite and PostgreSQL, pruning, workers,
resumption after a killed worker, the best-trial preset and optuna-dashboard."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from rl_lab import tune
from rl_lab.sweeps.search import Param, SearchSpaceError, make_sampler, override_value, parse_space
from tests.conftest import ROOT, TINY, free_port, run_cli


def _postgres_bin() -> Path:
    """The newest Debian PostgreSQL server's binaries (/usr/lib/postgresql/<major>/bin)."""
    found = (
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name),
        )
        if Path("/usr/lib/postgresql").is_dir()
        else []
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/bin")


PG_BIN = _postgres_bin()

#: A space in which half the choices cap every episode at 5 steps: those trials fall below the
#: median at their first evaluation and are pruned there.
PRUNABLE_SPACE = """\
# @package _global_
tune:
  study: tiny
  n_trials: 4
  sampler: {name: random, seed: 3}
  pruner: {name: median, n_startup_trials: 1, n_warmup_steps: 0}
  preset: tiny_best
  search_space:
    env.max_episode_steps: {type: categorical, choices: [5, 500]}
    agent.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}
"""


def _space_dir(tmp_path: Path, text: str = PRUNABLE_SPACE) -> str:
    folder = tmp_path / "conf" / "hparams_search"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.yaml").write_text(text)
    return f"hydra.searchpath=[gymenv://rl_lab,file://{tmp_path / 'conf'}]"


def _tiny_search(tmp_path: Path, *extra: str) -> list[str]:
    return ["agent=dqn", "+hparams_search=tiny", _space_dir(tmp_path), *TINY, *extra]


def _trials(study_dir: Path) -> dict[int, dict]:
    results = {}
    for path in sorted(study_dir.glob("trial_*/results.json")):
        data = json.loads(path.read_text())
        results[data["trial"]] = data
    return results


def _study(storage: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


# ---------------------------------------------------------------------------------------------
# Search spaces


def test_space_takes_dotted_and_nested_keys():
    space = parse_space(
        {
            "agent.learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
            "agent": {"n_steps": {"type": "categorical", "choices": [16, 32]}},
            "agent.n_epochs": {"type": "int", "low": 3, "high": 9, "step": 3},
        }
    )
    assert space == [
        Param("agent.learning_rate", "float", low=1e-4, high=3e-3, log=True),
        Param("agent.n_steps", "categorical", choices=(16, 32)),
        Param("agent.n_epochs", "int", low=3, high=9, step=3),
    ]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"low": 1, "high": 2}, "Give it a type"),
        ({"type": "float", "low": 1e-3}, "needs a finite number `high:`"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "low > 0 on a log scale"),
        ({"type": "float", "low": 2.0, "high": 1.0}, "low <= high"),
        ({"type": "categorical", "choices": []}, "no `choices"),
        ({"type": "categorical", "choices": [[1, 2]]}, "must be numbers, strings"),
        ({"type": "int", "low": 1, "high": 4, "choices": [1]}, "does not take choices"),
    ],
)
def test_bad_space_entries_are_named(entry, words):
    with pytest.raises(SearchSpaceError, match="agent.x") as info:
        parse_space({"agent.x": entry})
    assert words in str(info.value)


def test_override_values_read_back_as_themselves():
    assert [override_value(v) for v in (1e-4, 3, True, None, "linear", "1e-3", "a b")] == [
        "0.0001",
        "3",
        "true",
        "null",
        "linear",
        "'1e-3'",
        "'a b'",
    ]


def test_cmaes_refuses_a_categorical_space():
    space = parse_space({"agent.gamma": {"type": "categorical", "choices": [0.9, 0.99]}})
    with pytest.raises(SearchSpaceError, match="sampler=cmaes searches number ranges only"):
        make_sampler("cmaes", 0, space)
    numeric = parse_space({"agent.gamma": {"type": "float", "low": 0.9, "high": 0.99}})
    assert isinstance(make_sampler("cmaes", 0, numeric), optuna.samplers.CmaEsSampler)


def test_shipped_spaces_fit_their_agents(compose_cfg):
    for experiment in ("dqn_cartpole_search", "ppo_cartpole_search"):
        cfg = compose_cfg(f"experiment={experiment}")
        space = parse_space(OmegaConf.to_container(cfg.tune.search_space))
        tune.check_space(cfg, space, [])
        make_sampler("tpe", 0, space)


# ---------------------------------------------------------------------------------------------
# Errors: one paragraph, exit status 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sampler=annealing"], "sampler=annealing is not a sampler"),
        (["pruner=patient"], "pruner=patient is not a pruner"),
        (["sampler=cmaes"], "sampler=cmaes searches number ranges only"),
        (["n_trials=0"], "n_trials=0 must be a whole number >= 1"),
        (["storage=nosuchdb://x"], "Cannot open the study storage nosuchdb://x"),
        (["storage=postgresql://nobody@127.0.0.1:1/none"], "Cannot open the study storage"),
        (["resume=true"], "has no study named tiny"),
        (["-m"], "drop -m"),
        (["--write-preset", "dqn_cartpole_best"], "never overwrites a preset"),
        (["env.max_episode_steps=50"], "both searched and set on the command line"),
        (["+tune.search_space.agent.nope={type:float,low:0,high:1}"], "agent.nope"),
    ],
)
def test_bad_inputs_are_one_paragraph(tmp_path, capsys, args, words):
    status = tune.main([*_tiny_search(tmp_path), f"study_dir={tmp_path / 's'}", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert words in err
    assert err.startswith("Error: ") and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not list((tmp_path / "s").glob("trial_*"))


def test_the_search_experiments_name_the_tune_command():
    proc = run_cli("-m", "experiment=ppo_cartpole_search")
    assert proc.returncode == 2
    assert "python -m rl_lab.tune experiment=ppo_cartpole_search" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# A search in SQLite: trials, pruning, records, the preset


def test_search_prunes_records_and_writes_the_best_preset(tmp_path, capsys):
    study_dir = tmp_path / "study"
    assert tune.main([*_tiny_search(tmp_path), f"study_dir={study_dir}"]) == 0
    out = capsys.readouterr().out
    storage = f"sqlite:///{study_dir / 'study.db'}"
    study = _study(storage)
    assert study.user_attrs["sampler"] == "random" and study.user_attrs["sampler_seed"] == 3
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]

    runs = _trials(study_dir)
    assert sorted(runs) == [0, 1, 2, 3]
    for trial in study.trials:
        run = runs[trial.number]
        assert run["study"] == "tiny" and run["sampler_seed"] == 3
        assert run["params"] == trial.params
        if trial.state == TrialState.PRUNED:
            assert run["status"] == "pruned"
            assert run["env_steps"] < 1200 if "env_steps" in run else True
        else:
            assert trial.state == TrialState.COMPLETE and run["status"] == "completed"
            assert run["objective"] == trial.value
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    # a trial capped at 5 steps per episode never survives its first evaluation
    capped = [t for t in study.trials[1:] if t.params["env.max_episode_steps"] == 5]
    assert capped and all(t.state == TrialState.PRUNED for t in capped)

    # The preset, read from the storage, reruns the best trial: same config, same objective.
    assert f"Best trial {study.best_trial.number}: objective" in out
    presets = tmp_path / "presets" / "experiment"
    presets.mkdir(parents=True)
    shutil.copy(study_dir / "tiny_best.yaml", presets / "tiny_best.yaml")
    rerun = tmp_path / "rerun"
    proc = run_cli(
        "experiment=tiny_best",
        "progress=false",
        f"hydra.searchpath=[gymenv://rl_lab,file://{presets.parent}]",
        f"hydra.run.dir={rerun}",
    )
    assert proc.returncode == 0, proc.stderr
    best_dir = Path(study.best_trial.user_attrs["run_dir"])
    assert json.loads((rerun / "results.json").read_text())["objective"] == study.best_value
    assert OmegaConf.load(rerun / "config.yaml") == OmegaConf.load(best_dir / "config.yaml")

    # The same command again finds the study complete and runs nothing.
    assert tune.main([*_tiny_search(tmp_path), f"study_dir={study_dir}"]) == 0
    assert len(_study(storage).trials) == 4


def _tune_process(*args: str, log: Path | None = None) -> subprocess.Popen:
    """``python -m rl_lab.tune ARGS`` in the background; its output into ``log`` when given (a
    file, for a process nobody reads while it runs: a full pipe would stop it), else a pipe."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = log.open("w") if log is not None else subprocess.PIPE
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "rl_lab.tune", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log is not None:
            out.close()


def test_resume_after_a_killed_worker_fails_its_trial_and_reruns_its_params(tmp_path):
    study_dir = tmp_path / "study"
    storage = f"sqlite:///{study_dir / 'study.db'}"
    # long enough trials to be caught running; pruner=none: every trial runs to the end
    slow = [*_tiny_search(tmp_path), "total_steps=400000", "eval.freq=100000", "pruner=none"]
    log = tmp_path / "tune.log"
    proc = _tune_process(*slow, f"study_dir={study_dir}", "n_trials=2", log=log)
    try:
        # until a trial runs, however long the machine takes to get there; a process that
        # ends first fails the test with its output
        while proc.poll() is None:
            try:
                trials = _study(storage).get_trials(states=(TrialState.RUNNING,))
            except Exception:  # the process has not created the database or the study yet
                trials = []
            if trials and "run_dir" in trials[0].user_attrs:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the search ended before a trial was caught running:\n{log.read_text()}")
        time.sleep(1.0)
    finally:
        proc.kill()  # SIGKILL: no chance to tell the study anything
        proc.wait()
    (stale,) = _study(storage).get_trials(states=(TrialState.RUNNING,))

    status = tune.main(
        [*_tiny_search(tmp_path), f"study_dir={study_dir}", "n_trials=2", "resume=true"]
    )
    assert status == 0
    trials = {t.number: t for t in _study(storage).trials}
    assert trials[stale.number].state == TrialState.FAIL
    assert "ended while it ran" in trials[stale.number].user_attrs["stale"]
    retried = [t for t in trials.values() if t.user_attrs.get("retry_of") == stale.number]
    assert len(retried) == 1 and retried[0].params == stale.params
    finished = [t for t in trials.values() if "stale" not in t.user_attrs]
    assert len(finished) == 2
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in finished)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: two workers on one study


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; the Debian package creates the postgres user
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own in a temporary directory; yields a database's URL."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(
            f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql)"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot run")
    base = Path(tempfile.mkdtemp(prefix="rl_lab_pg_"))  # not under pytest's 0700 root folder
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    run = lambda *cmd: subprocess.run(_as_postgres(list(cmd)), check=True, capture_output=True)  # noqa: E731
    try:
        run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        )
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE optuna_test")
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna_test"
    finally:
        if (data / "postmaster.pid").exists():
            run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_a_study_in_postgresql(tmp_path, postgres_url):
    study_dir = tmp_path / "study"
    proc = _tune_process(
        *_tiny_search(tmp_path),
        f"study_dir={study_dir}",
        f"storage={postgres_url}",
        "workers=2",
        "pruner=none",
        "n_trials=4",
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "[worker 0]" in out and "[worker 1]" in out

    study = _study(postgres_url)
    numbers = sorted(t.number for t in study.trials)
    assert numbers == [0, 1, 2, 3]  # each trial once, numbered by the storage
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2
    runs = _trials(study_dir)
    assert sorted(runs) == numbers and all(r["status"] == "completed" for r in runs.values())
    assert len({r["sampler_seed"] for r in runs.values()}) == 2  # each worker its own stream

    # the preset is the best trial's, as the storage has it
    best = study.best_trial
    preset = (study_dir / "tiny_best.yaml").read_text()
    assert f"trial {best.number} of study tiny" in preset
    best_config = OmegaConf.load(Path(best.user_attrs["run_dir"]) / "config.yaml")
    values = OmegaConf.load(study_dir / "tiny_best.yaml")
    assert values.agent.learning_rate == best_config.agent.learning_rate
    assert values.env.max_episode_steps == best_config.env.max_episode_steps


# ---------------------------------------------------------------------------------------------
# optuna-dashboard reads the study


def test_optuna_dashboard_serves_the_study(tmp_path):
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    if not dashboard.is_file():
        pytest.skip("optuna-dashboard is not installed (pip install -e '.[sweeps]')")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="shown", storage=storage, direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            value=2.0,
        )
    )
    port = free_port()
    server = subprocess.Popen(
        [str(dashboard), storage, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None, "optuna-dashboard did not answer"
        (summary,) = body["study_summaries"]
        assert summary["study_name"] == "shown"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=5
        ) as r:
            detail = json.loads(r.read())
        assert [t["values"] for t in detail["trials"]] == [[2.0]]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
