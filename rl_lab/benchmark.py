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

The archive, ``docs/benchmarks/zoo/runs.jsonl`` (``archive=PATH``, ``archive=none`` for none),
keeps every finished run of the table: one JSON line per run with its scores, evaluation curve,
wall time, machine, commit and resolved config (each invocation archives the finished runs of
its ``impl``). It is committed with the project, so the table
is built over several machines and sessions: an archived run is not run again, and the report
counts archived runs beside the ones under ``OUT`` (a run under ``OUT`` replaces its archived
twin). The archive holds only runs at their cells' own settings; an invocation with extra
overrides or ``max_steps`` neither reads nor writes it. Archived runs whose config differs from
what their cell composes now are refused like stale run directories; ``stale=move`` moves them
to ``runs.stale.jsonl`` beside the archive.

Per cell the report gives our final greedy evaluation mean with its 95% bootstrap interval over
seeds, the IQM, how many seeds reach the Zoo's score minus one Zoo standard deviation, the
Zoo's number (one run, in its own ``benchmark.md``), SB3's mean where its side was run, median
wall time and SPS, and the wall-time ratio ours / SB3.

Seeds default to 5 for cells of at most 200k env steps and 3 for larger ones (``seeds=N``
overrides it for every cell). Any other ``key=value`` is passed to every run.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rl_lab.errors import ConfigError
from rl_lab.run_dir import exclusive_lock, finished_results, read_json
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

#: The committed record of every finished run of the table (see the module doc).
ARCHIVE = ROOT / "docs" / "benchmarks" / "zoo" / "runs.jsonl"


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
    archive: Path | None = ARCHIVE
    overrides: tuple[str, ...] = ()

    @property
    def canonical(self) -> bool:
        """Whether the runs are at their cells' own settings (no extra overrides, the whole
        budget): the only runs the archive holds."""
        return not self.overrides and self.max_steps is None

    def archive_path(self) -> Path | None:
        """The archive this invocation reads and writes, ``None`` for none."""
        return self.archive if self.canonical else None

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
        elif key == "archive":
            options.archive = None if value.lower() in ("none", "null", "") else Path(value)
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


def _fresh_config(options: Options, impl: str, cell: Cell) -> dict[str, Any]:
    """What a run of ``cell`` composes now (flat keys), with ``options``' overrides."""
    from rl_lab.api import compose_config
    from rl_lab.config_dict import config_dict, flatten

    overrides = run_overrides(options, cell, 0)
    overrides[overrides.index(f"impl={options.impl}")] = f"impl={impl}"
    return flatten(config_dict(compose_config(overrides), resolve=True))


def _recorded_config(path: Path) -> dict[str, Any]:
    """A run's ``config.yaml`` (flat keys)."""
    from omegaconf import OmegaConf

    from rl_lab.config_dict import config_dict, flatten

    return flatten(config_dict(OmegaConf.load(path), resolve=True))


def config_changes(old: dict[str, Any], fresh: dict[str, Any], agent: str) -> list[str]:
    """The keys where a run's recorded config ``old`` differs from ``fresh``, as ``a.b: old ->
    new``; a key added to the schema after the run was made counts as its default."""
    defaults = _schema_defaults(agent)
    old = {**{k: defaults[k] for k in fresh.keys() - old.keys() if k in defaults}, **old}
    return [
        f"{key}: {old.get(key, '(absent)')} -> {fresh.get(key, '(absent)')}"
        for key in sorted(set(old) | set(fresh))
        if key not in _PER_RUN_KEYS and old.get(key) != fresh.get(key)
    ]


def stale_runs(options: Options, cells: Sequence[Cell]) -> list[tuple[Path, list[str]]]:
    """The run directories of ``cells`` whose recorded config (``config.yaml``) differs from
    what their cell composes now, each with the keys that differ (``a.b: old -> new``)."""
    found = []
    for cell in cells:
        folder = run_dir(options.out, options.impl, cell, 0).parent
        recorded = [p for p in sorted(folder.glob("s*/config.yaml")) if p.parent.name[1:].isdigit()]
        if not recorded:  # (a run moved aside, s0.stale-1, is not one of the cell's runs)
            continue
        fresh = _fresh_config(options, options.impl, cell)
        for path in recorded:
            changes = config_changes(_recorded_config(path), fresh, cell.algo)
            if changes:
                found.append((path.parent, changes))
    return found


def stale_message(stale: Sequence[tuple[Path | str, list[str]]]) -> str:
    """One paragraph: which runs are stale, why, and what to do."""
    where, changes = stale[0]
    return (
        f"{len(stale)} run(s) of these cells were made with a config that differs from what "
        f"their cell composes now, e.g. {where} ({'; '.join(changes[:4])}"
        f"{'; ...' if len(changes) > 4 else ''}). A preset or a default changed since they ran, "
        "so reusing them would mix two settings in one row. Add stale=move to set them aside "
        "(run directories are renamed to s<seed>.stale-<n>, archived runs move to "
        "runs.stale.jsonl beside the archive; nothing is deleted) and run them again. Stale "
        "runs: " + ", ".join(str(d) for d, _ in stale)
    )


def move_aside(directory: Path) -> Path:
    """Rename a run directory to the first free ``<name>.stale-<n>``; returns the new path."""
    n = 1
    while (target := directory.with_name(f"{directory.name}.stale-{n}")).exists():
        n += 1
    directory.rename(target)
    return target


# ----------------------------------------------------------------------------- the archive


def _key(entry: dict[str, Any]) -> tuple[str, str, str, int]:
    return (entry["impl"], entry["algo"], entry["env"], int(entry["seed"]))


def read_archive(path: Path | None) -> list[dict[str, Any]]:
    """The archived runs in ``path`` (none when ``path`` is ``None`` or missing)."""
    if path is None or not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            _key(entry)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}, line {number}, is not an archived run ({exc}). The archive is one "
                "JSON object per run, written by the benchmark: restore the file from git "
                f"(git checkout -- {path}), or pass archive=none to run without it."
            ) from exc
        entries.append(entry)
    return entries


def write_archive(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    """Write the archive, one sorted line per run, atomically (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e, sort_keys=True) + "\n" for e in sorted(entries, key=_key)]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(lines))
    partial.replace(path)


def archive_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Held while an invocation reads, changes and writes the archive, so that two invocations
    running side by side (e.g. one per cell) keep each other's runs."""
    return exclusive_lock(path.with_name(path.name + ".lock"))


@functools.cache
def _machine() -> str:
    """This machine, as the archive records it (its CPU and core count)."""
    from rl_lab.reports.machine import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores"


def archive_entry(directory: Path, impl: str, cell: Cell) -> dict[str, Any] | None:
    """One finished run directory as an archive entry; ``None`` when it has not finished."""
    results = finished_results(directory)
    if results is None or not (directory / "config.yaml").is_file():
        return None
    info = read_json(directory / "run_info.json") or {}
    return {
        "impl": impl,
        "algo": cell.algo,
        "env": cell.env,
        "seed": int(results["seed"]),
        "budget": cell.budget,
        "mean_return": float(results["eval"]["mean_return"]),
        "returns": [float(r) for r in results["eval"]["returns"]],
        "env_steps": int(results["env_steps"]),
        "wall_time_s": float(results["wall_time_s"]),
        "sps": float(results["sps"]),
        "history": [
            [int(h["env_steps"]), float(h["mean_return"])] for h in results["eval_history"]
        ],
        "started_at": info.get("started_at"),
        "commit": (info.get("git") or {}).get("commit"),
        "versions": info.get("versions"),
        "machine": _machine(),
        "config": _recorded_config(directory / "config.yaml"),
    }


def _local_entries(out: Path, impl: str, cell: Cell) -> list[dict[str, Any]]:
    """The finished runs of one cell and impl under ``out``, as archive entries (runs moved
    aside, ``s0.stale-1``, are not the cell's)."""
    folder = run_dir(out, impl, cell, 0).parent
    found = []
    for directory in sorted(folder.glob("s*")):
        if directory.name[1:].isdigit() and (entry := archive_entry(directory, impl, cell)):
            found.append(entry)
    return found


def stale_archived(
    options: Options, cells: Sequence[Cell], entries: Sequence[dict[str, Any]]
) -> list[tuple[dict[str, Any], list[str]]]:
    """The archived runs of ``cells`` (either impl) whose config differs from what their cell
    composes now, each with the keys that differ."""
    found = []
    for cell in cells:
        for impl in IMPLS:
            mine = [e for e in entries if _key(e)[:3] == (impl, cell.algo, cell.env)]
            if not mine:
                continue
            fresh = _fresh_config(options, impl, cell)
            for entry in mine:
                changes = config_changes(entry["config"], fresh, cell.algo)
                if changes:
                    found.append((entry, changes))
    return found


def _archived_label(archive: Path | None, entry: dict[str, Any]) -> str:
    impl, algo, env, seed = _key(entry)
    return f"{archive} ({impl} {algo} {env} s{seed})"


def archive_runs(options: Options, cells: Sequence[Cell], entries: list[dict[str, Any]]) -> int:
    """Add the finished runs of ``cells`` under ``options.out`` to ``entries``, replacing
    archived twins; returns how many entries are new or changed. Only the runs of
    ``options.impl``, whose configs :func:`stale_runs` has checked (``impl=sb3`` archives
    SB3's)."""
    by_key = {_key(e): e for e in entries}
    added = 0
    for cell in cells:
        for entry in _local_entries(options.out, options.impl, cell):
            old = by_key.get(_key(entry))
            same = old is not None and all(
                old.get(k) == entry[k] for k in ("returns", "wall_time_s", "config")
            )
            if not same:
                by_key[_key(entry)] = entry
                added += 1
    entries[:] = list(by_key.values())
    return added


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
    machines: list[str] = field(default_factory=list)  # where each of our runs was made
    sb3_machines: list[str] = field(default_factory=list)  # where each SB3 run was made

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
        """Our median wall time over SB3's, from the runs of one machine (the one with the
        most SB3 runs among those that have both sides); NaN when no machine has both."""
        common = set(self.machines) & set(self.sb3_machines)
        if not common:
            return math.nan
        machine = max(sorted(common), key=self.sb3_machines.count)
        ours = [w for w, m in zip(self.wall_times, self.machines, strict=True) if m == machine]
        sb3 = [
            w for w, m in zip(self.sb3_wall_times, self.sb3_machines, strict=True) if m == machine
        ]
        return float(np.median(ours) / np.median(sb3))


def _runs(
    out: Path, impl: str, cell: Cell, archived: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The finished runs of one cell and impl, by seed: those under ``out`` and the archived
    ones (a run under ``out`` replaces its archived twin)."""
    by_seed = {int(e["seed"]): e for e in archived if _key(e)[:3] == (impl, cell.algo, cell.env)}
    by_seed.update((entry["seed"], entry) for entry in _local_entries(out, impl, cell))
    return [by_seed[seed] for seed in sorted(by_seed)]


def collect(out: Path, cells: Sequence[Cell], archived: Sequence[dict[str, Any]] = ()) -> list[Row]:
    """The report's rows from the run directories under ``out`` and the ``archived`` runs."""
    rows = []
    for cell in cells:
        ours, sb3 = _runs(out, "rl_lab", cell, archived), _runs(out, "sb3", cell, archived)
        rows.append(
            Row(
                cell=cell,
                seeds=[int(r["seed"]) for r in ours],
                returns=[r["mean_return"] for r in ours],
                wall_times=[r["wall_time_s"] for r in ours],
                sps=[r["sps"] for r in ours],
                histories=[[(int(s), float(m)) for s, m in r["history"]] for r in ours],
                sb3_returns=[r["mean_return"] for r in sb3],
                sb3_wall_times=[r["wall_time_s"] for r in sb3],
                env_steps=[r["env_steps"] for r in ours],
                machines=[str(r.get("machine", "unknown machine")) for r in ours],
                sb3_machines=[str(r.get("machine", "unknown machine")) for r in sb3],
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
        *_machines_line(rows),
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


def _machines_line(rows: Sequence[Row]) -> list[str]:
    """Where the runs were made (wall times compare only within one machine)."""
    counts: dict[str, int] = {}
    for row in rows:
        for machine in row.machines + row.sb3_machines:
            counts[machine] = counts.get(machine, 0) + 1
    if not counts:
        return []
    made = "; ".join(f"{n} on {machine}" for machine, n in sorted(counts.items()))
    return [
        f"Runs: {made}. Wall times and SPS compare only within one machine; ours/SB3 is taken "
        "from runs of one machine.",
        "",
    ]


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
        archive = options.archive_path()
        entries = read_archive(archive)
        stale = stale_runs(options, cells)
        stale_entries = stale_archived(options, cells, entries)
        if (stale or stale_entries) and not options.move_stale:
            labelled = [(_archived_label(archive, e), c) for e, c in stale_entries]
            raise ConfigError(stale_message([*stale, *labelled]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for directory, _ in stale:
        print(f"Moved a stale run aside: {move_aside(directory)}")
    if stale_entries and archive is not None:
        gone = [e for e, _ in stale_entries]
        aside = archive.with_name("runs.stale.jsonl")
        moved = {_key(e) for e in gone}
        with archive_lock(archive):
            write_archive(aside, [*read_archive(aside), *gone])
            entries = [e for e in read_archive(archive) if _key(e) not in moved]
            write_archive(archive, entries)
        print(f"Moved {len(gone)} stale archived run(s) to {aside}")
    if archive is None and options.archive is not None:
        print(
            "The archive is left out: runs with extra overrides or max_steps are not the "
            "table's runs, so they are neither skipped for archived ones nor archived."
        )
    if not options.report_only:
        archived = {_key(e) for e in entries}
        wanted = [(c, seed) for c in cells for seed in range(options.seeds or c.default_seeds())]
        todo = [
            (c, seed) for c, seed in wanted if (options.impl, c.algo, c.env, seed) not in archived
        ]
        commands = [cmd for c, seed in todo if (cmd := run_command(options, c, seed)) is not None]
        in_archive = len(wanted) - len(todo)
        print(
            f"{len(commands)} runs to do ({options.impl}); finished runs are skipped"
            + (f", {in_archive} of them in the archive ({archive})." if in_archive else ".")
        )
        codes = run_all(commands, options.jobs, options.out / "commands.txt") if commands else []
        failed = sum(code != 0 for code in codes)
        if failed:
            print(f"{failed} runs failed: their run directories say why (results.json, run.log).")
    if archive is not None:
        with archive_lock(archive):
            # read again: another invocation may have archived its runs while these ran
            entries = read_archive(archive)
            added = archive_runs(options, cells, entries)
            if added:
                write_archive(archive, entries)
        if added:
            print(f"Archived {added} run(s) in {archive}: commit it to keep them.")
    files = write_report(collect(options.out, cells, entries), options.out)
    print("Report: " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
