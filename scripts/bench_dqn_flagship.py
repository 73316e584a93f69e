"""The flagship preset's reliability: DQN on CartPole-v1 with the shipped preset, on seeds 0-19,
at one torch thread and at two (another summation order: a stand-in for another machine's math
kernels). A seed is solved when its final greedy evaluation (20 episodes) is at least 475.

Every run is ``python -m rl_lab agent=dqn env=CartPole-v1 seed=S torch_threads=T`` in its own
run directory under ``--out`` (``t<T>/s<S>``); finished runs are skipped, so the table can be
built over several invocations.

    python scripts/bench_dqn_flagship.py --seeds 0-19 --threads 1 2 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.compare import parse_seeds  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402

THRESHOLD = 475.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "dqn_flagship")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    runs = [(t, s, args.out / f"t{t}" / f"s{s}") for t in args.threads for s in seeds]

    def run(item: tuple[int, int, Path]) -> None:
        threads, seed, directory = item
        results = read_results(directory)
        if results is not None and results.status == "completed":
            return
        command = [sys.executable, "-m", "rl_lab", "agent=dqn", "env=CartPole-v1",
                   f"seed={seed}", f"torch_threads={threads}", "progress=false",
                   f"hydra.run.dir={directory}"]  # fmt: skip
        if (directory / "checkpoints" / "last.pt").is_file():
            command.append("resume=true")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        print(f"threads={threads} seed={seed}: exit {done.returncode}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run, runs))
    table = {}
    for threads in args.threads:
        finals, walls, unsolved = [], [], []
        for seed in seeds:
            results = read_results(args.out / f"t{threads}" / f"s{seed}")
            if results is None or results.status != "completed":
                continue
            final = results.final_return
            finals.append(final)
            walls.append(results.wall_time_s)
            if final < THRESHOLD:
                unsolved.append((seed, final))
        table[threads] = {
            "solved": sum(f >= THRESHOLD for f in finals),
            "runs": len(finals),
            "mean_final_eval": float(np.mean(finals)) if finals else None,
            "median_wall_time_s": float(np.median(walls)) if walls else None,
            "unsolved": unsolved,
        }
        row = table[threads]
        print(
            f"torch_threads={threads}: solved {row['solved']}/{row['runs']}, mean final eval "
            f"{row['mean_final_eval']}, median wall {row['median_wall_time_s']} s, "
            f"unsolved {unsolved}"
        )
    (args.out / "bench.json").write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
