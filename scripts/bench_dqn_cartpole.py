"""DQN on CartPole-v1: reliability, time to a solved agent, and engineering efficiency vs SB3.

Every run goes through ``python -m rl_lab`` (one process per run, ``--jobs`` at a time, one
torch thread each), so all of them share the env construction, seeds, 50k-step budget and the
evaluation protocol (final greedy policy, 20 episodes reset with seeds 1_000_000 + i):

- ``ours``:      ``agent=dqn`` with the shipped CartPole preset;
- ``ours-zoo``:  ``agent=dqn`` with RL Zoo's tuned CartPole hyperparameters;
- ``sb3-zoo``:   ``agent=dqn impl=sb3`` (Stable-Baselines3's DQN) with the same zoo
                 hyperparameters;
- ``sb3``:       ``agent=dqn impl=sb3`` with the shipped preset (options SB3 lacks set to its
                 equivalents), for the side-by-side report of ``rl_lab.compare``;
- ``dli``:       ``experiment=dli_cartpole_dqn``, *Deep Learning Illustrated*'s own agent (no
                 target network, per-episode replay, exponential epsilon), same budget.

Prints the table (solved k/n, mean eval, median wall time) and the ratios, writes
``bench.json``, and one ``rl_lab.compare`` report per pair (``preset/``: ours vs sb3,
``zoo/``: ours-zoo vs sb3-zoo) under ``--out``.

    python scripts/bench_dqn_cartpole.py --seeds 0-9 --jobs 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.compare import build_report, parse_seeds  # noqa: E402
from rl_lab.reports.machine import describe_machine  # noqa: E402
from rl_lab.reports.runs import RESULTS_FILE, read_results  # noqa: E402

THRESHOLD = 475.0

#: RL Zoo's tuned DQN hyperparameters for CartPole-v1 (rl-baselines3-zoo, hyperparams/dqn.yml),
#: with every other option at SB3's DQN default.
ZOO = [
    "total_steps=50000",
    "agent.learning_rate=2.3e-3",
    "agent.lr_schedule=constant",
    "agent.batch_size=64",
    "agent.buffer_size=100000",
    "agent.learning_starts=1000",
    "agent.gamma=0.99",
    "agent.target_update_interval=10",
    "agent.train_freq=256",
    "agent.gradient_steps=128",
    "agent.exploration_fraction=0.16",
    "agent.exploration_initial_eps=1.0",
    "agent.exploration_final_eps=0.04",
    "agent.tau=1.0",
    "agent.max_grad_norm=10",
    "agent.double_q=false",
    "agent.network.head=q",
    "agent.network.encoder.hidden_sizes=[256,256]",
]

#: variant → (folder, impl, overrides); every variant is agent=dqn
VARIANTS = {
    "ours": ("preset/ours", "rl_lab", []),
    "dli": ("dli/ours", "rl_lab", ["experiment=dli_cartpole_dqn"]),
    "sb3": ("preset/sb3", "sb3", ["agent.double_q=false", "agent.network.head=q"]),
    "ours-zoo": ("zoo/ours", "rl_lab", ZOO),
    "sb3-zoo": ("zoo/sb3", "sb3", ZOO),
}


def run(variant: str, seed: int, out: Path) -> dict:
    folder, impl, overrides = VARIANTS[variant]
    run_dir = out / folder / f"seed_{seed}"
    cmd = [sys.executable, "-m", "rl_lab", "agent=dqn", f"impl={impl}", "env=CartPole-v1"]
    cmd.append(f"seed={seed}")
    cmd += [*overrides, "torch_threads=1", "progress=false", f"hydra.run.dir={run_dir}"]
    if (run_dir / RESULTS_FILE).exists():  # rerunning the script reuses finished runs
        cmd = None
    started = time.perf_counter()
    if cmd is not None:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"seed": seed, "error": proc.stderr[-1500:]}
    results = read_results(run_dir, required=True)
    return {
        "seed": seed,
        **results.headline(),
        "episodes_to_solved": episodes_to_solved(run_dir),
        "process_s": time.perf_counter() - started,
    }


def episodes_to_solved(run_dir: Path) -> int | None:
    """Training episodes finished when a periodic greedy evaluation first reached the
    threshold (``None``: never, or a run recorded before evaluations counted episodes)."""
    reached = read_results(run_dir, required=True).first_reached(THRESHOLD)
    return None if reached is None else reached[1]


def median_or_never(values: list[int | None]) -> float | None:
    """The median with ``None`` (never solved) above every number; ``None`` when the median
    run never solved."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0))
    if not ranked:
        return None
    middle = ranked[(len(ranked) - 1) // 2 : len(ranked) // 2 + 1]
    if any(v is None for v in middle):
        return None
    return float(np.mean([float(v) for v in middle if v is not None]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9, 0,3,5 or 10 (= 0-9)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (1 for clean timings)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_dqn_cartpole")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    # seed-major order: the variants of a seed run back to back, so a change in background load
    # over time affects every variant alike
    tasks = [(variant, seed) for seed in seeds for variant in args.variants]
    rows: dict[str, list[dict]] = {variant: [] for variant in args.variants}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [(v, pool.submit(run, v, s, args.out)) for v, s in tasks]
        for variant, future in futures:
            rows[variant].append(future.result())
            print(variant, json.dumps(rows[variant][-1]), flush=True)

    print("\nDQN CartPole-v1, 50,000 env steps, final greedy eval over 20 episodes")
    print(f"{describe_machine()}; jobs={args.jobs}, torch_threads=1")
    print(f"command: python {' '.join(sys.argv)}\n")
    print(
        f"{'variant':9} {'solved':>7} {'mean eval':>10} {'median wall s':>14} {'median SPS':>11} "
        f"{'median episodes to 475':>23}"
    )
    summary: dict[str, dict] = {}
    for variant, variant_rows in rows.items():
        ok = [r for r in variant_rows if "error" not in r]
        returns = [r["mean_return"] for r in ok]
        solved = sum(r >= THRESHOLD for r in returns)
        summary[variant] = {
            "solved": solved,
            "runs": len(variant_rows),
            "errors": [r for r in variant_rows if "error" in r],
            "returns": returns,
            "median_wall_time_s": float(np.median([r["wall_time_s"] for r in ok])),
            "median_sps": float(np.median([r["sps"] for r in ok])),
            # runs that never reached the threshold count as infinitely slow
            "median_episodes_to_solved": median_or_never([r.get("episodes_to_solved") for r in ok]),
        }
        s = summary[variant]
        to_solved = s["median_episodes_to_solved"]
        print(
            f"{variant:9} {solved:>3}/{len(variant_rows):<3} {np.mean(returns):>10.1f} "
            f"{s['median_wall_time_s']:>14.1f} {s['median_sps']:>11.0f} "
            f"{'never' if to_solved is None else f'{to_solved:.0f}':>23}   "
            + ", ".join(f"{r:.0f}" for r in returns)
        )
    ratios = {
        "time_to_solved_ours_over_sb3_zoo": ("ours", "sb3-zoo"),
        "efficiency_ours_zoo_over_sb3_zoo": ("ours-zoo", "sb3-zoo"),
    }
    for name, (a, b) in ratios.items():
        if a in summary and b in summary:
            value = summary[a]["median_wall_time_s"] / summary[b]["median_wall_time_s"]
            summary[name] = value
            print(f"{name}: {value:.2f}")
    for pair in ("preset", "zoo"):
        if (args.out / pair / "ours").is_dir() and (args.out / pair / "sb3").is_dir():
            build_report(args.out / pair, args.out / pair)
            print(f"report: {args.out / pair / 'report.md'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
