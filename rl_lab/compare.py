"""Ours vs Stable-Baselines3, side by side: ``python -m rl_lab.compare``.

::

    python -m rl_lab.compare agent=dqn env=CartPole-v1 seeds=10
    python -m rl_lab.compare agent=dqn env=CartPole-v1 seeds=0-4 out=reports/dqn total_steps=20000
    python -m rl_lab.compare --from-runs reports/dqn        # rebuild the report, no training

Runs ``python -m rl_lab agent=<agent> impl=rl_lab ...`` and ``impl=sb3`` for every seed (one at
a time by default, so wall times are not distorted; ``jobs=N`` runs N at once) with the same
overrides, env, budget and evaluation protocol, then writes into ``out`` (default
``outputs/compare/<agent>_<env>_<time>``):

- ``report.md`` and ``report.csv``: final greedy eval mean ± 95% bootstrap CI, interquartile
  mean, success rate against the env's reward threshold, median env steps to first reach the
  threshold in a periodic evaluation, median wall time and env steps per second, and the
  ratios ours/SB3;
- ``learning_curves.png`` (eval return vs env steps, mean and CI band over seeds) and
  ``wall_time.png``;
- ``commands.txt``: the exact command of every run;
- ``tensorboard/``: both implementations in one TensorBoard view (``tensorboard --logdir
  OUT/tensorboard``, see :func:`write_tensorboard_view`).
"""

from __future__ import annotations

import argparse
import csv
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rl_lab.agents import AGENTS
from rl_lab.errors import ConfigError, RLLabError
from rl_lab.reports.aggregate import GroupSummary, summarise_group
from rl_lab.reports.plots import plot_learning_curves
from rl_lab.reports.runs import RunRecord, find_run_dirs, read_run

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("ours", "sb3")
#: Folder of the side-by-side TensorBoard view inside the comparison's output folder.
TB_VIEW_DIR = "tensorboard"
#: Tags of a side's seed aggregate in the TensorBoard view (its ``<agent>/mean`` run).
MEAN_TAG, CI_LOW_TAG, CI_HIGH_TAG = (
    "compare/eval_return",
    "compare/eval_return_ci_low",
    "compare/eval_return_ci_high",
)
THRESHOLD_TAG = "compare/reward_threshold"
#: The CUSTOM SCALARS layout of the view: every chart shows both implementations.
COMPARE_LAYOUT: dict[str, dict[str, list[Any]]] = {
    "rl_lab vs Stable-Baselines3": {
        "evaluation return: mean over seeds, 95% bootstrap CI": [
            "Margin",
            [MEAN_TAG, CI_LOW_TAG, CI_HIGH_TAG],
        ],
        "evaluation return: mean over seeds and the reward threshold": [
            "Multiline",
            [f"^{MEAN_TAG}$", f"^{THRESHOLD_TAG}$"],
        ],
        "evaluation return per seed": ["Multiline", ["^eval/mean_return$"]],
        "training episodic return per seed": ["Multiline", ["^charts/episodic_return$"]],
    },
}


@dataclass(frozen=True)
class SideReport:
    """One side of the comparison: its group statistics and the extra columns."""

    side: str
    agent: str
    summary: GroupSummary
    median_steps_to_threshold: float  # nan when no run reached it
    reached_threshold: int  # runs whose periodic evaluation reached the threshold


#: How seed specs are written, for error messages.
SEED_SPECS = (
    "seeds=N runs seeds 0..N-1 (N >= 1), seeds=A-B runs A..B (A <= B) and seeds=a,b,c runs "
    "those seeds; for seed 0 alone write `seeds=0-0` or `seeds=0,`"
)


def parse_seeds(text: str) -> list[int]:
    """``10`` → 0..9, ``3-7`` → 3..7, ``0,4,9`` → those seeds (``0,``: seed 0 alone).

    Raises:
        ConfigError: the spec is malformed or names no seed (``0``, a reversed range, a
            negative number, a seed listed twice).
    """
    spec = text.strip()

    def seed(part: str) -> int:
        part = part.strip()
        if not (part.isascii() and part.isdigit()):  # also refuses signs: seeds are >= 0
            problem = f"{part!r} is not a whole number >= 0" if part else "a part is empty"
            raise ConfigError(f"seeds={text} is not a seed spec ({problem}): {SEED_SPECS}.")
        return int(part)

    if "," in spec:
        parts = spec.split(",")
        if parts[-1].strip() == "":  # `0,`: a list of one seed
            parts = parts[:-1]
        seeds = [seed(part) for part in parts]
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise ConfigError(
                f"seeds={text} lists seed {', '.join(map(str, repeated))} more than once: each "
                f"seed runs once per side. {SEED_SPECS}."
            )
        return seeds
    if spec.startswith("-"):
        raise ConfigError(f"seeds={text} is negative, but seeds are numbers >= 0: {SEED_SPECS}.")
    if "-" in spec:
        low_text, _, high_text = spec.partition("-")
        low, high = seed(low_text), seed(high_text)
        if low > high:
            raise ConfigError(
                f"seeds={text} is an empty range ({low} > {high}), so nothing would run: "
                f"{SEED_SPECS}."
            )
        return list(range(low, high + 1))
    count = seed(spec)
    if count == 0:
        raise ConfigError(
            f"seeds={text} asks for no runs: a single number is a count of seeds (seeds=3 runs "
            f"seeds 0, 1 and 2), so seeds=0 runs nothing. {SEED_SPECS}."
        )
    return list(range(count))


def steps_to_threshold(history: Sequence[tuple[int, float]], threshold: float | None) -> float:
    """Env steps of the first evaluation at or above ``threshold`` (nan if none)."""
    if threshold is None:
        return math.nan
    return next((float(step) for step, value in history if value >= threshold), math.nan)


def run_commands(
    agent: str, seeds: Sequence[int], overrides: Sequence[str], runs_dir: Path
) -> list[tuple[str, int, list[str]]]:
    """``(side, seed, argv)`` for every run of the comparison."""
    commands = []
    # seed-major: both sides of a seed run back to back, so changes in machine load over time
    # affect them alike
    for seed in seeds:
        for side, impl in (("ours", "rl_lab"), ("sb3", "sb3")):
            run_dir = runs_dir / side / f"seed_{seed}"
            choice = [f"agent={agent}", f"impl={impl}"]  # the same agent config, two trainers
            argv = [sys.executable, "-m", "rl_lab", *choice, *overrides, f"seed={seed}"]
            commands.append((side, seed, [*argv, "progress=false", f"hydra.run.dir={run_dir}"]))
    return commands


def build_report(runs_dir: Path, out_dir: Path) -> list[SideReport]:
    """Read every run under ``runs_dir`` and write the report files into ``out_dir``."""
    records = [read_run(path) for path in find_run_dirs(runs_dir)]
    by_side: dict[str, list[RunRecord]] = {side: [] for side in SIDES}
    for record in records:
        if record.agent is None:
            continue
        by_side["sb3" if record.agent.startswith("sb3_") else "ours"].append(record)
    if not by_side["ours"] or not by_side["sb3"]:
        raise ConfigError(
            f"{runs_dir} needs runs of both sides to compare (found {len(by_side['ours'])} of "
            f"ours and {len(by_side['sb3'])} of SB3). Run `python -m rl_lab.compare agent=... "
            "env=...` first, or point --from-runs at its output folder."
        )
    reports = []
    for side in SIDES:
        runs = by_side[side]
        summary = summarise_group(f"{side}: {runs[0].agent}", runs, None)
        reached = [steps_to_threshold(r.eval_history, summary.threshold) for r in runs]
        reached = [s for s in reached if math.isfinite(s)]
        reports.append(
            SideReport(
                side=side,
                agent=runs[0].agent or side,
                summary=summary,
                median_steps_to_threshold=float(np.median(reached)) if reached else math.nan,
                reached_threshold=len(reached),
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tables(reports, out_dir, env=records[0].env or "?")
    plot_learning_curves([r.summary for r in reports], out_dir / "learning_curves.png")
    plot_wall_time(reports, by_side, out_dir / "wall_time.png")
    write_tensorboard_view(reports, by_side, out_dir / TB_VIEW_DIR)
    return reports


def _run_names(records: Sequence[RunRecord]) -> list[str]:
    """``seed_<seed>`` per run; the run directory's name where the seed is unknown or repeated."""
    seeds = [r.seed for r in records]
    return [
        f"seed_{r.seed}" if r.seed is not None and seeds.count(r.seed) == 1 else r.path.name
        for r in records
    ]


def read_scalars(tb_dir: Path) -> dict[str, list[tuple[float, int, float]]]:
    """Every scalar series of a run's ``tb/`` (all its event files) as ``tag → [(wall_time,
    step, value), ...]``, as TensorBoard's own loader reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(e.wall_time, e.step, e.value) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def write_tensorboard_view(
    reports: Sequence[SideReport], by_side: dict[str, list[RunRecord]], view_dir: Path
) -> Path:
    """Both implementations in one TensorBoard view; returns ``view_dir``.

    ``tensorboard --logdir view_dir`` shows, for each side (run names start with the side's
    agent label, e.g. ``dqn`` and ``sb3_dqn``):

    - ``<agent>/seed_<s>``: every scalar of that run's ``tb/`` under its own tag
      (``eval/mean_return``, ``charts/episodic_return``, ...), so each SCALARS chart holds both
      implementations' seeds;
    - ``<agent>/mean``: the seed average of the evaluation return with its 95% bootstrap band
      (``compare/eval_return``, ``..._ci_low``, ``..._ci_high``, as in ``learning_curves.png``)
      and the env's reward threshold (``compare/reward_threshold``), plus
      :data:`COMPARE_LAYOUT`, the CUSTOM SCALARS charts that put the two sides together.

    Event files an earlier call wrote there are replaced; nothing else is touched.
    """
    from torch.utils.tensorboard import SummaryWriter

    view_dir.mkdir(parents=True, exist_ok=True)
    for old in view_dir.glob("**/events.out.tfevents.*"):
        old.unlink()
    for report in reports:
        side_dir = view_dir / report.agent
        summary = report.summary
        mean = SummaryWriter(log_dir=str(side_dir / "mean"))
        mean.add_custom_scalars(COMPARE_LAYOUT)
        curve = (summary.curve_steps, summary.curve_mean, summary.curve_low, summary.curve_high)
        for step, value, low, high in zip(*curve, strict=True):
            for tag, number in ((MEAN_TAG, value), (CI_LOW_TAG, low), (CI_HIGH_TAG, high)):
                mean.add_scalar(tag, float(number), int(step))
        if summary.threshold is not None and len(summary.curve_steps):
            for step in sorted({int(summary.curve_steps[0]), int(summary.curve_steps[-1])}):
                mean.add_scalar(THRESHOLD_TAG, float(summary.threshold), step)
        mean.close()
        records = by_side[report.side]
        for record, name in zip(records, _run_names(records), strict=True):
            tb_dir = record.path / "tb"
            if not tb_dir.is_dir():
                continue
            writer = SummaryWriter(log_dir=str(side_dir / name))
            for tag, events in read_scalars(tb_dir).items():
                for wall_time, step, value in events:
                    writer.add_scalar(tag, value, step, walltime=wall_time)
            writer.close()
    return view_dir


COLUMNS = (
    ("final eval mean", lambda r: r.summary.mean_return, ".1f"),
    ("95% CI low", lambda r: r.summary.ci_low, ".1f"),
    ("95% CI high", lambda r: r.summary.ci_high, ".1f"),
    ("IQM", lambda r: r.summary.iqm, ".1f"),
    ("success rate", lambda r: r.summary.success_rate, ".2f"),
    ("median steps to threshold", lambda r: r.median_steps_to_threshold, ".0f"),
    ("median wall time (s)", lambda r: r.summary.median_wall_time_s, ".1f"),
    ("median SPS", lambda r: r.summary.median_sps, ".0f"),
)


def _fmt(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def write_tables(reports: Sequence[SideReport], out_dir: Path, env: str) -> None:
    """``report.csv`` (one row per side plus the ratio row) and ``report.md``."""
    ours, sb3 = reports
    ratios = [get(ours) / get(sb3) if get(sb3) else math.nan for _, get, _ in COLUMNS]
    with (out_dir / "report.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["side", "agent", "runs", "seeds", *(name for name, _, _ in COLUMNS)])
        for r in reports:
            s = r.summary
            writer.writerow(
                [r.side, r.agent, s.n_completed, " ".join(map(str, s.seeds))]
                + [f"{get(r):.6g}" for _, get, _ in COLUMNS]
            )
        writer.writerow(["ours/sb3", "", "", ""] + [f"{x:.6g}" for x in ratios])
    header = ["side", "runs", *(name for name, _, _ in COLUMNS)]
    if ours.summary.threshold is None:
        success = f"{env} has no reward threshold, so success rate and steps to threshold are n/a."
    else:
        success = (
            f"Success: final greedy evaluation mean ≥ {ours.summary.threshold} (the env's reward "
            "threshold). Steps to threshold: median over the runs that reached it in a periodic "
            f"evaluation (ours {ours.reached_threshold}/{ours.summary.n_total}, "
            f"SB3 {sb3.reached_threshold}/{sb3.summary.n_total})."
        )
    lines = [
        f"# {ours.agent} vs {sb3.agent} on {env}",
        "",
        f"Generated {datetime.now().isoformat(timespec='seconds')}. {success}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in reports:
        cells = [r.side, f"{r.summary.n_completed}/{r.summary.n_total}"]
        cells += [_fmt(get(r), spec) for _, get, spec in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| ours/SB3 | | " + " | ".join(_fmt(x, ".2f") for x in ratios) + " |")
    lines += ["", "Per-seed final eval means:", ""]
    for r in reports:
        pairs = zip(r.summary.seeds, r.summary.final_returns, strict=True)
        lines.append(f"- {r.side}: " + ", ".join(f"seed {s}: {v:.1f}" for s, v in pairs))
    commands = out_dir / "commands.txt"
    if commands.exists():
        lines += ["", "Commands: see `commands.txt`."]
    lines += [
        "",
        f"Both implementations in one TensorBoard: `tensorboard --logdir {TB_VIEW_DIR}` from "
        "this folder (SCALARS: every seed of both sides on each chart; CUSTOM SCALARS: the seed "
        "means with their 95% CI and the reward threshold).",
    ]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")


def plot_wall_time(
    reports: Sequence[SideReport], by_side: dict[str, list[RunRecord]], path: Path
) -> None:
    """Per-run wall time of each side (points) with the median (bar)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for i, r in enumerate(reports):
        times = [x.wall_time_s for x in by_side[r.side] if math.isfinite(x.wall_time_s)]
        axes.bar(i, r.summary.median_wall_time_s, color=f"C{i}", alpha=0.4)
        axes.scatter([i] * len(times), times, color=f"C{i}", zorder=3)
    axes.set_xticks(range(len(reports)), [r.agent for r in reports])
    axes.set_ylabel("wall time per run (s)")
    axes.set_title("Wall time (bar: median)")
    axes.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--from-runs", type=Path, help="build the report from this folder only")
    parser.add_argument(
        "args",
        nargs="*",
        help="agent=NAME, seeds=N|A-B|a,b (seed 0 alone: seeds=0-0), jobs=N, out=DIR, overrides",
    )
    ns = parser.parse_args(argv)
    try:
        if ns.from_runs:
            runs_dir = ns.from_runs / "runs" if (ns.from_runs / "runs").is_dir() else ns.from_runs
            reports = build_report(runs_dir, ns.from_runs)
            print((ns.from_runs / "report.md").read_text())
            return 0 if reports else 1
        options = {"seeds": "5", "jobs": "1", "out": "", "agent": "dqn"}  # out="": default_out
        overrides = []
        for arg in ns.args:
            key, _, value = arg.partition("=")
            if key in options:
                options[key] = value
            else:
                overrides.append(arg)
        # every argument is checked before anything runs or is written
        seeds = parse_seeds(options["seeds"])
        jobs = options["jobs"].strip()
        if not jobs.isdigit() or int(jobs) < 1:
            raise ConfigError(f"jobs={options['jobs']} must be a whole number >= 1 (runs at once).")
        agent = options["agent"]
        if AGENTS.get(agent) is None or AGENTS[agent].sb3 is None:
            supported = ", ".join(sorted(name for name, entry in AGENTS.items() if entry.sb3))
            raise ConfigError(
                f"agent={agent} has no Stable-Baselines3 counterpart to compare with. "
                f"Supported: {supported}."
            )
        env = next((o.partition("=")[2] for o in overrides if o.startswith("env=")), "default")
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        default_out = ROOT / "outputs" / "compare" / f"{agent}_{env.replace('/', '-')}_{stamp}"
        out_dir = Path(options["out"]) if options["out"] else default_out
        commands = run_commands(agent, seeds, overrides, out_dir / "runs")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "commands.txt").write_text(
            "\n".join(shlex.join(["python", *argv[1:]]) for _, _, argv in commands) + "\n"
        )
        failures = _run_all(commands, int(jobs))
        build_report(out_dir / "runs", out_dir)
        print((out_dir / "report.md").read_text())
        print(f"Report: {out_dir}")
        for side, seed, stderr in failures:
            print(f"{side} seed {seed} failed: {stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return 1 if failures else 0
    except RLLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run_all(commands: list[tuple[str, int, list[str]]], jobs: int) -> list[tuple[str, int, str]]:
    """Run the commands (``jobs`` at a time); returns ``(side, seed, stderr)`` of failures."""

    def one(item: tuple[str, int, list[str]]) -> tuple[str, int, int, str, float]:
        side, seed, argv = item
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        return side, seed, proc.returncode, proc.stderr, time.perf_counter() - started

    failures = []
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for side, seed, code, stderr, seconds in pool.map(one, commands):
            status = "ok" if code == 0 else f"failed ({code})"
            print(f"{side:4} seed {seed}: {status} in {seconds:.0f} s", flush=True)
            if code != 0:
                failures.append((side, seed, stderr))
    return failures


if __name__ == "__main__":
    sys.exit(main())
