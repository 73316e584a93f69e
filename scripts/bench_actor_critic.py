"""A2C, PPO and recurrent PPO: reliability of the shipped presets, and throughput vs SB3.

Benchmarks (each seed of each variant in its own process, ``--jobs`` at a time, one torch
thread each):

- ``ppo-cartpole``: ``agent=ppo env=CartPole-v1`` (RL Zoo preset, 100k steps);
- ``a2c-cartpole``: ``agent=a2c env=CartPole-v1`` (RL Zoo preset, 500k steps);
- ``ppo_lstm-novel``: ``agent=ppo_lstm env=CartPoleNoVel-v1`` (RL Zoo RecurrentPPO preset, 150k);
- ``ppo_mlp-novel``: the same budget and hyperparameters with a feed-forward PPO, which cannot
  see velocities and should stay far below the recurrent one.

Variants: ``ours`` (``python -m rl_lab ...``) and ``sb3`` (Stable-Baselines3's ``PPO``/``A2C``,
sb3-contrib's ``RecurrentPPO``) with the same hyperparameters, env count and budget. Every run
is scored the same way: the final greedy policy over 20 episodes reset with seeds
1_000_000 + i (rl_lab's evaluation protocol; recurrent policies keep a state per episode).
Throughput (SPS) is env steps per second of training, without periodic evaluation or
checkpoints. Prints a table and writes ``bench.json``.

    python scripts/bench_actor_critic.py --seeds 0-4 --jobs 1
    python scripts/bench_actor_critic.py --seeds 0-4 --sb3-seeds 0 --benches a2c-cartpole
    python scripts/bench_actor_critic.py --seeds 0 --total-steps 4096   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl_lab.reports.machine import describe_machine
from rl_lab.reports.runs import read_results

ROOT = Path(__file__).resolve().parent.parent
EVAL_SEED, EVAL_EPISODES, THRESHOLD = 1_000_000, 20, 475.0

#: RL Zoo's PPO CartPole settings (hyperparams/ppo.yml; RecurrentPPO uses the same for NoVel).
ZOO_PPO_CARTPOLE = {
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": "lin_0.001",
    "clip_range": "lin_0.2",
}


@dataclass
class Bench:
    """One benchmark: ``agent=<agent> env=<env>`` with its shipped preset, and SB3's
    ``sb3_algo`` with the same settings (``sb3_kwargs``, ``n_envs``)."""

    agent: str
    env: str
    total_steps: int
    n_envs: int
    sb3_algo: str  # PPO | A2C | RecurrentPPO
    sb3_kwargs: dict = field(default_factory=dict)
    sb3_policy_kwargs: str = "{}"  # a Python expression (torch.nn is `nn`) for policy_kwargs
    normalize: bool = False  # RL Zoo's ``normalize: true``: VecNormalize(obs and reward, gamma)


#: RL Zoo's RecurrentPPO CartPoleNoVel policy (hyperparams/ppo_lstm.yml), used with VecNormalize
#: of observations and rewards (the zoo's ``normalize: true``).
ZOO_NOVEL_POLICY = (
    "dict(ortho_init=False, activation_fn=nn.ReLU, lstm_hidden_size=64, "
    "enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]))"
)
#: The same network without the LSTM, for the feed-forward contrast.
NOVEL_MLP_POLICY = "dict(ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[64], vf=[64]))"

BENCHES = {
    "ppo-cartpole": Bench("ppo", "CartPole-v1", 100_000, 8, "PPO", ZOO_PPO_CARTPOLE),
    "a2c-cartpole": Bench("a2c", "CartPole-v1", 500_000, 8, "A2C", {"ent_coef": 0.0}),
    "ppo_lstm-novel": Bench(
        "ppo_lstm",
        "CartPoleNoVel-v1",
        150_000,
        8,
        "RecurrentPPO",
        ZOO_PPO_CARTPOLE,
        ZOO_NOVEL_POLICY,
        normalize=True,
    ),
    # conf/preset/ppo/CartPoleNoVel-v1.yaml holds the same settings as the ppo_lstm preset
    "ppo_mlp-novel": Bench(
        "ppo",
        "CartPoleNoVel-v1",
        150_000,
        8,
        "PPO",
        ZOO_PPO_CARTPOLE,
        NOVEL_MLP_POLICY,
        normalize=True,
    ),
}


def ours_command(bench: Bench, seed: int, total: int, run_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "rl_lab", f"agent={bench.agent}", f"env={bench.env}"]
    cmd += [f"seed={seed}", f"total_steps={total}"]  # the shipped preset
    cmd += ["progress=false", "torch_threads=1", "device=cpu", "eval.freq=0"]
    cmd += ["checkpointing.freq=0", f"eval.final_episodes={EVAL_EPISODES}"]
    return [*cmd, f"eval.seed={EVAL_SEED}", f"hydra.run.dir={run_dir}"]


def run_ours(bench: Bench, seed: int, total: int, run_dir: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        ours_command(bench, seed, total, run_dir), cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr[-2000:]}
    results = read_results(run_dir, required=True)
    return {"seed": seed, **results.headline(), "process_s": time.perf_counter() - started}


SB3_CHILD = r"""
import json, sys, time
import gymnasium as gym, numpy as np, torch
from torch import nn
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize
from rl_lab.rl.envs_custom import register_custom_envs
from rl_lab.rl.normalization import EPSILON, OBS_CLIP
register_custom_envs()
(algo, env_id, n_envs, kwargs, policy_kwargs, normalize, total, seed, eval_seed,
 episodes) = json.loads(sys.argv[1])
torch.set_num_threads(1)
for key, value in list(kwargs.items()):
    if isinstance(value, str) and value.startswith("lin_"):
        kwargs[key] = (lambda v: lambda progress: v * progress)(float(value[4:]))
if algo == "RecurrentPPO":
    from sb3_contrib import RecurrentPPO as cls
    policy = "MlpLstmPolicy"
else:
    import stable_baselines3
    cls, policy = getattr(stable_baselines3, algo), "MlpPolicy"
venv = make_vec_env(env_id, n_envs=n_envs, seed=seed)
if normalize:  # the statistics of rl_lab.rl.normalization: rewards scaled, not clipped
    venv = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=kwargs.get("gamma", 0.99),
                        clip_obs=OBS_CLIP, clip_reward=float("inf"), epsilon=EPSILON)
model = cls(policy, venv, seed=seed, verbose=0, device="cpu",
            policy_kwargs=eval(policy_kwargs), **kwargs)
started = time.perf_counter()
model.learn(total)
wall = time.perf_counter() - started
normalizer = model.get_vec_normalize_env()
if normalizer is not None:
    normalizer.training = False  # frozen statistics during evaluation
scale = (lambda o: normalizer.normalize_obs(o)) if normalizer is not None else (lambda o: o)
envs = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="sync")
obs, _ = envs.reset(seed=[eval_seed + i for i in range(episodes)])
returns, running = np.zeros(episodes), np.ones(episodes, bool)
state, starts = None, np.ones(episodes, bool)
while running.any():
    if algo == "RecurrentPPO":
        actions, state = model.predict(
            scale(obs), state=state, episode_start=starts, deterministic=True
        )
    else:
        actions = model.predict(scale(obs), deterministic=True)[0]
    obs, r, term, trunc, _ = envs.step(actions)
    starts = term | trunc
    returns += r * running
    running &= ~starts
steps = model.num_timesteps
print(json.dumps({"mean_return": float(returns.mean()), "wall_time_s": wall,
                  "sps": steps / wall}))
"""


def run_sb3(bench: Bench, seed: int, total: int) -> dict:
    started = time.perf_counter()
    args = [bench.sb3_algo, bench.env, bench.n_envs, dict(bench.sb3_kwargs)]
    args += [bench.sb3_policy_kwargs, bench.normalize, total, seed]
    proc = subprocess.run(
        [sys.executable, "-c", SB3_CHILD, json.dumps([*args, EVAL_SEED, EVAL_EPISODES])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
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
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,5")
    parser.add_argument(
        "--sb3-seeds",
        default=None,
        help="seeds of the SB3 runs when they differ from --seeds (e.g. 0: SB3's throughput "
        "from one run per benchmark while ours runs every seed)",
    )
    parser.add_argument("--benches", nargs="+", default=list(BENCHES), choices=list(BENCHES))
    parser.add_argument("--variants", nargs="+", default=["ours", "sb3"], choices=["ours", "sb3"])
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 for timings)")
    parser.add_argument(
        "--total-steps", type=int, default=None, help="override every budget (smoke tests)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_actor_critic")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    sb3_seeds = parse_seeds(args.sb3_seeds) if args.sb3_seeds else seeds

    tasks = []
    for name in args.benches:
        bench = BENCHES[name]
        total = args.total_steps or bench.total_steps
        for variant in args.variants:
            for seed in sb3_seeds if variant == "sb3" else seeds:
                if variant == "sb3":
                    fn = lambda b=bench, s=seed, t=total: run_sb3(b, s, t)  # noqa: E731
                else:
                    run_dir = args.out / name / f"seed_{seed}"
                    fn = lambda b=bench, s=seed, t=total, d=run_dir: run_ours(b, s, t, d)  # noqa: E731
                tasks.append(((name, variant), fn))
    rows: dict[tuple[str, str], list[dict]] = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [(key, pool.submit(fn)) for key, fn in tasks]
        for key, future in futures:
            row = future.result()
            rows.setdefault(key, []).append(row)
            print(*key, json.dumps(row), flush=True)

    print(
        f"\nActor-critic benchmarks, greedy eval {EVAL_EPISODES} episodes, solved = mean >= "
        f"{THRESHOLD:g}"
    )
    print(f"machine: {describe_machine()}; jobs={args.jobs}; command: {' '.join(sys.argv)}")
    header = f"{'benchmark':16} {'variant':7} {'steps':>8} {'solved':>7} {'mean eval':>10}"
    print(header + f" {'median wall s':>14} {'median SPS':>11}  returns")
    summary: dict[str, dict] = {}
    for (name, variant), variant_rows in rows.items():
        ok = [r for r in variant_rows if "error" not in r]
        returns = [r["mean_return"] for r in ok]
        solved = sum(r >= THRESHOLD for r in returns)
        entry = {
            "solved": solved,
            "runs": len(variant_rows),
            "errors": len(variant_rows) - len(ok),
            "returns": returns,
            "median_wall_time_s": float(np.median([r["wall_time_s"] for r in ok])) if ok else None,
            "median_sps": float(np.median([r["sps"] for r in ok])) if ok else None,
        }
        summary[f"{name}/{variant}"] = entry
        total = args.total_steps or BENCHES[name].total_steps
        if not ok:
            print(f"{name:16} {variant:7} {total:>8,} all {len(variant_rows)} runs failed: "
                  f"{variant_rows[0]['error'][-300:]}")  # fmt: skip
            continue
        print(
            f"{name:16} {variant:7} {total:>8,} {solved:>3}/{len(variant_rows):<3} "
            f"{np.mean(returns):>10.1f} {entry['median_wall_time_s']:>14.1f} "
            f"{entry['median_sps']:>11.0f}  {', '.join(f'{r:.0f}' for r in returns)}"
        )
    for name in args.benches:
        ours, sb3 = summary.get(f"{name}/ours"), summary.get(f"{name}/sb3")
        if ours and sb3 and ours["median_sps"] and sb3["median_sps"]:
            ratio = ours["median_sps"] / sb3["median_sps"]
            summary[f"{name}/sps_ratio_ours_over_sb3"] = ratio
            print(f"{name}: throughput ours/SB3 = {ratio:.2f} (same hyperparameters and envs)")
    args.out.mkdir(parents=True, exist_ok=True)
    out = {"rows": {f"{k[0]}/{k[1]}": v for k, v in rows.items()}, "summary": summary}
    (args.out / "bench.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
