"""Optuna searches with ``python -m rl_lab.tune``: what pruning and a second worker buy.

Runs the PPO CartPole search (conf/hparams_search/ppo_cartpole.yaml) three times with the same
sampler seed, each as its own study under ``--out``:

- ``no pruning, N workers``: ``pruner=none workers=N``;
- ``median pruning, N workers``: ``pruner=median workers=N``;
- ``median pruning, 1 worker``: ``pruner=median workers=1`` (N workers against 1).

For each it records the wall time, the trials by state (completed, pruned, failed), the best
objective, and the best trial's preset rerun on ``--check-seeds`` seeds (solved = final
evaluation >= 475, CartPole's threshold). Prints the machine, every command and a table, and
writes ``report.md`` and ``report.json`` into ``--out``.

::

    python scripts/bench_tune.py                      # 40 trials, 2 workers, 10 seeds (hours)
    python scripts/bench_tune.py --smoke              # a tiny budget: checks the script only
    flock /tmp/team/bench.lock python scripts/bench_tune.py --out docs/benchmarks/tune
"""

from __future__ import annotations

import argparse
import json
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

ROOT = Path(__file__).resolve().parent.parent
#: CartPole-v1's reward threshold.
SOLVED = 475.0
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
    argv: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0
    returncode: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_trial: int | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)


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
        f"pruner={search.pruner}",
        f"workers={search.workers}",
        f"study={search.study_dir.name}",
        f"study_dir={search.study_dir}",
    ]
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
    ``seeds`` seeds, with the joblib launcher."""
    preset = search.study_dir / "ppo_cartpole_best.yaml"
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
        f"seed=range({seeds})",
        "progress=false",
        "hydra/launcher=joblib",
        f"hydra.searchpath=[gymenv://rl_lab,file://{conf.parent}]",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    elapsed, code = _run(argv, f"{search.name}: best trial on {seeds} seeds")
    finals = []
    for path in sorted(sweep_dir.glob("*/results.json")):
        results = json.loads(path.read_text())
        if results.get("status") == "completed":
            finals.append(float(results["objective"]))
    search.check = {
        "seeds": seeds,
        "completed": len(finals),
        "solved": sum(v >= SOLVED for v in finals),
        "mean_final": sum(finals) / len(finals) if finals else None,
        "finals": finals,
        "wall_time_s": elapsed,
        "returncode": code,
    }


def report(searches: list[Search], machine: str, trials: int, seed: int) -> str:
    """The markdown report: machine, commands, table."""
    lines = [
        f"# python -m rl_lab.tune on PPO CartPole ({datetime.now():%Y-%m-%d})",
        "",
        f"Machine: {machine}. {trials} trials per search, sampler seed {seed}.",
        "",
        "| search | wall time | completed | pruned | failed | best objective | best on seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in searches:
        check = s.check
        on_seeds = (
            f"{check['solved']}/{check['seeds']} solved, mean {check['mean_final']:.1f}"
            if check.get("mean_final") is not None
            else "-"
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
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the three searches and their checks; print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per search (default 40)")
    parser.add_argument("--sampler-seed", type=int, default=0, help="the same for every search")
    parser.add_argument("--workers", type=int, default=2, help="N of the parallel searches")
    parser.add_argument("--check-seeds", type=int, default=10, help="seeds of the best trial")
    parser.add_argument("--smoke", action="store_true", help="3 trials, tiny runs, 2 seeds")
    parser.add_argument("--out", type=Path, default=None, help="report folder")
    parser.add_argument("overrides", nargs="*", help="extra rl_lab overrides of every run")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.smoke:
        args.trials, args.check_seeds = 3, 2
        overrides = [*SMOKE_OVERRIDES, *overrides]
    out = args.out or ROOT / "outputs" / "bench_tune" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}"
    out = out.resolve()
    if any(out.glob("*/study.db")):
        parser.error(f"{out} already holds studies; choose another --out")
    base = [
        sys.executable,
        "-m",
        "rl_lab.tune",
        "experiment=ppo_cartpole_search",
        f"n_trials={args.trials}",
        f"sampler_seed={args.sampler_seed}",
        *overrides,
    ]
    searches = [
        Search("no pruning, N workers", "none", args.workers, out / "unpruned"),
        Search("median pruning, N workers", "median", args.workers, out / "pruned"),
        Search("median pruning, 1 worker", "median", 1, out / "pruned_1worker"),
    ]
    machine = describe_machine()
    print(f"Machine: {machine}; load {os.getloadavg()}", flush=True)
    for search in searches:
        run_search(search, base)
        check_best(search, args.check_seeds)
    text = report(searches, machine, args.trials, args.sampler_seed).replace(
        "N workers", f"{args.workers} workers"
    )
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(
        json.dumps([{**asdict(s), "study_dir": str(s.study_dir)} for s in searches], indent=2)
    )
    return 0 if all(s.returncode == 0 for s in searches) else 1


if __name__ == "__main__":
    sys.exit(main())
