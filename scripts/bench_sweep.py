"""Parallel vs sequential sweep: wall time and per-seed results.

Runs the same multirun twice through ``python -m rl_lab -m``: once with Hydra's basic launcher
(one job after the other, in one process) and once with the joblib launcher (``--jobs`` processes,
each job limited to its share of the cores by ``rl_lab.sweeps.threads.JobThreads``). Prints the
machine, the two commands, both wall times and their ratio, and checks that every seed's results
(final evaluation returns, evaluation history, env steps) are identical in both sweeps.

::

    python scripts/bench_sweep.py                          # DQN CartPole preset, seeds 0-9, 2 jobs
    python scripts/bench_sweep.py --seeds 4 total_steps=5000   # a quick check
    flock /tmp/team/bench.lock python scripts/bench_sweep.py --out docs/benchmarks/sweep

Writes ``report.md`` and ``report.json`` into ``--out`` (default ``outputs/bench_sweep/<time>``)
next to the two sweep directories. Exit status 1 when some seed's results differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rl_lab.reports.machine import describe_machine
from rl_lab.reports.runs import RESULTS_FILE, read_results

ROOT = Path(__file__).resolve().parent.parent
#: results.json fields that must be equal for a seed in both sweeps.
COMPARED = ("objective", "env_steps", "episodes", "gradient_steps")


@dataclass
class SweepRun:
    """One of the two sweeps: its command, wall time and per-seed results."""

    name: str
    argv: list[str]
    sweep_dir: Path
    wall_time_s: float = 0.0
    returncode: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def results(self) -> dict[int, dict[str, Any]]:
        """results.json of every job, by seed."""
        found = {}
        for path in sorted(self.sweep_dir.glob(f"*/{RESULTS_FILE}")):
            results = read_results(path, required=True)
            if results.seed is not None:  # the seed pairs a job with its twin in the other sweep
                found[results.seed] = results.raw  # compared entry by entry, as written
        return found


def run_sweep(sweep: SweepRun) -> None:
    """Run ``sweep.argv`` and record its wall time and the load around it."""
    sweep.load_before = os.getloadavg()
    print(f"[{datetime.now():%H:%M:%S}] {sweep.name}: {shlex.join(sweep.argv)}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(
        sweep.argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    sweep.wall_time_s = time.perf_counter() - started
    sweep.load_after = os.getloadavg()
    sweep.returncode = proc.returncode
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    print(f"    {sweep.wall_time_s:.1f} s (exit {proc.returncode})", flush=True)


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The fields in which two results.json of the same seed differ."""
    differences = [key for key in COMPARED if a.get(key) != b.get(key)]
    if a.get("eval", {}).get("returns") != b.get("eval", {}).get("returns"):
        differences.append("eval.returns")
    if a.get("eval_history") != b.get("eval_history"):
        differences.append("eval_history")
    return differences


def main(argv: list[str] | None = None) -> int:
    """Run both sweeps, print and write the report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--jobs", type=int, default=2, help="joblib launcher's n_jobs")
    parser.add_argument("--out", type=Path, default=None, help="report folder")
    parser.add_argument(
        "overrides", nargs="*", help="extra overrides (default: agent=dqn env=CartPole-v1)"
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "outputs" / "bench_sweep" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}"
    out = out.resolve()
    if any(out.glob(f"*/*/{RESULTS_FILE}")):
        parser.error(f"{out} already holds sweeps; choose another --out")
    base = [
        sys.executable,
        "-m",
        "rl_lab",
        "-m",
        "agent=dqn",
        "env=CartPole-v1",
        *args.overrides,
        f"seed=range({args.seeds})",
        "progress=false",
    ]
    sweeps = [
        SweepRun(
            "sequential", [*base, f"hydra.sweep.dir={out / 'sequential'}"], out / "sequential"
        ),
        SweepRun(
            f"joblib n_jobs={args.jobs}",
            [
                *base,
                "hydra/launcher=joblib",
                f"hydra.launcher.n_jobs={args.jobs}",
                f"hydra.sweep.dir={out / 'joblib'}",
            ],
            out / "joblib",
        ),
    ]
    for sweep in sweeps:
        run_sweep(sweep)

    sequential, parallel = (s.results() for s in sweeps)
    seeds = sorted(set(sequential) | set(parallel))
    rows, all_identical = [], True
    for seed in seeds:
        a, b = sequential.get(seed), parallel.get(seed)
        differences = compare(a, b) if a and b else ["missing"]
        all_identical &= not differences
        rows.append(
            {
                "seed": seed,
                "sequential_objective": a.get("objective") if a else None,
                "joblib_objective": b.get("objective") if b else None,
                "sequential_wall_time_s": a.get("wall_time_s") if a else None,
                "joblib_wall_time_s": b.get("wall_time_s") if b else None,
                "identical": not differences,
                "differences": differences,
            }
        )
    ratio = sweeps[1].wall_time_s / sweeps[0].wall_time_s
    machine = describe_machine()

    lines = [
        f"# Sweep benchmark: sequential vs joblib ({datetime.now():%Y-%m-%d %H:%M})",
        "",
        f"Machine: {machine}.",
        "",
        "| sweep | command | wall time (s) | load avg before → after (1 min) |",
        "|---|---|---|---|",
    ]
    for sweep in sweeps:
        command = shlex.join(["python", *sweep.argv[1:]]).replace(str(ROOT) + "/", "")
        lines.append(
            f"| {sweep.name} | `{command}` | {sweep.wall_time_s:.1f} "
            f"| {sweep.load_before[0]:.2f} → {sweep.load_after[0]:.2f} |"
        )
    lines += [
        "",
        f"joblib / sequential wall time: **{ratio:.2f}**; per-seed results identical: "
        f"**{'yes' if all_identical else 'NO'}** ({len(seeds)} seeds).",
        "",
        "| seed | objective (sequential) | objective (joblib) | job wall time seq / joblib (s) "
        "| identical |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        seq_t, par_t = row["sequential_wall_time_s"], row["joblib_wall_time_s"]
        times = f"{seq_t:.1f} / {par_t:.1f}" if seq_t and par_t else "–"
        same = "yes" if row["identical"] else "no: " + ", ".join(row["differences"])
        lines.append(
            f"| {row['seed']} | {row['sequential_objective']} | {row['joblib_objective']} "
            f"| {times} | {same} |"
        )
    report = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report)
    (out / "report.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "sweeps": [
                    {
                        "name": s.name,
                        "argv": s.argv,
                        "wall_time_s": s.wall_time_s,
                        "returncode": s.returncode,
                        "loadavg_before": s.load_before,
                        "loadavg_after": s.load_after,
                    }
                    for s in sweeps
                ],
                "ratio": ratio,
                "identical": all_identical,
                "seeds": rows,
            },
            indent=2,
        )
    )
    print(report)
    print(f"Report: {out / 'report.md'}")
    failed = any(s.returncode != 0 for s in sweeps)
    return 1 if failed or not all_identical else 0


if __name__ == "__main__":
    sys.exit(main())
