"""Atari throughput: rl_lab next to Stable-Baselines3 on Pong, with identical settings.

Three tables, each measurement in a fresh subprocess:

1. Env steps per second of the preprocessed games alone (random actions, 8 envs): rl_lab's
   backends (gymnasium sync/async, ale-py's C++ vector env), SB3's ``make_atari_env`` +
   ``VecFrameStack`` (DummyVecEnv), and EnvPool when it is installed.
2. DQN training: rl_lab (``python -m rl_lab agent=dqn env=ALE/Pong-v5``, the Atari preset,
   with each of its env backends) vs SB3's ``DQN("CnnPolicy")`` on ``make_atari_env`` with the
   same hyperparameters, except ``learning_starts`` (lowered so that the short budget is mostly
   training).
3. PPO training: ``agent=ppo`` (the Atari preset: 8 envs, 128 steps, 4 epochs, batch 256) vs
   SB3's ``PPO("CnnPolicy")`` on 8 ``make_atari_env`` envs.

Both sides: the same preprocessing (no-op reset, frame skip 4 with max-pooling, 84x84 gray,
life loss terminal, fire reset, clipped rewards, 4 stacked frames), sticky actions 0.25, the
same budget; SPS is env steps over the wall time of training (rl_lab: ``results.json``'s
``sps``; SB3: ``model.learn``), excluding start-up and the final evaluation; the same number
of torch threads (``--threads``, every core by default, as both libraries run out of the box
on Atari). The training rows run ``--repeats`` rounds, each side once per round in a rotating
order; the tables give medians, and the range of the per-round ratios. One more SB3 row runs
it with rl_lab's allocator settings (``rl_lab/allocator.py``) as environment variables, to
show how much of the difference they account for.

    python scripts/bench_atari.py                      # everything (about 20 minutes on 2 cores)
    python scripts/bench_atari.py --dqn-steps 3000 --only dqn ppo --threads 1 --repeats 1
    PYTHONPATH=/path/to/envpool python scripts/bench_atari.py --only env   # with EnvPool
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_ID = "ALE/Pong-v5"
STICKY = 0.25

#: rl_lab's allocator settings (rl_lab/allocator.py), as glibc environment variables: the SB3
#: row run with them shows how much of the difference they account for.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024 * 1024),
}

#: RL Zoo's Atari DQN settings (conf/preset/dqn/atari.yaml); learning_starts is --dqn-warmup.
DQN = dict(
    buffer_size=100_000,
    learning_rate=1e-4,
    batch_size=32,
    target_update_interval=1000,
    train_freq=4,
    gradient_steps=1,
    exploration_fraction=0.1,
    exploration_final_eps=0.01,
)


# --------------------------------------------------------------------------- workers
def _sb3_env(n_envs: int, subproc: bool = False):
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack

    gym.register_envs(ale_py)
    env = make_atari_env(
        ENV_ID,
        n_envs=n_envs,
        seed=0,
        env_kwargs={"frameskip": 1, "repeat_action_probability": STICKY},
        vec_env_cls=SubprocVecEnv if subproc else DummyVecEnv,
    )
    return VecFrameStack(env, 4)


def _ours_env(backend: str, vectorization: str, n_envs: int):
    from hydra import compose, initialize_config_dir

    import rl_lab.__main__ as entry
    from rl_lab.rl.envs import make_vec_env

    overrides = [f"env={ENV_ID}", f"env.backend={backend}", f"env.vectorization={vectorization}"]
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return make_vec_env(cfg.env, num_envs=n_envs)


def worker_env(kind: str, n_envs: int, steps: int) -> dict:
    """Random-action env steps per second of one env construction."""
    import numpy as np

    rng = np.random.default_rng(0)
    if kind.startswith("sb3"):
        envs = _sb3_env(n_envs, subproc=kind.endswith("subproc"))
        envs.reset()

        def step(actions):
            envs.step(actions)

    elif kind == "envpool":
        import envpool

        envs = envpool.make(
            "Pong-v5", env_type="gymnasium", num_envs=n_envs, episodic_life=True,
            reward_clip=True, repeat_action_probability=STICKY, seed=0,
        )  # fmt: skip
        envs.reset()
        step = envs.step
    else:
        backend, _, vectorization = kind.partition("-")
        envs = _ours_env(backend, vectorization or "sync", n_envs)
        envs.reset(seed=0)
        step = envs.step
    for _ in range(20):  # warm-up: worker processes, caches
        step(rng.integers(0, 6, n_envs))
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        step(rng.integers(0, 6, n_envs))
    elapsed = time.perf_counter() - start
    envs.close()
    return {"sps": (steps // n_envs) * n_envs / elapsed}


def worker_sb3(algo: str, steps: int, warmup: int, threads: int) -> dict:
    """Train SB3 on Pong; returns its training SPS."""
    import torch
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.utils import LinearSchedule

    torch.set_num_threads(threads)
    if algo == "dqn":
        model = SB3DQN(
            "CnnPolicy", _sb3_env(1), learning_starts=warmup, seed=0, device="cpu", **DQN
        )
    else:
        model = SB3PPO(
            "CnnPolicy", _sb3_env(8), n_steps=128, n_epochs=4, batch_size=256,
            learning_rate=LinearSchedule(2.5e-4, 0.0, 1.0),
            clip_range=LinearSchedule(0.1, 0.0, 1.0), vf_coef=0.5, ent_coef=0.01, seed=0,
            device="cpu",
        )  # fmt: skip
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - start
    return {"sps": model.num_timesteps / elapsed, "env_steps": model.num_timesteps}


def worker_ours(algo: str, steps: int, warmup: int, threads: int, backend: str) -> dict:
    """Train rl_lab through its command line; returns results.json's training SPS."""
    from rl_lab.reports.runs import read_results

    with tempfile.TemporaryDirectory() as run_dir:
        args = [
            sys.executable, "-m", "rl_lab", f"agent={algo}", f"env={ENV_ID}",
            f"env.backend={backend}", f"total_steps={steps}", "eval.freq=0",
            "checkpointing.freq=0", "eval.final_episodes=1", "progress=false",
            f"torch_threads={threads}", "device=cpu", f"hydra.run.dir={run_dir}",
        ]  # fmt: skip
        if algo == "dqn":
            args.append(f"agent.learning_starts={warmup}")
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
        results = read_results(Path(run_dir), required=True)
    return {"sps": results.sps, "env_steps": results.env_steps}


# --------------------------------------------------------------------------- driver
def run_worker(*args: str, threads: int = 1, env: dict[str, str] | None = None) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON result."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads), **(env or {})}
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *args], cwd=ROOT, capture_output=True, text=True,
        env=env,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fmt(result: dict) -> str:
    return f"{result['sps']:,.0f}" if "sps" in result else f"error: {result['error']}"


def _train_worker(algo: str, side: str, steps: int, warmup: int, threads: int) -> dict:
    """One training measurement of ``side`` (an rl_lab backend, ``sb3`` or ``sb3_malloc``)."""
    common = (algo, str(steps), str(warmup), str(threads))
    if side.startswith("sb3"):
        env = MALLOC_ENV if side == "sb3_malloc" else {}
        return run_worker("sb3", *common, threads=threads, env=env)
    return run_worker("ours", *common, side, threads=threads)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _training_table(
    algo: str, steps: int, warmup: int, settings: str, runs: dict[str, list[dict]]
) -> str:
    """Median SPS of each side over the rounds, and ours / SB3 (median, and per-round range)."""
    sps = {side: [r["sps"] for r in results if "sps" in r] for side, results in runs.items()}
    errors = {side: r["error"] for side, results in runs.items() for r in results if "error" in r}
    base = sps["sb3"]
    labels = {
        "sb3": f"SB3 {algo.upper()}('CnnPolicy'), make_atari_env",
        "sb3_malloc": "SB3, with rl_lab's malloc settings (MALLOC_*_ env vars)",
    }
    rows = []
    for side, values in sps.items():
        label = labels.get(side, f"rl_lab agent={algo}, env.backend={side}")
        if side in errors or not values:
            rows.append([label, f"error: {errors.get(side, 'no result')}", "", ""])
            continue
        per_round = ", ".join(f"{v:,.0f}" for v in values)
        if side == "sb3" or not base:
            ratio = "1.00x" if side == "sb3" else ""
        else:
            per_ratio = [v / b for v, b in zip(values, base, strict=False)]
            ratio = (
                f"**{_median(values) / _median(base):.2f}x** "
                f"({min(per_ratio):.2f}-{max(per_ratio):.2f})"
            )
        rows.append([label, f"{_median(values):,.0f}", per_round, ratio])
    extra = f", learning_starts {warmup:,}" if algo == "dqn" else ""
    n_rounds = len(next(iter(runs.values())))
    return _table(
        f"{algo.upper()} training on Pong: {settings}{extra}, {steps:,} env steps, "
        f"{n_rounds} round(s)",
        ["implementation", "median env steps/s", "per round", "ours / SB3 (per-round range)"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="+", default=["env", "dqn", "ppo"])
    parser.add_argument("--env-steps", type=int, default=4000, help="random steps per env row")
    parser.add_argument("--dqn-steps", type=int, default=4000, help="DQN training budget")
    parser.add_argument("--dqn-warmup", type=int, default=1000, help="DQN learning_starts")
    parser.add_argument("--ppo-steps", type=int, default=3072, help="PPO training budget")
    parser.add_argument(
        "--backends", nargs="+", default=["ale_vector", "gymnasium"], help="rl_lab's env.backend"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(),
        help="torch threads of each training run, both sides (default: every core, which is "
        "torch's default and the Atari presets')",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of the training rows (medians reported)"
    )
    parser.add_argument(
        "--no-sb3-malloc", dest="sb3_malloc", action="store_false",
        help="skip the row of SB3 run with rl_lab's malloc settings",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args()

    if args.worker:
        kind, *rest = args.worker
        if kind == "env":
            result = worker_env(rest[0], int(rest[1]), int(rest[2]))
        elif kind == "sb3":
            result = worker_sb3(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        else:
            result = worker_ours(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), rest[4])
        print(json.dumps(result))
        return

    from rl_lab.reports.machine import describe_machine

    started = time.perf_counter()
    report = [
        f"## Atari throughput ({datetime.date.today().isoformat()})",
        "",
        f"`python scripts/bench_atari.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
        "",
        f"Machine: {describe_machine()}; {args.threads} torch thread(s) per training run, "
        f"device cpu. Game: {ENV_ID}, sticky actions {STICKY}.",
        "",
    ]
    if "env" in args.only:
        rows = []
        kinds = [
            ("rl_lab gymnasium sync", "gymnasium-sync"),
            ("rl_lab gymnasium async", "gymnasium-async"),
            ("rl_lab ale_vector (C++ threads)", "ale_vector"),
            ("SB3 make_atari_env + VecFrameStack (Dummy)", "sb3"),
            ("EnvPool (if installed)", "envpool"),
        ]
        for label, kind in kinds:
            result = run_worker("env", kind, "8", str(args.env_steps))
            rows.append([label, _fmt(result)])
            print(label, _fmt(result), flush=True)
        report.append(
            _table(
                f"Preprocessed Pong, random actions, 8 envs, {args.env_steps:,} steps",
                ["env construction", "env steps/s"],
                rows,
            )
        )
    sides = [*args.backends, "sb3"] + (["sb3_malloc"] if args.sb3_malloc else [])
    for algo, steps, warmup, settings in [
        ("dqn", args.dqn_steps, args.dqn_warmup, "1 env, RL Zoo Atari settings"),
        ("ppo", args.ppo_steps, 0, "8 envs, RL Zoo Atari settings"),
    ]:
        if algo not in args.only:
            continue
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for repeat in range(args.repeats):
            # each round runs every side once, starting one side later than the previous
            # round, so that a slow spell of the machine does not fall on one side only
            shift = repeat % len(sides)
            for side in sides[shift:] + sides[:shift]:
                result = _train_worker(algo, side, steps, warmup, args.threads)
                runs[side].append(result)
                print(algo, f"round {repeat + 1}", side, _fmt(result), flush=True)
        report.append(_training_table(algo, steps, warmup, settings, runs))
    report.append(f"Total time: {time.perf_counter() - started:.0f} s.")
    text = "\n".join(report)
    print("\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
