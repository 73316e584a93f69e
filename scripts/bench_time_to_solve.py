"""Time to a solved CartPole-v1 agent, in seconds of wall time, process start included.

Each run is one ``python -m rl_lab ...`` process, timed from its start to its exit; a seed is
solved when the run's final greedy evaluation (20 episodes) is at least 475. Runs go one at a
time (a wall-time figure), each in its own run directory under ``--out`` (``<variant>/s<seed>``,
with ``timing.json`` beside ``results.json``); finished runs are skipped, so the table can be
built over several invocations.

Variants:
- ``ppo_fast``: ``experiment=ppo_cartpole_fast`` (tuned on seeds 0-9: report it on others).
- ``dqn_fast``: ``experiment=dqn_cartpole_fast`` (tuned on seeds 0-9: report it on others).
- ``dqn``: the flagship, ``agent=dqn env=CartPole-v1`` (its preset: 50k steps, best.pt).
- ``dqn_stop``: the flagship stopped at the first periodic evaluation reaching 490.
- ``sb3_ppo_zoo``: Stable-Baselines3's PPO with RL Zoo's CartPole-v1 preset (100k steps).
- ``sb3_dqn_zoo``: Stable-Baselines3's DQN with RL Zoo's CartPole-v1 preset (50k steps).

    python scripts/bench_time_to_solve.py --variants ppo_fast dqn_fast --seeds 10-19
    python scripts/bench_time_to_solve.py --variants sb3_ppo_zoo sb3_dqn_zoo --seeds 10-12
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.compare import parse_seeds  # noqa: E402
from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402
from rl_lab.run_dir import read_json, write_json  # noqa: E402

THRESHOLD = 475.0

#: RL Zoo's DQN on CartPole-v1 (hyperparams/dqn.yml) where the shipped preset differs from it.
_ZOO_DQN = ["agent.learning_rate=2.3e-3", "agent.lr_schedule=constant", "agent.n_steps=1",
            "eval.select=last"]  # fmt: skip

VARIANTS: dict[str, list[str]] = {
    "ppo_fast": ["experiment=ppo_cartpole_fast"],
    "dqn_fast": ["experiment=dqn_cartpole_fast"],
    "dqn": ["agent=dqn", "env=CartPole-v1"],
    "dqn_stop": ["agent=dqn", "env=CartPole-v1", "eval.stop_at=490"],
    "sb3_ppo_zoo": ["agent=ppo", "env=CartPole-v1", "impl=sb3"],
    "sb3_dqn_zoo": ["agent=dqn", "env=CartPole-v1", "impl=sb3", *_ZOO_DQN],
}


def run_one(variant: str, seed: int, directory: Path) -> dict[str, float] | None:
    """Run (or skip, when finished) one seed; its ``timing.json``, or ``None`` on failure."""
    timing_path = directory / "timing.json"
    results = read_results(directory)
    timing = read_json(timing_path)
    if results is not None and results.status == "completed" and timing:
        return timing
    command = [sys.executable, "-m", "rl_lab", *VARIANTS[variant], f"seed={seed}",
               "progress=false", f"hydra.run.dir={directory}"]  # fmt: skip
    # a fresh start: a partial run's resume would not time the whole of it
    for stale in ("results.json", "checkpoints/last.pt"):
        (directory / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"{variant} seed={seed}: exit {done.returncode}\n{done.stderr[-2000:]}", flush=True)
        return None
    timing = {"process_wall_s": wall}
    write_json(timing_path, timing)
    return timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["ppo_fast"], choices=sorted(VARIANTS))
    parser.add_argument("--seeds", default="10-19")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "time_to_solve")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    print(describe_machine())
    # variants measured by earlier invocations stay in bench.json, each with its machine
    previous = read_json(args.out / "bench.json")
    table = {"variants": previous.get("variants", {}) if isinstance(previous, dict) else {}}
    for variant in args.variants:
        rows = []
        for seed in seeds:
            directory = args.out / variant / f"s{seed}"
            timing = run_one(variant, seed, directory)
            results = read_results(directory)
            if timing is None or results is None:
                continue
            row = {
                "seed": seed,
                "final_eval": results.final_return,
                "process_wall_s": float(timing["process_wall_s"]),
                "training_wall_s": results.wall_time_s,
                "env_steps": results.env_steps,
                "stopped_early_at": results.stopped_early_at,
            }
            rows.append(row)
            print(
                f"{variant} seed={seed}: final eval {row['final_eval']:.1f}, process "
                f"{row['process_wall_s']:.2f} s (training {row['training_wall_s']:.2f} s), "
                f"{row['env_steps']:,} env steps",
                flush=True,
            )
        walls = [r["process_wall_s"] for r in rows]
        solved = [r for r in rows if r["final_eval"] >= THRESHOLD]
        summary = {
            "command": "python -m rl_lab " + " ".join(VARIANTS[variant]),
            "bench_command": "python " + " ".join(sys.argv),
            "machine": machine_info(),
            "runs": len(rows),
            "solved": len(solved),
            "solved_within_10s": sum(r["process_wall_s"] <= 10.0 for r in solved),
            "median_process_wall_s": float(np.median(walls)) if walls else None,
            "max_process_wall_s": float(np.max(walls)) if walls else None,
            "median_env_steps": float(np.median([r["env_steps"] for r in rows])) if rows else None,
            "rows": rows,
        }
        table["variants"][variant] = summary
        print(
            f"{variant}: solved {summary['solved']}/{summary['runs']}, "
            f"{summary['solved_within_10s']} of them in <= 10 s; median process wall "
            f"{summary['median_process_wall_s']} s, max {summary['max_process_wall_s']} s",
            flush=True,
        )
    write_json(args.out / "bench.json", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
