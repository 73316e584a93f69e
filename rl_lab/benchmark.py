"""``python -m rl_lab.benchmark``: RL Zoo's benchmark table, reproduced on several seeds.

Examples::

    python -m rl_lab.benchmark                               # every cell, ours, default seeds
    python -m rl_lab.benchmark algos=dqn,ppo envs=CartPole-v1 seeds=10 jobs=2
    python -m rl_lab.benchmark impl=sb3 seeds=1              # the Stable-Baselines3 side
    python -m rl_lab.benchmark --report                      # rebuild the report only
    python -m rl_lab.benchmark max_steps=2000 out=/tmp/smoke # a smoke test of the harness
    python -m rl_lab.benchmark algos=sac stale=move          # rerun runs of changed presets

Each run is an ordinary ``python -m rl_lab`` run directory,
``OUT/<impl>/<algo>/<env>/s<seed>``, at the Zoo's budget (``total_steps`` of the cell) with the
(agent, env) preset. The runner is resumable: a run whose ``results.json`` is complete is
skipped, an interrupted one is resumed (``resume=true``), so a long table is built over several
invocations. A run is reused only if its recorded config is the one its cell composes now: when a
preset or a default changed since, the benchmark stops before running anything and names the
runs and keys; ``stale=move`` renames such runs to ``s<seed>.stale-<n>`` (nothing is deleted)
and runs them again. Every invocation rewrites ``OUT/report.md``, ``OUT/report.csv``,
``OUT/learning_curves.png`` and appends the commands it ran to ``OUT/commands.txt``.

Per cell the report gives our final greedy evaluation mean with its 95% bootstrap interval over
seeds, the IQM, how many seeds reach the Zoo's score minus one Zoo standard deviation, the
Zoo's number (one run, in its own ``benchmark.md``), SB3's mean where its side was run, median
wall time and SPS, and the wall-time ratio ours / SB3.

Seeds default to 5 for cells of at most 200k env steps and 3 for larger ones (``seeds=N``
overrides it for every cell). Any other ``key=value`` is passed to every run.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rl_lab.errors import ConfigError
from rl_lab.run_dir import read_json
from rl_lab.stats import aggregate_curves, bootstrap_ci, interquartile_mean

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cell:
    """One cell of RL Zoo's benchmark table (rl-baselines3-zoo ``benchmark.md``).

    ``zoo_mean`` and ``zoo_std`` are the Zoo's final evaluation (one training run, its
    ``mean_reward`` and ``std_reward`` over evaluation episodes); LunarLander's numbers are the
    Zoo's for ``-v2``, the env ``-v3`` replaced.
    """

    algo: str
    env: str
    budget: int
    zoo_mean: float
    zoo_std: float

    @property
    def bar(self) -> float:
        """The score a seed must reach: the Zoo's mean minus one Zoo standard deviation."""
        return self.zoo_mean - self.zoo_std

    def default_seeds(self) -> int:
        return 5 if self.budget <= 200_000 else 3


#: The cells: rl-baselines3-zoo benchmark.md (commit 22e3ff2).
ZOO: tuple[Cell, ...] = (
    Cell("dqn", "CartPole-v1", 50_000, 500.000, 0.000),
    Cell("dqn", "Acrobot-v1", 100_000, -76.639, 11.752),
    Cell("dqn", "MountainCar-v0", 120_000, -100.849, 9.925),
    Cell("dqn", "LunarLander-v3", 100_000, 154.382, 79.241),
    Cell("ppo", "CartPole-v1", 100_000, 500.000, 0.000),
    Cell("ppo", "Acrobot-v1", 1_000_000, -73.506, 18.201),
    Cell("ppo", "MountainCar-v0", 1_000_000, -110.423, 19.473),
    Cell("ppo", "MountainCarContinuous-v0", 20_000, 88.343, 2.572),
    Cell("ppo", "Pendulum-v1", 100_000, -172.225, 104.159),
    Cell("ppo", "LunarLander-v3", 1_000_000, 242.119, 31.823),
    Cell("ppo", "LunarLanderContinuous-v3", 1_000_000, 270.863, 32.072),
    Cell("a2c", "CartPole-v1", 500_000, 500.000, 0.000),
    Cell("a2c", "Acrobot-v1", 500_000, -83.353, 17.213),
    Cell("a2c", "MountainCar-v0", 1_000_000, -111.263, 24.087),
    Cell("a2c", "MountainCarContinuous-v0", 100_000, 91.166, 0.255),
    Cell("a2c", "Pendulum-v1", 1_000_000, -162.965, 103.210),
    Cell("a2c", "LunarLander-v3", 200_000, 155.751, 80.419),
    Cell("td3", "Pendulum-v1", 20_000, -151.855, 90.227),
    Cell("td3", "MountainCarContinuous-v0", 300_000, 93.483, 0.075),
    Cell("td3", "LunarLanderContinuous-v3", 300_000, 207.451, 67.562),
    Cell("sac", "Pendulum-v1", 20_000, -156.995, 88.714),
    Cell("sac", "MountainCarContinuous-v0", 50_000, 94.679, 1.134),
    Cell("sac", "LunarLanderContinuous-v3", 500_000, 260.390, 65.467),
    Cell("ddpg", "Pendulum-v1", 20_000, -152.099, 94.282),
    Cell("ddpg", "MountainCarContinuous-v0", 300_000, 93.512, 0.048),
    Cell("ddpg", "LunarLanderContinuous-v3", 300_000, 230.217, 92.372),
)

IMPLS = ("rl_lab", "sb3")


@dataclass
class Options:
    """What one invocation asks for."""

    algos: tuple[str, ...] | None = None
    envs: tuple[str, ...] | None = None
    seeds: int | None = None
    impl: str = "rl_lab"
    jobs: int = 1
    out: Path = ROOT / "outputs" / "benchmark" / "zoo"
    report_only: bool = False
    max_steps: int | None = None  # caps every cell's budget: smoke tests, never the table
    move_stale: bool = False
    overrides: tuple[str, ...] = ()

    def budget(self, cell: Cell) -> int:
        return cell.budget if self.max_steps is None else min(cell.budget, self.max_steps)

    def cells(self) -> list[Cell]:
        chosen = [
            c
            for c in ZOO
            if (self.algos is None or c.algo in self.algos)
            and (self.envs is None or c.env in self.envs)
        ]
        if not chosen:
            raise ConfigError(
                f"No benchmark cell matches algos={','.join(self.algos or ())} "
                f"envs={','.join(self.envs or ())}. Cells: "
                + "; ".join(f"{c.algo} {c.env}" for c in ZOO)
            )
        return chosen


def parse_args(argv: Sequence[str]) -> Options:
    """``key=value`` arguments (see the module doc); other ``key=value`` go to every run."""
    options = Options()
    extra = []
    for arg in argv:
        if arg == "--report":
            options.report_only = True
            continue
        key, eq, value = arg.partition("=")
        if not eq:
            raise ConfigError(f"`{arg}` is not key=value. Example: algos=dqn envs=CartPole-v1")
        if key in ("algos", "envs"):
            known = {c.algo for c in ZOO} if key == "algos" else {c.env for c in ZOO}
            names = tuple(v for v in value.split(",") if v)
            unknown = set(names) - known
            if unknown:
                raise ConfigError(
                    f"{key}={value}: {', '.join(sorted(unknown))} has no benchmark cell; the "
                    f"{key} are {', '.join(sorted(known))}."
                )
            setattr(options, key, names)
        elif key in ("seeds", "jobs", "max_steps"):
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"{key}={value} must be a whole number >= 1 (e.g. {key}=3).")
            setattr(options, key, int(value))
        elif key == "impl":
            if value not in IMPLS:
                raise ConfigError(f"impl={value}: use impl=rl_lab (ours) or impl=sb3.")
            options.impl = value
        elif key == "out":
            options.out = Path(value)
        elif key == "stale":
            if value != "move":
                raise ConfigError(
                    f"stale={value}: the only choice is stale=move (rename runs whose config "
                    "changed to s<seed>.stale-<n> and run them again)."
                )
            options.move_stale = True
        elif key in ("agent", "env", "seed", "total_steps", "hydra.run.dir"):
            raise ConfigError(
                f"{key}= is set by the benchmark for each run; choose cells with algos= and "
                "envs=, the number of seeds with seeds=."
            )
        else:
            extra.append(arg)
    options.overrides = tuple(extra)
    return options


def run_dir(out: Path, impl: str, cell: Cell, seed: int) -> Path:
    """Where one run of the table lives."""
    return out / impl / cell.algo / cell.env.replace("/", "-") / f"s{seed}"


def run_overrides(options: Options, cell: Cell, seed: int) -> list[str]:
    """The overrides of one run, without its directory."""
    return [
        f"agent={cell.algo}",
        f"env={cell.env}",
        f"impl={options.impl}",
        f"seed={seed}",
        f"total_steps={options.budget(cell)}",
        "progress=false",
        *options.overrides,
    ]


#: Keys that differ between the runs of one cell, or between a run and its resumption.
_PER_RUN_KEYS = frozenset({"seed", "resume"})


def _schema_defaults(agent: str) -> dict[str, Any]:
    """The config classes' defaults of an RL run with ``agent`` (flat keys): what a key added
    to the schema after a run was made meant for that run, which did not have it."""
    from rl_lab.config import CommonConfig, schema
    from rl_lab.config_dict import flatten
    from rl_lab.rl.configs import AGENT_CONFIGS, EnvConfig, RLRunConfig

    nodes = {"": CommonConfig, "_": RLRunConfig, "env": EnvConfig}
    if agent in AGENT_CONFIGS:
        nodes["agent"] = AGENT_CONFIGS[agent]
    defaults: dict[str, Any] = {}
    for prefix, cls in nodes.items():
        flat = flatten(schema(cls))
        dotted = "" if prefix in ("", "_") else f"{prefix}."
        defaults.update({f"{dotted}{key}": value for key, value in flat.items()})
    return defaults


def stale_runs(options: Options, cells: Sequence[Cell]) -> list[tuple[Path, list[str]]]:
    """The run directories of ``cells`` whose recorded config (``config.yaml``) differs from
    what their cell composes now, each with the keys that differ (``a.b: old -> new``)."""
    from omegaconf import OmegaConf

    from rl_lab.api import compose_config
    from rl_lab.config_dict import config_dict, flatten

    found = []
    for cell in cells:
        folder = run_dir(options.out, options.impl, cell, 0).parent
        recorded = sorted(folder.glob("s*/config.yaml"))
        if not recorded:
            continue
        fresh = flatten(config_dict(compose_config(run_overrides(options, cell, 0)), resolve=True))
        defaults = _schema_defaults(cell.algo)
        for path in recorded:
            if not path.parent.name[1:].isdigit():
                continue  # a run moved aside (s0.stale-1)
            old = flatten(config_dict(OmegaConf.load(path), resolve=True))
            for key in fresh.keys() - old.keys():  # added to the schema since: its default
                if key in defaults:
                    old[key] = defaults[key]
            changes = [
                f"{key}: {old.get(key, '(absent)')} -> {fresh.get(key, '(absent)')}"
                for key in sorted(set(old) | set(fresh))
                if key not in _PER_RUN_KEYS and old.get(key) != fresh.get(key)
            ]
            if changes:
                found.append((path.parent, changes))
    return found


def stale_message(stale: Sequence[tuple[Path, list[str]]]) -> str:
    """One paragraph: which runs are stale, why, and what to do."""
    directory, changes = stale[0]
    return (
        f"{len(stale)} run(s) of these cells were made with a config that differs from what "
        f"their cell composes now, e.g. {directory} ({'; '.join(changes[:4])}"
        f"{'; ...' if len(changes) > 4 else ''}). A preset or a default changed since they ran, "
        "so reusing them would mix two settings in one row. Add stale=move to rename them to "
        "s<seed>.stale-<n> (they stay on disk) and run them again, or move them out of "
        f"{stale[0][0].parent.parent.parent} yourself. Stale runs: "
        + ", ".join(str(d) for d, _ in stale)
    )


def move_aside(directory: Path) -> Path:
    """Rename a run directory to the first free ``<name>.stale-<n>``; returns the new path."""
    n = 1
    while (target := directory.with_name(f"{directory.name}.stale-{n}")).exists():
        n += 1
    directory.rename(target)
    return target


def run_command(options: Options, cell: Cell, seed: int) -> list[str] | None:
    """The command for one run, ``resume=true`` for an interrupted one; ``None`` when the run's
    ``results.json`` is complete."""
    directory = run_dir(options.out, options.impl, cell, seed)
    results = read_json(directory / "results.json")
    if isinstance(results, dict) and results.get("status") == "completed":
        return None
    args = [
        sys.executable,
        "-m",
        "rl_lab",
        *run_overrides(options, cell, seed),
        f"hydra.run.dir={directory}",
    ]
    if (directory / "checkpoints" / "last.pt").is_file():
        args.append("resume=true")
    return args


def run_all(commands: list[list[str]], jobs: int, log_path: Path) -> list[int]:
    """Run the commands, ``jobs`` at a time; returns their exit codes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        log.write(f"# {stamp}\n" + "".join(" ".join(c[1:]) + "\n" for c in commands))

    def one(command: list[str]) -> int:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        print(f"[{status}] {' '.join(command[3:])}", flush=True)
        if done.returncode != 0:
            print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "", flush=True)
        return done.returncode

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, commands))


@dataclass
class Row:
    """One cell of the report."""

    cell: Cell
    seeds: list[int]
    returns: list[float]
    wall_times: list[float]
    sps: list[float]
    histories: list[list[tuple[int, float]]]
    sb3_returns: list[float]
    sb3_wall_times: list[float]
    env_steps: list[int]

    @property
    def short(self) -> bool:
        """Whether some run trained less than the cell's budget (a ``max_steps`` smoke test)."""
        return any(steps < self.cell.budget for steps in self.env_steps)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    def ci(self) -> tuple[float, float]:
        if len(self.returns) < 2:
            return (math.nan, math.nan)
        return bootstrap_ci(self.returns, seed=0)

    @property
    def at_bar(self) -> int:
        return sum(r >= self.cell.bar for r in self.returns)

    @property
    def meets_bar(self) -> bool:
        return bool(self.returns) and self.mean >= self.cell.bar

    def ratio(self) -> float:
        if not self.wall_times or not self.sb3_wall_times:
            return math.nan
        return float(np.median(self.wall_times) / np.median(self.sb3_wall_times))


def _completed(out: Path, impl: str, cell: Cell) -> list[dict]:
    found = []
    folder = run_dir(out, impl, cell, 0).parent
    for path in sorted(folder.glob("s*/results.json")):
        if not path.parent.name[1:].isdigit():
            continue  # a run moved aside (s0.stale-1)
        results = read_json(path)
        if isinstance(results, dict) and results.get("status") == "completed":
            found.append(results)
    return found


def collect(out: Path, cells: Sequence[Cell]) -> list[Row]:
    """The report's rows from the run directories under ``out``."""
    rows = []
    for cell in cells:
        ours, sb3 = _completed(out, "rl_lab", cell), _completed(out, "sb3", cell)
        rows.append(
            Row(
                cell=cell,
                seeds=[int(r["seed"]) for r in ours],
                returns=[float(r["eval"]["mean_return"]) for r in ours],
                wall_times=[float(r["wall_time_s"]) for r in ours],
                sps=[float(r["sps"]) for r in ours],
                histories=[
                    [(int(h["env_steps"]), float(h["mean_return"])) for h in r["eval_history"]]
                    for r in ours
                ],
                sb3_returns=[float(r["eval"]["mean_return"]) for r in sb3],
                sb3_wall_times=[float(r["wall_time_s"]) for r in sb3],
                env_steps=[int(r["env_steps"]) for r in ours],
            )
        )
    return rows


def _f(value: float, spec: str = ".1f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


COLUMNS = (
    "algo", "env", "budget", "seeds", "mean", "ci_low", "ci_high", "iqm", "at_zoo_bar",
    "zoo_mean", "zoo_std", "meets_bar", "sb3_mean", "sb3_seeds", "median_wall_s", "median_sps",
    "wall_ratio_ours_sb3",
)  # fmt: skip


def write_report(rows: Sequence[Row], out: Path) -> list[Path]:
    """``report.csv``, ``report.md`` and ``learning_curves.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "report.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            low, high = r.ci()
            writer.writerow(
                [
                    r.cell.algo, r.cell.env, r.cell.budget, len(r.returns), r.mean, low, high,
                    interquartile_mean(r.returns) if r.returns else math.nan, r.at_bar,
                    r.cell.zoo_mean, r.cell.zoo_std, r.meets_bar,
                    float(np.mean(r.sb3_returns)) if r.sb3_returns else math.nan,
                    len(r.sb3_returns),
                    float(np.median(r.wall_times)) if r.wall_times else math.nan,
                    float(np.median(r.sps)) if r.sps else math.nan, r.ratio(),
                ]
            )  # fmt: skip
    done = [r for r in rows if r.returns]
    lines = [
        "# RL Zoo's benchmark, reproduced",
        "",
        f"{sum(r.meets_bar for r in done)} of {len(done)} measured cells reach the Zoo's score "
        f"minus one Zoo std ({len(rows) - len(done)} cells not run yet). Generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "Bold: our mean is at or above the bar. SB3: its mean (seeds) through the same harness.",
        "",
        "| algo | env | budget | ours: mean [95% CI] | IQM | seeds ≥ bar | Zoo (bar) | SB3 "
        "| wall s | SPS | ours/SB3 wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r.ci()
        mean = f"**{_f(r.mean)}**" if r.meets_bar else _f(r.mean)  # bold: at the bar
        ours = f"{mean} [{_f(low)}, {_f(high)}]" if r.returns else "not run"
        sb3 = f"{_f(float(np.mean(r.sb3_returns)))} ({len(r.sb3_returns)})" if r.sb3_returns else ""
        lines.append(
            f"| {r.cell.algo} | {r.cell.env} | {r.cell.budget:,}"
            f"{f' (ran {min(r.env_steps):,})' if r.short else ''} | {ours} | "
            f"{_f(interquartile_mean(r.returns)) if r.returns else ''} | "
            f"{r.at_bar}/{len(r.returns)} | {_f(r.cell.zoo_mean)} ({_f(r.cell.bar)}) | {sb3} | "
            f"{_f(float(np.median(r.wall_times)), '.0f') if r.wall_times else ''} | "
            f"{_f(float(np.median(r.sps)), '.0f') if r.sps else ''} | {_f(r.ratio(), '.2f')} |"
        )
    (out / "report.md").write_text("\n".join(lines) + "\n")
    plot_curves(done, out / "learning_curves.png")
    return [out / "report.csv", out / "report.md", out / "learning_curves.png"]


def plot_curves(rows: Sequence[Row], path: Path) -> None:
    """One panel per measured cell: the seed-mean evaluation curve with its bootstrap band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(rows))
    cols = min(4, n)
    fig, axes = plt.subplots(
        math.ceil(n / cols), cols, figsize=(4 * cols, 3 * math.ceil(n / cols)), squeeze=False
    )
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows, strict=False):
        steps, mean, low, high = aggregate_curves(row.histories)
        ax.plot(steps, mean, label="rl_lab")
        ax.fill_between(steps, low, high, alpha=0.3)
        ax.axhline(row.cell.bar, color="grey", linestyle="--", label="Zoo - std")
        ax.set_title(f"{row.cell.algo} {row.cell.env} ({len(row.returns)} seeds)", fontsize=9)
        ax.set_xlabel("env steps")
    if rows:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    try:
        options = parse_args(list(sys.argv[1:] if argv is None else argv))
        cells = options.cells()
        stale = stale_runs(options, cells)
        if stale and not options.move_stale:
            raise ConfigError(stale_message(stale))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for directory, _ in stale:
        print(f"Moved a stale run aside: {move_aside(directory)}")
    if not options.report_only:
        commands = [
            command
            for cell in cells
            for seed in range(options.seeds or cell.default_seeds())
            if (command := run_command(options, cell, seed)) is not None
        ]
        print(f"{len(commands)} runs to do ({options.impl}); finished runs are skipped.")
        codes = run_all(commands, options.jobs, options.out / "commands.txt") if commands else []
        failed = sum(code != 0 for code in codes)
        if failed:
            print(f"{failed} runs failed: their run directories say why (results.json, run.log).")
    files = write_report(collect(options.out, cells), options.out)
    print("Report: " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
