"""Start-up: from the command to the first env step, and what the process imports on the way.

Each round runs ``python -m rl_lab agent=<agent> env=CartPole-v1`` (a fresh process, as a user
would) with a probe that records the wall-clock time of the first call of a vector env's
``step`` and then ends the process. The time is from just before the process is started to that
first step: interpreter start, imports, Hydra's composition, validation, the run directory,
building the env and the agent. Agents alternate round by round, so a slow spell of the machine
hits each alike; the table gives the median and the minimum over the rounds.

The same probe lists whether ``stable_baselines3``/``sb3_contrib``/``torch._dynamo`` were
imported by then, and ``--importtime`` adds the slowest top-level imports (``python -X
importtime``, cumulative) of one extra round per agent.

    python scripts/bench_startup.py                       # dqn and ppo, 7 rounds
    python scripts/bench_startup.py --agents dqn --rounds 11 --importtime
    python scripts/bench_startup.py --quick               # smoke test: 1 round

Prints a table with the machine and each command; writes the JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402

#: Runs in the child before rl_lab: the first vector-env step writes the time and the imported
#: modules of interest to PROBE_OUT, then ends the process (no training, no evaluation).
PROBE = """
import json, os, runpy, sys, time
import gymnasium.vector as vector

def _probe(original):
    def step(self, actions):
        watched = ("stable_baselines3", "sb3_contrib", "torch._dynamo")
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump({"first_step": time.time(),
                       "imported": [m for m in watched if m in sys.modules]}, out)
        os._exit(0)
    return step

vector.SyncVectorEnv.step = _probe(vector.SyncVectorEnv.step)
vector.AsyncVectorEnv.step = _probe(vector.AsyncVectorEnv.step)
sys.argv = ["rl_lab", *sys.argv[1:]]
runpy.run_module("rl_lab", run_name="__main__", alter_sys=True)
"""


def command(agent: str, run_dir: Path) -> list[str]:
    """The measured command (the probe in front of ``python -m rl_lab``)."""
    return [
        sys.executable,
        "-c",
        PROBE,
        f"agent={agent}",
        "env=CartPole-v1",
        f"hydra.run.dir={run_dir}",
    ]


def one_round(agent: str, work: Path, importtime: bool = False) -> dict:
    """Seconds from process start to the first env step (and, with ``importtime``, the
    slowest top-level imports)."""
    run_dir = Path(tempfile.mkdtemp(dir=work))
    probe_out = run_dir.with_suffix(".json")
    env = {**os.environ, "PROBE_OUT": str(probe_out), "PYTHONPATH": str(ROOT)}
    argv = command(agent, run_dir)
    if importtime:
        argv.insert(1, "-Ximporttime")
    started = time.time()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if not probe_out.is_file():
        raise RuntimeError(f"{agent}: no env step was reached:\n{proc.stdout}\n{proc.stderr}")
    probe = json.loads(probe_out.read_text())
    result = {"seconds": probe["first_step"] - started, "imported": probe["imported"]}
    if importtime:
        result["slowest_imports"] = slowest_imports(proc.stderr)
    return result


def slowest_imports(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """The top-level packages with the largest cumulative import time (seconds)."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit() or name.startswith(" "):
            continue
        root = name.split(".")[0]
        if name == root:  # the package itself: its cumulative time includes its submodules
            totals[root] = max(totals.get(root, 0.0), int(cumulative) / 1e6)
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "ppo"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--importtime", action="store_true", help="one -X importtime round each")
    parser.add_argument("--quick", action="store_true", help="one round (smoke test)")
    parser.add_argument("--out", default="outputs/bench_startup/bench_startup.json")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    info = machine_info()
    seconds: dict[str, list[float]] = {agent: [] for agent in args.agents}
    imported: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="rl_lab_startup_") as work:
        one_round(args.agents[0], Path(work))  # warm the file cache; not counted
        for _ in range(rounds):
            for agent in args.agents:
                result = one_round(agent, Path(work))
                seconds[agent].append(result["seconds"])
                imported[agent] = result["imported"]
        imports = (
            {agent: one_round(agent, Path(work), True)["slowest_imports"] for agent in args.agents}
            if args.importtime
            else {}
        )
    print(f"Start-up to the first env step; {describe_machine(info)}")
    print(f"{rounds} round(s), agents alternating; target <= 1.5 s\n")
    print("| command | median s | min s | imported by the first step |")
    print("|---|---|---|---|")
    for agent in args.agents:
        shown = ", ".join(imported[agent]) or "none of stable_baselines3, sb3_contrib, dynamo"
        print(
            f"| `python -m rl_lab agent={agent} env=CartPole-v1` | "
            f"{statistics.median(seconds[agent]):.2f} | {min(seconds[agent]):.2f} | {shown} |"
        )
    for agent, rows in imports.items():
        listing = ", ".join(f"{name} {s:.2f}" for name, s in rows)
        print(f"\n{agent}: slowest imports (cumulative s): {listing}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": info,
                "rounds": rounds,
                "seconds": seconds,
                "imported": imported,
                "slowest_imports": imports,
            },
            indent=2,
        )
    )
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
