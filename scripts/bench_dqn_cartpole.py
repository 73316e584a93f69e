"""DQN on CartPole-v1: reliability, time to a solved agent, and engineering efficiency vs SB3.

Runs, each seed in its own process (``--jobs`` at a time, one torch thread each):

- ``ours``: ``python -m rl_lab agent=dqn env=CartPole-v1 seed=S`` with the shipped preset;
- ``ours-zoo``: our DQN with hyperparameters set equal to RL Zoo's CartPole preset;
- ``sb3-zoo``: Stable-Baselines3's DQN with RL Zoo's CartPole preset.

Every run is scored the same way: the final greedy policy over 20 episodes reset with seeds
1_000_000 + i (rl_lab's evaluation protocol). Prints a table and writes ``bench.json``.

    python scripts/bench_dqn_cartpole.py --seeds 0-9 --variants ours ours-zoo sb3-zoo --jobs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EVAL_SEED, EVAL_EPISODES, THRESHOLD = 1_000_000, 20, 475.0

#: RL Zoo's tuned DQN hyperparameters for CartPole-v1 (rl-baselines3-zoo hyperparams/dqn.yml).
ZOO = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "net_arch": [256, 256],
}
TOTAL_STEPS = 50_000


def ours_command(seed: int, run_dir: Path, zoo: bool, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "rl_lab", "agent=dqn", "env=CartPole-v1", f"seed={seed}"]
    cmd += [f"total_steps={TOTAL_STEPS}", "progress=false", "torch_threads=1"]
    if zoo:  # the zoo values, spelled out so the run does not depend on our preset
        for key, value in ZOO.items():
            if key == "net_arch":
                cmd.append(f"agent.network.encoder.hidden_sizes=[{','.join(map(str, value))}]")
            else:
                cmd.append(f"agent.{key}={value}")
        cmd += ["agent.lr_schedule=constant", "agent.double_q=false", "agent.tau=1.0"]
        cmd += ["agent.network.head=q", "agent.max_grad_norm=10", "agent.loss=huber"]
        cmd += ["agent.exploration_initial_eps=1.0"]
    return [*cmd, *extra, f"hydra.run.dir={run_dir}"]


def run_ours(seed: int, out: Path, zoo: bool, extra: list[str]) -> dict:
    run_dir = out / ("ours-zoo" if zoo else "ours") / f"seed_{seed}"
    started = time.perf_counter()
    proc = subprocess.run(
        ours_command(seed, run_dir, zoo, extra), cwd=ROOT, capture_output=True, text=True
    )
    process_s = time.perf_counter() - started
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr[-2000:]}
    results = json.loads((run_dir / "results.json").read_text())
    return {
        "seed": seed,
        "mean_return": results["eval"]["mean_return"],
        "wall_time_s": results["wall_time_s"],
        "process_s": process_s,
    }


SB3_CHILD = r"""
import json, sys, time
import gymnasium as gym, numpy as np, torch
from stable_baselines3 import DQN
seed, zoo, total, eval_seed, episodes = json.loads(sys.argv[1])
torch.set_num_threads(1)
started = time.perf_counter()
net_arch = zoo.pop("net_arch")
model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0,
            policy_kwargs={"net_arch": net_arch}, **zoo)
model.learn(total)
wall = time.perf_counter() - started
envs = gym.make_vec("CartPole-v1", num_envs=episodes, vectorization_mode="sync")
obs, _ = envs.reset(seed=[eval_seed + i for i in range(episodes)])
returns, running = np.zeros(episodes), np.ones(episodes, bool)
while running.any():
    obs, r, term, trunc, _ = envs.step(model.predict(obs, deterministic=True)[0])
    returns += r * running
    running &= ~(term | trunc)
print(json.dumps({"mean_return": float(returns.mean()), "wall_time_s": wall}))
"""


def run_sb3(seed: int) -> dict:
    started = time.perf_counter()
    args = json.dumps([seed, dict(ZOO), TOTAL_STEPS, EVAL_SEED, EVAL_EPISODES])
    proc = subprocess.run(
        [sys.executable, "-c", SB3_CHILD, args], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr[-2000:]}
    return {
        "seed": seed,
        **json.loads(proc.stdout.strip().splitlines()[-1]),
        "process_s": time.perf_counter() - started,
    }


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = map(int, text.split("-"))
        return list(range(low, high + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument(
        "--variants", nargs="+", default=["ours", "ours-zoo", "sb3-zoo"],
        choices=["ours", "ours-zoo", "sb3-zoo"],
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 for timings)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_dqn_cartpole")
    parser.add_argument("overrides", nargs="*", help="extra overrides for the 'ours' runs")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    tasks = []
    for variant in args.variants:
        for seed in seeds:
            if variant == "sb3-zoo":
                tasks.append((variant, seed, lambda s=seed: run_sb3(s)))
            else:
                zoo = variant == "ours-zoo"
                extra = [] if zoo else args.overrides
                tasks.append(
                    (variant, seed, lambda s=seed, z=zoo, e=extra: run_ours(s, args.out, z, e))
                )
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [(variant, pool.submit(fn)) for variant, _, fn in tasks]
        rows: dict[str, list[dict]] = {}
        for variant, future in futures:
            row = future.result()
            rows.setdefault(variant, []).append(row)
            print(variant, json.dumps(row), flush=True)

    print(f"\nDQN CartPole-v1, {TOTAL_STEPS:,} env steps, greedy eval {EVAL_EPISODES} episodes")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jobs={args.jobs}; command: {' '.join(sys.argv)}")  # fmt: skip
    print(f"{'variant':10} {'solved':>8} {'mean eval':>10} {'median wall s':>14}  returns")
    summary = {}
    for variant, variant_rows in rows.items():
        ok = [r for r in variant_rows if "error" not in r]
        returns = [r["mean_return"] for r in ok]
        walls = [r["wall_time_s"] for r in ok]
        solved = sum(r >= THRESHOLD for r in returns)
        summary[variant] = {
            "solved": solved,
            "runs": len(variant_rows),
            "errors": len(variant_rows) - len(ok),
            "returns": returns,
            "median_wall_time_s": float(np.median(walls)) if walls else None,
        }
        print(
            f"{variant:10} {solved:>4}/{len(variant_rows):<3} {np.mean(returns):>10.1f} "
            f"{np.median(walls):>14.1f}  {', '.join(f'{r:.0f}' for r in returns)}"
        )
    if "ours-zoo" in summary and "sb3-zoo" in summary:
        ratio = summary["ours-zoo"]["median_wall_time_s"] / summary["sb3-zoo"]["median_wall_time_s"]
        summary["efficiency_ratio_ours_zoo_over_sb3"] = ratio
        print(f"engineering efficiency (same hyperparameters): ours/SB3 wall time = {ratio:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
