"""The GPU path on hardware, in one command and one table.

1. The test suite's CUDA tests (``pytest -m cuda``: tests/test_cuda.py and the other tests
   marked ``cuda``; they are skipped on a machine without CUDA).
2. Four workloads, each an ordinary ``python -m rl_lab`` run per device with the same config
   and seed (only ``device=`` differs):

   - DQN on CartPole-v1 (the preset, 20k steps);
   - TD3 on Pendulum-v1 (the preset: 10k random steps, then 5k gradient steps of 400x300);
   - PPO on Pong (the Atari preset, ale-py's C++ vector env, 8 and 64 envs, 8,192 steps);
   - one DCGAN epoch on Fashion-MNIST (the 8x8 digits when Fashion-MNIST is not on the
     machine: the row says which), with the Fréchet distance of its samples.

   The CPU side of Pong and the GAN uses every usable core (their convolutions are
   compute-bound), the others one torch thread, the runs' default. For each: speed on each
   device (training SPS, or seconds per epoch for the GAN), the peak GPU memory the run held
   (``results.json``'s ``peak_gpu_memory_mb``, written by every run on CUDA), and the
   same-seed evaluation on each device: the final greedy evaluation's mean return over the
   same seeded episodes, or the GAN's Fréchet distance measured with the same cached metric
   classifier. CPU and CUDA kernels round differently, so runs diverge over
   training; the table gives both values and their difference.

Without a CUDA device the cuda columns say so and everything else runs on the CPU: that
fallback is what the test suite exercises (``--smoke``: tiny budgets, the digits).

    bash scripts/gpu_check.sh                          # on a GPU machine: installs, then this
    python scripts/gpu_check.py --out outputs/gpu_check
    python scripts/gpu_check.py --smoke --out /tmp/gc  # a minute on a CPU

Writes ``gpu_check.md`` (the table) and ``gpu_check.json`` into ``--out``, each run's directory
under ``--out/runs`` and each step's output under ``--out/logs``, and prints the table.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.data.mnist import locate  # noqa: E402
from rl_lab.reports.machine import describe_machine, machine_info, usable_cores  # noqa: E402
from rl_lab.run_dir import read_json, write_json  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """One row of the table: a ``python -m rl_lab`` command run once per device."""

    name: str
    overrides: tuple[str, ...]
    smoke: tuple[str, ...]  # --smoke: replaces ``overrides``
    kind: str  # "rl" (SPS, final mean return) or "gan" (s per epoch, Fréchet distance)
    limit_s: int  # the most seconds one run may take
    #: the CPU side on every usable core (compute-bound convolutions) rather than the default
    #: one torch thread (small networks, which extra threads only slow down)
    all_cores: bool = False


_NO_EVAL = ("eval.freq=0", "progress=false")
_TINY_OFF_POLICY = ("agent.learning_starts=100", "agent.batch_size=16", "agent.buffer_size=1000")
_TINY_PONG = ("total_steps=128", "agent.n_steps=16", "agent.batch_size=32", "agent.n_epochs=1",
              "eval.final_episodes=1", "env.max_episode_steps=200")  # fmt: skip
_GAN_SMOKE = ("metrics.samples=200", "metrics.classifier.model.channels=[8,16]",
              "metrics.classifier.model.hidden_sizes=[32]", "metrics.classifier.min_steps=150",
              "model.generator.width=8", "model.discriminator.width=8")  # fmt: skip

WORKLOADS = (
    Workload(
        "DQN CartPole-v1",
        ("agent=dqn", "env=CartPole-v1", "total_steps=20000", *_NO_EVAL),
        (
            "agent=dqn",
            "env=CartPole-v1",
            "total_steps=300",
            *_TINY_OFF_POLICY,
            "eval.final_episodes=2",
            *_NO_EVAL,
        ),
        "rl",
        300,
    ),
    Workload(
        "TD3 Pendulum-v1",
        ("agent=td3", "env=Pendulum-v1", "total_steps=15000", *_NO_EVAL),
        (
            "agent=td3",
            "env=Pendulum-v1",
            "total_steps=300",
            *_TINY_OFF_POLICY,
            "eval.final_episodes=2",
            *_NO_EVAL,
        ),
        "rl",
        300,
    ),
    *(
        Workload(
            f"PPO Pong, {n} envs (ale_vector)",
            (
                "agent=ppo",
                "env=ALE/Pong-v5",
                "env.backend=ale_vector",
                f"env.num_envs={n}",
                "total_steps=8192",
                "eval.final_episodes=1",
                *_NO_EVAL,
            ),
            (
                "agent=ppo",
                "env=ALE/Pong-v5",
                "env.backend=ale_vector",
                f"env.num_envs={n // 4}",
                *_TINY_PONG,
                *_NO_EVAL,
            ),
            "rl",
            300,
            all_cores=True,
        )  # fmt: skip
        for n in (8, 64)
    ),
    Workload(
        "DCGAN, one epoch",
        ("task=gan", "model=dcgan", "trainer.epochs=1", "progress=false"),
        (
            "task=gan",
            "model=dcgan",
            "dataset=digits",
            "trainer.epochs=1",
            "progress=false",
            *_GAN_SMOKE,
        ),
        "gan",
        600,
        all_cores=True,
    ),
)


def cuda_device() -> str | None:
    """The name of CUDA device 0, or ``None`` when torch sees none."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def run(command: list[str], log: Path, limit_s: int) -> tuple[int, float]:
    """Run ``command`` from the project root, its output into ``log``; returns the exit code
    (124 past ``limit_s``) and the wall time."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as handle:
        handle.write(shlex.join(command) + "\n")
        handle.flush()
        try:
            code = subprocess.run(
                command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, timeout=limit_s
            ).returncode
        except subprocess.TimeoutExpired:
            code = 124
    return code, time.perf_counter() - started


def cuda_tests(out: Path, paths: Sequence[str], limit_s: int) -> dict[str, Any]:
    """``pytest -m cuda`` over ``paths``: its exit code and counts (passed, skipped, ...)."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
               *paths]  # fmt: skip
    code, wall = run(command, out / "logs" / "cuda_tests.log", limit_s)
    text = (out / "logs" / "cuda_tests.log").read_text(errors="replace")
    counts = {
        word: int(number)
        for number, word in re.findall(
            r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed)", text
        )
    }
    # exit code 5: no test collected (every test deselected): not a failure of the check
    return {"exit_code": code, "wall_s": round(wall, 1), "counts": counts}


def measure(workload: Workload, device: str, base: list[str], out: Path, smoke: bool) -> dict:
    """One run of ``workload`` on ``device``: its speed, peak GPU memory and evaluation."""
    slug = re.sub(r"[^a-z0-9]+", "_", workload.name.lower()).strip("_")
    run_dir = out / "runs" / f"{slug}_{device}"
    if run_dir.exists():  # a run directory belongs to one run: an earlier check's goes aside
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.old-{time.time_ns()}"))
    overrides = [*(workload.smoke if smoke else workload.overrides), *base, f"device={device}"]
    if device == "cpu" and workload.all_cores and not smoke:
        overrides.append(f"torch_threads={usable_cores()}")
    command = [sys.executable, "-m", "rl_lab", *overrides, f"hydra.run.dir={run_dir}"]
    code, wall = run(command, out / "logs" / f"{slug}_{device}.log", workload.limit_s)
    results = read_json(run_dir / "results.json") or {}
    row: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "rl_lab", *overrides]),
        "exit_code": code,
        "status": results.get("status", "no results"),
        "wall_s": round(wall, 1),
        "peak_gpu_memory_mb": results.get("peak_gpu_memory_mb"),
    }
    if workload.kind == "rl":
        row["speed"] = results.get("sps")
        row["evaluation"] = (results.get("eval") or {}).get("mean_return")
    else:
        row["speed"] = results.get("train_time_per_epoch_s")
        row["evaluation"] = results.get("objective")  # the Fréchet distance
    return row


def _number(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The report as one table, with its header lines."""
    gpu = report["gpu"] or "no CUDA device: the cuda columns are empty (CPU fallback)"
    tests = report["cuda_tests"]
    counts = ", ".join(f"{n} {word}" for word, n in tests["counts"].items()) or "no summary"
    lines = [
        "# GPU check",
        "",
        f"Machine: {describe_machine(report['machine'])}",
        f"GPU: {gpu}",
        f"Command: `{report['command']}`",
        f"CUDA tests (`pytest -m cuda`): {counts} (exit code {tests['exit_code']}, "
        f"{tests['wall_s']} s)",
        "",
        "Speed: training SPS (RL) or seconds per epoch (GAN). Evaluation: the final greedy "
        "evaluation's mean return over the same seeded episodes (RL), or the Fréchet distance "
        "of the samples (GAN, lower is better). Same config and seed on both devices.",
        "",
        "| workload | speed cpu | speed cuda | cuda / cpu | peak GPU MiB | eval cpu | eval cuda "
        "| eval cuda - cpu | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        cpu, cuda = row["cpu"], row.get("cuda")
        rl = row["kind"] == "rl"
        digits = 0 if rl else 1
        speed_cpu = _number(cpu["speed"], digits)
        speed_cuda = _number(cuda["speed"], digits) if cuda else "-"
        ratio = eval_diff = "-"
        if cuda and cpu["speed"] and cuda["speed"]:
            # how many times faster on the GPU: SPS up, or seconds per epoch down
            gain = cuda["speed"] / cpu["speed"] if rl else cpu["speed"] / cuda["speed"]
            ratio = f"{gain:.2f}x"
        if cuda and cpu["evaluation"] is not None and cuda["evaluation"] is not None:
            eval_diff = f"{cuda['evaluation'] - cpu['evaluation']:+.2f}"
        statuses = [f"cpu {cpu['status']}"] + ([f"cuda {cuda['status']}"] if cuda else [])
        lines.append(
            f"| {row['name']}{' (s/epoch)' if not rl else ''} | {speed_cpu} | {speed_cuda} "
            f"| {ratio} | {_number(cuda['peak_gpu_memory_mb'], 0) if cuda else '-'} "
            f"| {_number(cpu['evaluation'], 2)} "
            f"| {_number(cuda['evaluation'], 2) if cuda else '-'} | {eval_diff} "
            f"| {', '.join(statuses)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu_check")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets (checks the script)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("RL_LAB_DATA_DIR", ROOT / "data")))  # fmt: skip
    parser.add_argument("--tests", nargs="*", default=["tests"],
                        help="paths for pytest -m cuda; none: skip the tests")  # fmt: skip
    parser.add_argument("--only", nargs="+", default=None, metavar="WORKLOAD",
                        help="workloads whose names start with these words, e.g. DQN")  # fmt: skip
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    gpu = cuda_device()
    argv_shown = list(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "gpu": gpu,
        "command": shlex.join(["python", "scripts/gpu_check.py", *argv_shown]),
        "rows": [],
    }
    print(f"machine: {describe_machine(report['machine'])}\nGPU: {gpu or 'none'}", flush=True)
    report["cuda_tests"] = (
        cuda_tests(out, args.tests, limit_s=600)
        if args.tests
        else {"exit_code": None, "wall_s": 0, "counts": {}}
    )
    print(f"CUDA tests: {report['cuda_tests']['counts']}", flush=True)
    # where `dataset=fashion_mnist dataset.data_dir=...` would read its files, if anywhere
    fashion = locate({"name": "fashion_mnist", "data_dir": str(args.data_dir)})
    cache = f"metrics.classifier.cache_dir={out / 'metric_classifiers'}"  # one for both devices
    devices = ["cpu", "cuda"] if gpu else ["cpu"]
    workloads = [w for w in WORKLOADS if args.only is None or w.name.startswith(tuple(args.only))]
    for workload in workloads:
        base = ["seed=0"]
        name = workload.name
        if workload.kind == "gan":
            base.append(cache)
            if not args.smoke:
                if fashion is not None:
                    base += ["dataset=fashion_mnist", f"dataset.data_dir={args.data_dir}"]
                    name += ", Fashion-MNIST"
                else:
                    base.append("dataset=digits")
                    name += ", 8x8 digits (Fashion-MNIST not found)"
            else:
                name += ", 8x8 digits"
        row: dict[str, Any] = {"name": name, "kind": workload.kind}
        for device in devices:
            row[device] = measure(workload, device, base, out, args.smoke)
            print(f"{name} on {device}: {row[device]['status']}, {row[device]['wall_s']} s",
                  flush=True)  # fmt: skip
        report["rows"].append(row)
    table = markdown(report)
    write_json(out / "gpu_check.json", report)
    (out / "gpu_check.md").write_text(table)
    print("\n" + table)
    failed = [r["name"] for r in report["rows"] for d in devices if r[d]["status"] != "completed"]
    tests_failed = report["cuda_tests"]["exit_code"] not in (None, 0, 5)
    return 1 if failed or tests_failed else 0


if __name__ == "__main__":
    sys.exit(main())
