"""Optuna searches with ``python -m rl_lab.tune``: what pruning and a second worker buy.

Runs the PPO CartPole search (conf/hparams_search/ppo_cartpole.yaml) three times with the same
sampler seed, each as its own study under ``--out``, then the DQN CartPole search once:

- ``no pruning, N workers``: ``pruner=none workers=N``;
- ``median pruning, N workers``: ``pruner=median workers=N``;
- ``median pruning, 1 worker``: ``pruner=median workers=1`` (N workers against 1);
- ``DQN, median pruning, N workers``: conf/hparams_search/dqn_cartpole.yaml, ``--dqn-trials``.

For each it records the wall time, the trials by state (completed, pruned, failed), the best
objective, and the best trial's preset rerun on ``--check-seeds`` held-out seeds (10 on: every
trial runs on seed 0), solved meaning final evaluation >= 475, CartPole's threshold, with the
median env steps to the first periodic evaluation >= 475. Prints the machine, every command and
a table, and writes ``report.md`` and ``report.json`` into ``--out``.

Resumable by search: ``report.json`` is written after each search and its check, and running the
same command again (same ``--out``, same settings) skips the searches it holds. A search that was
interrupted is moved aside (``<name>.interrupted-<time>``) and run again from the start, so every
wall time in the table is one uninterrupted search.

::

    python scripts/bench_tune.py                      # 40 (PPO) + 20 (DQN) trials (hours)
    python scripts/bench_tune.py                      # again after a kill: continues
    python scripts/bench_tune.py --smoke --out /tmp/t # a tiny budget: checks the script only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from rl_lab.reports.machine import describe_machine
from rl_lab.reports.runs import read_results

ROOT = Path(__file__).resolve().parent.parent
#: CartPole-v1's reward threshold.
SOLVED = 475.0
#: The best trial is rerun on seeds from here on: the search's trials all run on seed 0.
HELD_OUT = 10
#: ``--smoke``: PPO trials of a few seconds (the numbers mean nothing).
SMOKE_OVERRIDES = [
    "total_steps=2048",
    "eval.freq=512",
    "eval.episodes=2",
    "eval.final_episodes=2",
    "checkpointing.freq=1024",
    "device=cpu",
]


@dataclass
class Search:
    """One search of the benchmark and what it measured."""

    name: str
    pruner: str
    workers: int
    study_dir: Path
    experiment: str = "ppo_cartpole_search"
    trials: int = 40
    preset: str = "ppo_cartpole_best"
    argv: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0
    returncode: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_trial: int | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    machine: str = ""
    date: str = ""


def _run(argv: list[str], label: str) -> tuple[float, int]:
    print(f"[{datetime.now():%H:%M:%S}] {label}: {shlex.join(argv)}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    print(f"    {elapsed:.1f} s (exit {proc.returncode})", flush=True)
    return elapsed, proc.returncode


def run_search(search: Search, base: list[str]) -> None:
    """Run the search, then read its study back from its storage."""
    search.argv = [
        *base,
        f"experiment={search.experiment}",
        f"n_trials={search.trials}",
        f"pruner={search.pruner}",
        f"workers={search.workers}",
        f"study={search.study_dir.name}",
        f"study_dir={search.study_dir}",
    ]
    search.machine, search.date = describe_machine(), f"{datetime.now():%Y-%m-%d %H:%M}"
    search.wall_time_s, search.returncode = _run(search.argv, search.name)
    storage = f"sqlite:///{search.study_dir / 'study.db'}"
    study = optuna.load_study(study_name=search.study_dir.name, storage=storage)
    for trial in study.trials:
        state = trial.state.name.lower()
        search.states[state] = search.states.get(state, 0) + 1
    try:
        best = study.best_trial
    except ValueError:
        return
    search.best_value, search.best_trial, search.best_params = best.value, best.number, best.params


def check_best(search: Search, seeds: int) -> None:
    """Rerun the search's best-trial preset (which holds every override of the search) on
    ``seeds`` seeds it was not picked on (10, 11, ...), with the joblib launcher."""
    preset = search.study_dir / f"{search.preset}.yaml"
    if not preset.is_file():
        return
    conf = search.study_dir / "conf" / "experiment"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "bench_best.yaml").write_text(preset.read_text())
    sweep_dir = search.study_dir / "check"
    argv = [
        sys.executable,
        "-m",
        "rl_lab",
        "-m",
        "experiment=bench_best",
        f"seed=range({HELD_OUT},{HELD_OUT + seeds})",
        "progress=false",
        "hydra/launcher=joblib",
        f"hydra.searchpath=[gymenv://rl_lab,file://{conf.parent}]",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    elapsed, code = _run(argv, f"{search.name}: best trial on {seeds} seeds")
    finals: list[float] = []
    to_solve: list[int | None] = []  # env steps of the first periodic evaluation >= 475
    for path in sorted(sweep_dir.glob("*/results.json")):
        results = read_results(path)
        if results is not None and results.status == "completed":
            finals.append(results.final_return)
            reached = results.first_reached(SOLVED)
            to_solve.append(None if reached is None else reached[0])
    search.check = {
        "seeds": seeds,
        "completed": len(finals),
        "solved": sum(v >= SOLVED for v in finals),
        "mean_final": sum(finals) / len(finals) if finals else None,
        "finals": finals,
        "steps_to_solve": to_solve,
        "median_steps_to_solve": median_steps(to_solve),
        "wall_time_s": elapsed,
        "returncode": code,
    }


def median_steps(steps: list[int | None]) -> float | None:
    """The median of the env steps to 475, a run that never got there counting as infinite;
    None when the median run never got there (or there are no runs)."""
    if not steps:
        return None
    ordered = sorted(math.inf if s is None else float(s) for s in steps)
    mid = len(ordered) // 2
    value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return None if math.isinf(value) else value


def settings_of(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """What must be equal for a resumed benchmark to continue an earlier one."""
    return {
        "trials": args.trials,
        "dqn_trials": args.dqn_trials,
        "sampler_seed": args.sampler_seed,
        "workers": args.workers,
        "check_seeds": args.check_seeds,
        "overrides": overrides,
    }


def load_finished(out: Path, settings: dict[str, Any]) -> dict[str, Search]:
    """The searches an earlier invocation finished under ``out``, by name.

    Raises ``ValueError`` when ``out`` holds a benchmark with other settings. A search directory
    that is not in ``report.json`` was interrupted: it is moved aside, not deleted.
    """
    path = out / "report.json"
    finished: dict[str, Search] = {}
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("settings") != settings:
            raise ValueError(
                f"{out} holds a benchmark with other settings ({saved.get('settings')}); "
                f"run it with those, or choose another --out"
            )
        for entry in saved["searches"]:
            search = Search(**{**entry, "study_dir": Path(entry["study_dir"])})
            if search.returncode == 0 and search.check.get("returncode", 0) == 0:
                finished[search.name] = search  # a failed search is run again
    elif any(out.glob("*/study.db")):
        raise ValueError(f"{out} holds studies but no report.json; choose another --out")
    known = {s.study_dir.name for s in finished.values()}
    for study_dir in sorted(out.glob("*")):
        interrupted = (study_dir / "study.db").is_file() and study_dir.name not in known
        if study_dir.is_dir() and interrupted:
            aside = study_dir.with_name(f"{study_dir.name}.interrupted-{datetime.now():%H%M%S}")
            study_dir.rename(aside)
            print(f"{study_dir} was interrupted: moved to {aside}", flush=True)
    return finished


def save(out: Path, settings: dict[str, Any], searches: list[Search]) -> None:
    """Write ``report.json`` (atomically) with the searches finished so far."""
    out.mkdir(parents=True, exist_ok=True)
    entries = [{**asdict(s), "study_dir": str(s.study_dir)} for s in searches]
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps({"settings": settings, "searches": entries}, indent=2))
    tmp.replace(out / "report.json")


def report(searches: list[Search], machine: str, trials: int, seed: int) -> str:
    """The markdown report: machine, commands, table."""
    lines = [
        f"# python -m rl_lab.tune on CartPole-v1 ({datetime.now():%Y-%m-%d})",
        "",
        f"Machine: {machine}. {trials} trials per PPO search, sampler seed {seed}; the best"
        f" trial is rerun on seeds {HELD_OUT} on, which no trial ran on.",
        "",
        "| search | wall time | completed | pruned | failed | best objective | best on seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in searches:
        check = s.check
        on_seeds = "-"
        if check.get("mean_final") is not None:
            steps = check.get("median_steps_to_solve")
            on_seeds = (
                f"{check['solved']}/{check['seeds']} solved, mean {check['mean_final']:.1f}, "
                f"median steps to 475: {'never' if steps is None else f'{steps:,.0f}'}"
            )
        best = "-" if s.best_value is None else f"{s.best_value:g} (trial {s.best_trial})"
        lines.append(
            f"| {s.name} | {s.wall_time_s:.0f} s | {s.states.get('complete', 0)} | "
            f"{s.states.get('pruned', 0)} | {s.states.get('fail', 0)} | {best} | {on_seeds} |"
        )
    by_name = {s.name: s for s in searches}
    ratios = []
    pruned, unpruned = (
        by_name.get(n) for n in ("median pruning, N workers", "no pruning, N workers")
    )
    if pruned and unpruned and unpruned.wall_time_s:
        ratios.append(
            f"pruning / no pruning wall time: {pruned.wall_time_s / unpruned.wall_time_s:.2f}"
        )
    one = by_name.get("median pruning, 1 worker")
    if pruned and one and one.wall_time_s:
        ratios.append(f"N workers / 1 worker wall time: {pruned.wall_time_s / one.wall_time_s:.2f}")
    lines += ["", *ratios, "", "Commands:", ""]
    lines += [f"    {shlex.join(s.argv)}" for s in searches]
    runs = {(s.machine, s.date[:10]) for s in searches if s.machine}
    if len(runs) > 1 or any(m != machine for m, _ in runs):
        lines += ["", "Searches run in separate invocations:", ""]
        lines += [f"- {s.name}: {s.date}, {s.machine}" for s in searches]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the three searches and their checks; print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per PPO search (40)")
    parser.add_argument("--dqn-trials", type=int, default=20, help="DQN search trials; 0: none")
    parser.add_argument("--sampler-seed", type=int, default=0, help="the same for every search")
    parser.add_argument("--workers", type=int, default=2, help="N of the parallel searches")
    parser.add_argument("--check-seeds", type=int, default=10, help="seeds of the best trial")
    parser.add_argument("--smoke", action="store_true", help="3 trials, tiny runs, 2 seeds")
    parser.add_argument("--out", type=Path, default=None, help="report folder")
    parser.add_argument("overrides", nargs="*", help="extra rl_lab overrides of every run")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.smoke:
        args.trials, args.dqn_trials, args.check_seeds = 3, 3, 2
        overrides = [*SMOKE_OVERRIDES, *overrides]
    out = (args.out or ROOT / "outputs" / "bench_tune").resolve()
    settings = settings_of(args, overrides)
    try:
        finished = load_finished(out, settings)
    except ValueError as exc:
        parser.error(str(exc))
    base = [
        sys.executable,
        "-m",
        "rl_lab.tune",
        f"sampler_seed={args.sampler_seed}",
        *overrides,
    ]
    t = args.trials
    searches = [
        Search("no pruning, N workers", "none", args.workers, out / "unpruned", trials=t),
        Search("median pruning, N workers", "median", args.workers, out / "pruned", trials=t),
        Search("median pruning, 1 worker", "median", 1, out / "pruned_1worker", trials=t),
    ]
    if args.dqn_trials:
        dqn = Search("DQN, median pruning, N workers", "median", args.workers, out / "dqn")
        dqn.experiment, dqn.trials, dqn.preset = (
            "dqn_cartpole_search",
            args.dqn_trials,
            "dqn_cartpole_best",
        )
        searches.append(dqn)
    machine = describe_machine()
    print(f"Machine: {machine}; load {os.getloadavg()}", flush=True)
    done: list[Search] = []
    for i, search in enumerate(searches):
        if search.name in finished:
            searches[i] = finished[search.name]
            print(f"{search.name}: finished earlier ({searches[i].wall_time_s:.0f} s)", flush=True)
        else:
            run_search(search, base)
            check_best(search, args.check_seeds)
        done.append(searches[i])
        save(out, settings, done)
    text = report(searches, machine, args.trials, args.sampler_seed).replace(
        "N workers", f"{args.workers} workers"
    )
    print(text)
    (out / "report.md").write_text(text)
    return 0 if all(s.returncode == 0 for s in searches) else 1


if __name__ == "__main__":
    sys.exit(main())
