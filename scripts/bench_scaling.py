"""Scaling curves: PPO throughput against the number of envs, DQN's step time against the
replay size.

1. **PPO on CartPole-v1** (the shipped preset: 32-step rollouts per env, 20 epochs; the
   minibatch is the preset's 256 or the whole rollout when it is smaller), ``env.num_envs`` from
   1 to 64 with ``env.vectorization`` sync, async and native (gymnasium's numpy
   ``CartPoleVectorEnv``): SPS of training (``results.json``) over ``--ppo-steps`` env steps,
   each run in its own process with one torch thread. ``--pong`` adds PPO on Pong (the Atari
   preset, ale-py's C++ vector env ``env.backend=ale_vector``) with 8 to 64 envs.
2. **DQN** with the CartPole preset's update (batch 64, 256x256, 3-step returns): the replay
   holds 10^4, 10^5 or 10^6 random transitions, and the script times ``ReplayBuffer.sample``
   and ``DQN.update`` apart, median microseconds over ``--dqn-iters`` calls. Sampling draws
   uniform indices and gathers rows, so its cost should not grow with the capacity beyond cache
   effects.

Writes ``report.md``, ``report.json`` and ``scaling.png`` into ``--out``.

    python scripts/bench_scaling.py --out docs/benchmarks/scaling
    python scripts/bench_scaling.py --smoke --out /tmp/scaling     # checks the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402

ENV_COUNTS = (1, 2, 4, 8, 16, 32, 64)
PONG_ENV_COUNTS = (8, 16, 32, 64)
VECTORIZATIONS = ("sync", "async", "native")
REPLAY_SIZES = (10_000, 100_000, 1_000_000)
#: The PPO CartPole preset's rollout length and minibatch (conf/preset/ppo/CartPole-v1.yaml).
PPO_N_STEPS, PPO_BATCH = 32, 256


def ppo_overrides(num_envs: int, vectorization: str) -> list[str]:
    """``python -m rl_lab`` arguments of one PPO CartPole point."""
    batch = min(PPO_BATCH, PPO_N_STEPS * num_envs)
    return ["agent=ppo", "env=CartPole-v1", f"env.num_envs={num_envs}",
            f"env.vectorization={vectorization}", f"agent.batch_size={batch}"]  # fmt: skip


def pong_overrides(num_envs: int) -> list[str]:
    """``python -m rl_lab`` arguments of one PPO Pong point (the Atari preset)."""
    return ["agent=ppo", "env=ALE/Pong-v5", "env.backend=ale_vector", f"env.num_envs={num_envs}"]


def run_point(overrides: list[str], steps: int, run_dir: Path) -> float:
    """Training SPS of one ``python -m rl_lab`` run (no evaluation, no checkpoints)."""
    command = [sys.executable, "-m", "rl_lab", *overrides, f"total_steps={steps}",
               "eval.freq=0", "eval.final_episodes=1", "checkpointing.freq=0", "progress=false",
               "torch_threads=1", "device=cpu", f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return read_results(run_dir, required=True).sps


def dqn_step_times(capacity: int, iterations: int, seed: int = 0) -> dict[str, float]:
    """Median microseconds of one ``sample`` and one ``update`` with ``capacity`` random
    CartPole-shaped transitions in the replay."""
    import gymnasium as gym
    import torch

    from rl_lab.rl.buffers import ReplayBuffer
    from rl_lab.rl.dqn import DQN

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(capacity, (4,), np.float32)
    buffer.obs[:] = rng.standard_normal((capacity, 4), dtype=np.float32)
    buffer.next_obs[:] = rng.standard_normal((capacity, 4), dtype=np.float32)
    buffer.actions[:] = rng.integers(0, 2, capacity)
    buffer.rewards[:] = 1.0
    buffer.dones[:] = rng.random(capacity) < 0.01
    buffer.terminated[:] = buffer.dones
    buffer.size, buffer.pos = capacity, 0
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    agent = DQN(space, gym.spaces.Discrete(2), total_steps=50_000, n_steps=3, batch_size=64)
    sample_us, update_us = [], []
    for i in range(iterations):
        start = time.perf_counter()
        batch = buffer.sample(64, rng, n_steps=3, gamma=0.99)
        middle = time.perf_counter()
        agent.update(batch, env_step=i)
        end = time.perf_counter()
        sample_us.append((middle - start) * 1e6)
        update_us.append((end - middle) * 1e6)
    return {"sample_us": statistics.median(sample_us), "update_us": statistics.median(update_us)}


def plot(report: dict[str, Any], path: Path) -> None:
    """PPO SPS against num_envs (log x) per vectorization, and DQN times against replay size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if report["pong"] else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    for name, points in report["ppo"].items():
        counts = sorted(int(n) for n in points)
        axes[0].plot(counts, [points[str(n)] for n in counts], marker="o", label=name)
    axes[0].set(xscale="log", xlabel="env.num_envs", ylabel="SPS", title="PPO CartPole-v1")
    axes[0].set_xticks(list(ENV_COUNTS), [str(n) for n in ENV_COUNTS])
    axes[0].legend()
    sizes = sorted(int(n) for n in report["dqn"])
    for key, label in (("sample_us", "sample (64)"), ("update_us", "update (64)")):
        axes[1].plot(sizes, [report["dqn"][str(n)][key] for n in sizes], marker="o", label=label)
    axes[1].set(xscale="log", xlabel="replay size", ylabel="µs per call", title="DQN step")
    axes[1].set_ylim(bottom=0)
    axes[1].legend()
    if report["pong"]:
        counts = sorted(int(n) for n in report["pong"])
        axes[2].plot(counts, [report["pong"][str(n)] for n in counts], marker="o")
        axes[2].set(
            xscale="log", xlabel="env.num_envs", ylabel="SPS", title="PPO Pong (ale_vector)"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(report: dict[str, Any], command: str) -> str:
    """The report's tables."""
    lines = [f"# Scaling ({report['machine']['date'][:10]})", "",
             f"`{command}` on {report['description']}; one torch thread per run.", "",
             f"PPO CartPole-v1, SPS of training over {report['ppo_steps']:,} env steps:", "",
             "| env.num_envs | " + " | ".join(report["ppo"]) + " |",
             "|---|" + "---|" * len(report["ppo"])]  # fmt: skip
    counts = sorted({int(n) for points in report["ppo"].values() for n in points})
    for n in counts:
        cells = [
            f"{points[str(n)]:,.0f}" if str(n) in points else "-"
            for points in report["ppo"].values()
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    if report["pong"]:
        lines += ["", f"PPO Pong (ale_vector), SPS over {report['pong_steps']:,} env steps:", "",
                  "| env.num_envs | SPS |", "|---|---|"]  # fmt: skip
        lines += [f"| {n} | {sps:,.0f} |" for n, sps in report["pong"].items()]
    lines += ["", f"DQN, median µs per call over {report['dqn_iters']:,} calls (batch 64, "
              "256x256, 3-step returns):", "", "| replay size | sample | update |",
              "|---|---|---|"]  # fmt: skip
    for n, times in report["dqn"].items():
        lines.append(f"| {int(n):,} | {times['sample_us']:.0f} | {times['update_us']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ppo-steps", type=int, default=65_536)
    parser.add_argument("--pong", action="store_true", help="also PPO on Pong, 8-64 envs")
    parser.add_argument("--pong-steps", type=int, default=16_384)
    parser.add_argument("--dqn-iters", type=int, default=2_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets and few points")
    args = parser.parse_args()
    counts, pong_counts, sizes = ENV_COUNTS, PONG_ENV_COUNTS, REPLAY_SIZES
    if args.smoke:
        args.ppo_steps, args.pong_steps, args.dqn_iters = 2_048, 2_048, 20
        counts, pong_counts, sizes = (1, 8), (8,), (10_000, 100_000)
    description = describe_machine()
    print(f"Machine: {description}", flush=True)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "description": description,
        "ppo_steps": args.ppo_steps,
        "pong_steps": args.pong_steps,
        "dqn_iters": args.dqn_iters,
        "ppo": {},
        "pong": {},
        "dqn": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_scaling") as work:
        for vectorization in VECTORIZATIONS:
            points = report["ppo"].setdefault(vectorization, {})
            for n in counts:
                run_dir = Path(work) / f"ppo_{vectorization}_{n}"
                points[str(n)] = run_point(ppo_overrides(n, vectorization), args.ppo_steps, run_dir)
                print(f"  ppo {vectorization} {n} envs: {points[str(n)]:,.0f} SPS", flush=True)
        if args.pong:
            for n in pong_counts:
                run_dir = Path(work) / f"pong_{n}"
                report["pong"][str(n)] = run_point(pong_overrides(n), args.pong_steps, run_dir)
                print(f"  pong {n} envs: {report['pong'][str(n)]:,.0f} SPS", flush=True)
    for size in sizes:
        report["dqn"][str(size)] = dqn_step_times(size, args.dqn_iters)
        print(f"  dqn replay {size:,}: {report['dqn'][str(size)]}", flush=True)
    command = "python scripts/bench_scaling.py " + " ".join(sys.argv[1:])
    text = markdown(report, command)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(text)
    (args.out / "report.json").write_text(json.dumps({**report, "command": command}, indent=2))
    plot(report, args.out / "scaling.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
