"""GAN quality per unit of compute: the wall time until a GAN's samples reach a quality target.

Each variant is one ordinary run directory, trained by the real command (``python -m rl_lab
task=gan ... metrics.every=1``, one process at a time, ``torch_threads`` threads, on the CPU), so
sample quality is measured after every epoch (rl_lab/gan/quality.py). Targets, on Fashion-MNIST:

- conditional GAN (``cgan*``): the metric classifier's accuracy on generated samples against the
  labels they were asked for (``val/label_accuracy``) >= 0.90;
- DCGAN (``dcgan*``): the Fréchet distance in the metric classifier's feature space
  (``val/frechet_distance``) < 3 x its real-vs-real floor: 2000 real training images (the same
  seeded draw as ``scripts/bench_gan.py``) against the held-out test images that every
  evaluation uses.

For each run the report gives the first epoch whose evaluation meets the target and the time to
it, cumulated over epochs 1..k:

- ``train``: the gradient updates only: the sum of the epoch records' ``time/train_s``
  (results.json ``history``, written by rl_lab's epoch loop; exact across resumes);
- ``process``: the wall time of one uninterrupted ``python -m rl_lab`` process from its launch to
  the end of epoch k (start-up, data, the per-epoch quality measurement, checkpoints and
  TensorBoard included). rl_lab records no per-epoch wall clock in results.json, so it is
  derived from ``run.log``: every epoch's log line carries a time stamp, and this script writes
  each process's launch time to ``timing.json`` beside results.json. Epoch 1 counts from the
  launch; every later epoch counts the interval since the previous epoch's line. The first
  epoch of a resumed process has no earlier line in its process: it counts its ``time/train_s``
  plus the median of (interval - ``time/train_s``) of the measured epochs (without any: of
  ``time/epoch_s - time/train_s``, the quality measurement), and the time is marked
  estimated (``~``).

The runs are resumable and the measurement can be built over several invocations: a finished
run that met its target, or reached ``--epochs``, is read, not rerun; a shorter finished run is
continued (``resume=true trainer.epochs=N``) and so is an interrupted one (Ctrl-C or SIGTERM
here is passed on to the run, which writes ``checkpoints/last.pt`` first); a failed run (e.g. a
collapsed discriminator) is reported, not rerun (delete its directory to run it again). With
``--chunk N`` a run is trained N epochs per process and stops within N epochs of its target;
the variants use a constant learning rate and no annealing, and a resumed run restores its RNG
states, so a run trained in chunks makes the same updates as one long run.

Each run stops on the first epoch that meets its target (``trainer.stop_at.monitor`` and
``trainer.stop_at.value``, checked after that epoch's quality measurement), so no epoch past the
target is trained.

    python scripts/bench_gan_quality.py --epochs 30 --chunk 5   # Fashion-MNIST, every variant
    python scripts/bench_gan_quality.py --variants cgan cgan_b64 --epochs 20
    python scripts/bench_gan_quality.py --smoke --out /tmp/gq   # seconds, on the 8x8 digits

Writes ``bench_gan_quality.md`` (the table) and ``bench_gan_quality.json`` into ``--out`` and
prints the table.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.compare import parse_seeds  # noqa: E402
from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402
from rl_lab.run_dir import read_json, write_json  # noqa: E402

#: The DCGAN target: FD below this multiple of the real-vs-real floor.
FLOOR_MULTIPLE = 3.0
#: The cGAN target: label accuracy of generated samples at least this.
LABEL_ACCURACY = 0.90


@dataclass(frozen=True)
class Target:
    """A sample-quality target on one metric of the epoch records."""

    name: str
    tag: str  # the epoch record's key, e.g. "val/label_accuracy"
    higher_is_better: bool

    def threshold(self, floor: float) -> float:
        """The value to reach; ``floor`` is the real-vs-real Fréchet distance."""
        return LABEL_ACCURACY if self.higher_is_better else FLOOR_MULTIPLE * floor

    def met(self, value: float, floor: float) -> bool:
        """Whether ``value`` meets the target (NaN never does)."""
        limit = self.threshold(floor)
        return value >= limit if self.higher_is_better else value < limit

    def describe(self, floor: float) -> str:
        """The target in words, e.g. ``label accuracy >= 0.90``."""
        if self.higher_is_better:
            return f"label accuracy >= {LABEL_ACCURACY:.2f}"
        return f"FD < {FLOOR_MULTIPLE:g} x floor = {self.threshold(floor):.3g}"


LABELS = Target("label_accuracy", "val/label_accuracy", higher_is_better=True)
FD = Target("frechet_distance", "val/frechet_distance", higher_is_better=False)


@dataclass(frozen=True)
class Variant:
    """A named setting: ``python -m rl_lab task=gan`` overrides, its target and why it is here."""

    overrides: tuple[str, ...]
    target: Target
    why: str


# FLOPs per training image and iteration (one D update on a real and a fake batch, one G update;
# torch.utils.flop_counter on the 28x28 cGAN): widths G 32 / D 32 (the defaults) 47.8 M, of
# which the discriminator's passes are ~30 M (its 32 -> 64 channel 4x4 conv at 7x7 runs forward
# and backward three times); D 16: 25.4 M; G 16: 35.9 M. Per-image cost does not depend on the
# batch size, per-update overhead (Python, optimizer steps over 0.5 M parameters) is small.
VARIANTS: dict[str, Variant] = {
    "cgan": Variant(
        ("model=cgan",),
        LABELS,
        "the defaults: widths 32/32, batch 128, Adam 2e-4 betas (0.5, 0.999)",
    ),
    "cgan_b64": Variant(
        ("model=cgan", "trainer.batch_size=64"),
        LABELS,
        "batch 64: twice the updates per epoch for about the same FLOPs per epoch",
    ),
    "cgan_d16": Variant(
        ("model=cgan", "model.discriminator.width=16"),
        LABELS,
        "discriminator width 16: 1.9x fewer FLOPs per image, the same updates per epoch",
    ),
    "cgan_b32": Variant(
        ("model=cgan", "trainer.batch_size=32"),
        LABELS,
        "batch 32: four times the updates per epoch of the defaults",
    ),
    "cgan_b32_d16": Variant(
        ("model=cgan", "trainer.batch_size=32", "model.discriminator.width=16"),
        LABELS,
        "batch 32 and discriminator width 16 together",
    ),
    "dcgan": Variant(("model=dcgan",), FD, "the defaults (as cgan)"),
    "dcgan_b64": Variant(("model=dcgan", "trainer.batch_size=64"), FD, "as cgan_b64"),
    "dcgan_d16": Variant(("model=dcgan", "model.discriminator.width=16"), FD, "as cgan_d16"),
}

#: Every run: Fashion-MNIST on the CPU, quality after every epoch, no progress bar.
COMMON = ("dataset=fashion_mnist", "metrics.every=1", "device=cpu", "progress=false")

#: ``--smoke``: the 8x8 digits, 200 evaluation samples and a small metric classifier (as the
#: GAN tests use): an epoch takes well under a second, start-up most of a run's time.
SMOKE = (
    "dataset=digits",
    "metrics.every=1",
    "device=cpu",
    "progress=false",
    "metrics.samples=200",
    "metrics.classifier.model.channels=[8,16]",
    "metrics.classifier.model.hidden_sizes=[32]",
    "metrics.classifier.min_steps=150",
)

TIMING_FILE = "timing.json"

# run.log's file format (conf/hydra/job_logging/rich.yaml): "[2026-12-07 13:11:30,966][logger]
# [INFO] - epoch 1/2  losses discriminator ...". The metric classifier's own training logs
# "epoch k/n  train loss ...": only the adversarial trainer's records start with "losses".
EPOCH_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]\[[^\]]*\]\[INFO\] - epoch (\d+)/\d+\s+losses "
)


# ----------------------------------------------------------------------------- per-epoch times


def epoch_stamps(run_log: Path) -> list[tuple[float, int]]:
    """``(unix time, epoch)`` of every adversarial-trainer epoch line of ``run.log``, in order
    (local time stamps, millisecond resolution); empty when the file is missing."""
    try:
        lines = run_log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    stamps = []
    for line in lines:
        match = EPOCH_LINE.match(line)
        if match:
            seconds = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S"))
            stamps.append((seconds + int(match[2]) / 1000, int(match[3])))
    return stamps


def process_times(
    history: Sequence[dict[str, Any]],
    stamps: Sequence[tuple[float, int]],
    launches: Sequence[float],
) -> list[tuple[float | None, bool]]:
    """Cumulative process wall time at the end of each epoch of ``history``, as one
    uninterrupted process would have spent it, and whether it is estimated.

    Args:
        history: the epoch records (``epoch``, ``time/train_s``), in order.
        stamps: :func:`epoch_stamps` of the run's ``run.log``.
        launches: unix times at which this script launched each process of the run, in order.

    Returns:
        One ``(seconds, estimated)`` per record; ``(None, False)`` from the first epoch without
        a time stamp when no estimate can be made (no launch or no stamp recorded).
    """
    if not launches:
        return [(None, False)] * len(history)
    # per epoch, its last line (an epoch redone after an interrupt replaces the first try) and
    # the process that wrote it: the last launch before the line
    line: dict[int, tuple[float, int]] = {}
    for stamp, epoch in stamps:
        process = sum(launch <= stamp for launch in launches) - 1
        if process >= 0:
            line[epoch] = (stamp, process)
    intervals: dict[int, float] = {}  # epochs whose previous epoch's line is in the same process
    for epoch, (stamp, process) in line.items():
        previous = line.get(epoch - 1)
        if previous is not None and previous[1] == process:
            intervals[epoch] = stamp - previous[0]
    train = {int(r["epoch"]): float(r.get("time/train_s", math.nan)) for r in history}
    extras = [intervals[e] - train[e] for e in intervals if math.isfinite(train.get(e, math.nan))]
    if not extras:  # no process ran two epochs: the evaluation time is the best guess
        extras = [float(r["time/epoch_s"]) - float(r["time/train_s"]) for r in history]
    overhead = statistics.median(extras) if extras else 0.0

    times: list[tuple[float | None, bool]] = []
    total, estimated = 0.0, False
    for record in history:
        epoch = int(record["epoch"])
        if epoch in intervals:
            total += intervals[epoch]
        elif epoch == 1 and epoch in line:
            stamp, process = line[epoch]
            total += stamp - launches[process]
            estimated = estimated or process != 0  # the first process did not finish epoch 1
        elif math.isfinite(train.get(epoch, math.nan)) and (intervals or epoch != 1):
            total += train[epoch] + overhead
            estimated = True
        else:
            times.extend([(None, False)] * (len(history) - len(times)))
            break
        times.append((total, estimated))
    return times


def epoch_table(
    history: Sequence[dict[str, Any]],
    stamps: Sequence[tuple[float, int]],
    launches: Sequence[float],
    floor: float,
) -> list[dict[str, Any]]:
    """One row per epoch: the quality metrics, the FD over the floor, and the cumulative times
    (``train_s``: updates only; ``train_eval_s``: plus the quality measurement, the sum of
    ``time/epoch_s``; ``process_s``: see :func:`process_times`)."""
    rows = []
    train_s = train_eval_s = 0.0
    for record, (process_s, estimated) in zip(
        history, process_times(history, stamps, launches), strict=True
    ):
        train_s += float(record.get("time/train_s", math.nan))
        train_eval_s += float(record.get("time/epoch_s", math.nan))
        fd = float(record.get(FD.tag, math.nan))
        rows.append(
            {
                "epoch": int(record["epoch"]),
                "label_accuracy": record.get(LABELS.tag),
                "frechet_distance": fd,
                "fd_over_floor": fd / floor if floor > 0 else math.nan,
                "train_s": train_s,
                "train_eval_s": train_eval_s,
                "process_s": process_s,
                "process_estimated": estimated,
            }
        )
    return rows


def first_reached(rows: Sequence[dict[str, Any]], target: Target, floor: float) -> dict | None:
    """The first row of :func:`epoch_table` whose metric meets ``target``; ``None`` if none."""
    for row in rows:
        value = row[target.name]
        if value is not None and target.met(float(value), floor):
            return row
    return None


# ----------------------------------------------------------------------------- running


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The run's epoch records: results.json's ``history`` when the run completed, else those
    saved in ``checkpoints/last.pt`` (an interrupted or failed run), else none."""
    results = read_results(run_dir)
    if results is not None and results.status == "completed":
        history = results.raw.get("history")
        return list(history) if isinstance(history, list) else []
    last = run_dir / "checkpoints" / "last.pt"
    if not last.is_file():
        return []
    from rl_lab import checkpoint

    return list(checkpoint.load(last, kind="gan")["state"]["history"])


def next_step(status: str, epochs_done: int, met: bool, budget: int, has_last: bool) -> str:
    """What a run directory needs: ``"done"`` (reuse it), ``"failed"`` (report, do not rerun),
    ``"resume"`` (``resume=true``) or ``"start"`` (a fresh run).

    Args:
        status: results.json's ``status`` ("" when there is none).
        epochs_done: epochs in the run's history.
        met: whether an epoch of that history met the target.
        budget: the most epochs to train (``--epochs``).
        has_last: whether ``checkpoints/last.pt`` exists.
    """
    if met or (status == "completed" and epochs_done >= budget):
        return "done"
    if status == "failed":
        return "failed"
    if status == "completed" or has_last:
        return "resume"
    return "start"


def launch_run(command: list[str], run_dir: Path, log_path: Path) -> int:
    """Run ``command`` (``python -m rl_lab ...``) to its end, its output appended to
    ``log_path``, its launch time, wall time and exit code recorded in the run's
    ``timing.json``; returns the exit code.

    The run gets its own session, so a Ctrl-C (or SIGTERM) of this script reaches it once, from
    here: it then writes ``last.pt`` and stops, and this script waits for that.
    """
    timing = read_json(run_dir / TIMING_FILE) or {}
    session = {
        "launched_at": time.time(),
        "command": shlex.join(command),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
    }
    timing.setdefault("sessions", []).append(session)
    write_json(run_dir / TIMING_FILE, timing)  # before the run: a killed script still knows
    started = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            try:
                process.wait()
            except KeyboardInterrupt:  # a second Ctrl-C: the last epoch's last.pt is kept
                process.kill()
            raise
        finally:
            session["wall_s"] = time.perf_counter() - started
            session["exit_code"] = process.poll()
            write_json(run_dir / TIMING_FILE, timing)
    return code


def run_variant(
    name: str,
    overrides: list[str],
    run_dir: Path,
    budget: int,
    chunk: int,
    target: Target,
    floor: float,
    launch: Callable[[list[str], Path, Path], int],
) -> int:
    """Bring one run directory to its target or budget; returns the processes launched."""
    timing = read_json(run_dir / TIMING_FILE)
    if isinstance(timing, dict) and timing.get("overrides") != overrides:
        raise SystemExit(
            f"{run_dir} holds a run of other settings ({timing.get('overrides')}) than {name}'s "
            f"now ({overrides}). Move it away or use another --out."
        )
    launched, before = 0, None
    while True:
        results = read_results(run_dir)
        status = results.status if results is not None else ""
        history = read_history(run_dir)
        met = any(target.met(float(r[target.tag]), floor) for r in history if target.tag in r)
        has_last = (run_dir / "checkpoints" / "last.pt").is_file()
        step = next_step(status, len(history), met, budget, has_last)
        if step in ("done", "failed"):
            return launched
        if (step, len(history)) == before:  # the last process trained nothing: do not loop
            print(f"{name}: the run made no progress; see its run.log", flush=True)
            return launched
        before = (step, len(history))
        epochs = min(budget, len(history) + chunk) if chunk else budget
        command = [sys.executable, "-m", "rl_lab", "task=gan"]
        if step == "start":
            # a fresh run: the directory may hold the record of one that died before its first
            # checkpoint, which rl_lab lets a new run replace
            write_json(run_dir / TIMING_FILE, {"overrides": overrides, "sessions": []})
            command += [*overrides, f"trainer.epochs={max(epochs, 1)}"]
        else:
            command += ["resume=true", f"trainer.epochs={max(epochs, len(history))}"]
        command += [f"hydra.run.dir={run_dir}"]
        print(f"{name}: {'resuming' if step == 'resume' else 'starting'} to epoch {epochs}")
        code = launch(command, run_dir, run_dir.parent.parent / "logs" / f"{run_dir.name}.log")
        launched += 1
        if code != 0:
            print(f"{name}: exit {code}; see {run_dir.parent.parent / 'logs'}", flush=True)
            return launched


def real_floor(overrides: Sequence[str]) -> dict[str, float]:
    """The real-vs-real Fréchet distance floor as ``scripts/bench_gan.py`` computes it: the
    run's metric classifier (trained and cached first if needed, so no timed run pays for it),
    ``metrics.samples`` training images drawn by ``randperm`` with seed 0, against the held-out
    reference of every evaluation."""
    import torch
    from hydra import compose, initialize_config_dir

    import rl_lab.__main__ as entry
    from rl_lab.gan.quality import build_quality
    from rl_lab.gan.task import load_gan_dataset

    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task=gan", *overrides])
    dataset = load_gan_dataset(cfg)
    quality = build_quality(cfg, dataset, "cpu")
    generator = torch.Generator().manual_seed(0)
    rows = torch.randperm(len(dataset.train), generator=generator)[: quality.samples]
    classifier = quality.classifier
    return {
        "fd_real_vs_real": quality.frechet_distance_to(dataset.train.images[rows]),
        "samples": quality.samples,
        "classifier_test_accuracy": classifier.test_accuracy if classifier else math.nan,
    }


# ----------------------------------------------------------------------------- report


def summarize(
    name: str, seed: int, run_dir: Path, command: str, target: Target, floor: float
) -> dict[str, Any]:
    """One run's entry of the JSON report."""
    results = read_results(run_dir)
    history = read_history(run_dir)
    timing = read_json(run_dir / TIMING_FILE) or {}
    sessions = timing.get("sessions", [])
    launches = [float(s["launched_at"]) for s in sessions]
    rows = epoch_table(history, epoch_stamps(run_dir / "run.log"), launches, floor)
    values = [r[target.name] for r in rows if r[target.name] is not None]
    best = (max if target.higher_is_better else min)(values, default=None)
    return {
        "variant": name,
        "seed": seed,
        "run_dir": str(run_dir),
        "command": command,
        "why": VARIANTS[name].why,
        "status": results.status if results is not None else "not started",
        "epochs_run": len(rows),
        "target": target.describe(floor),
        "target_metric": target.name,
        "threshold": target.threshold(floor),
        "reached": first_reached(rows, target, floor),
        "best": best,
        "train_s_per_epoch": rows[-1]["train_s"] / len(rows) if rows else None,
        "processes": len(sessions),
        "processes_wall_s": sum(float(s.get("wall_s", 0.0)) for s in sessions),
        "load_average_at_launch": [s.get("load_average") for s in sessions],
        "epochs": rows,
    }


def fastest(runs: Sequence[dict[str, Any]], target: str) -> str | None:
    """The variant with the least median process wall time to ``target`` among those whose
    every seed reached it (training time where the process time is missing)."""
    by_variant: dict[str, list[float]] = {}
    for run in runs:
        if run["target_metric"] != target:
            continue
        reached = run["reached"]
        seconds = None
        if reached is not None:
            seconds = (
                reached["process_s"] if reached["process_s"] is not None else reached["train_s"]
            )
        by_variant.setdefault(run["variant"], []).append(seconds)
    ranked = {
        name: statistics.median(times)
        for name, times in by_variant.items()
        if times and all(t is not None for t in times)
    }
    return min(ranked, key=ranked.get) if ranked else None


def _seconds(value: float | None, estimated: bool = False) -> str:
    return "-" if value is None else f"{'~' if estimated else ''}{value:.0f} s"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: machine, command, floor, one row per run, the fastest."""
    floor = report["floor"]
    lines = [
        f"Machine: {describe_machine(report['machine'])} (load at start "
        f"{report['machine']['load_average']})",
        f"Command: `{report['command']}`",
        f"Real-vs-real FD floor: {floor['fd_real_vs_real']:.3f} ({floor['samples']} images; "
        f"metric classifier test accuracy {floor['classifier_test_accuracy']:.1%})",
        "",
        "| variant | seed | target | epochs | first epoch at target | value | training time "
        "| process wall | best | s/epoch (train) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        reached = run["reached"] or {}
        value = reached.get(run["target_metric"])
        per_epoch = run["train_s_per_epoch"]
        best = run["best"]
        lines.append(
            f"| {run['variant']} | {run['seed']} | {run['target']} | {run['epochs_run']} "
            f"| {reached.get('epoch', 'not reached')} "
            f"| {'-' if value is None else f'{value:.3f}'} "
            f"| {_seconds(reached.get('train_s'))} "
            f"| {_seconds(reached.get('process_s'), reached.get('process_estimated', False))} "
            f"| {'-' if best is None else f'{best:.3f}'} "
            f"| {'-' if per_epoch is None else f'{per_epoch:.1f}'} | {run['status']} |"
        )
    lines += [
        "",
        "Training time: the sum of the epochs' `time/train_s` (updates only) up to the first "
        "epoch at the target; process wall: one uninterrupted `python -m rl_lab` process from "
        "its launch to the end of that epoch, quality measured every epoch (`~`: derived for "
        "epochs trained by a resumed process).",
        "",
    ]
    for target, name in report["fastest"].items():
        command = next((r["command"] for r in report["runs"] if r["variant"] == name), "")
        lines.append(
            f"Fastest to {target}: {name or 'none reached it'}"
            + (f" (`{command}`)" if name else "")
        )
    lines += ["", "Variants:"]
    for name in dict.fromkeys(r["variant"] for r in report["runs"]):
        lines.append(f"- {name}: {VARIANTS[name].why}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", default="0,", help="e.g. 0, (seed 0), 3 (0..2), 0-4")
    parser.add_argument("--epochs", type=int, default=None, help="most epochs per run")
    parser.add_argument("--chunk", type=int, default=None, help="epochs per process; 0 = all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--data-dir", default=os.environ.get("RL_LAB_DATA_DIR", str(ROOT / "data")))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets on the 8x8 digits")
    args = parser.parse_args(argv)
    if (args.epochs is not None and args.epochs < 1) or (args.chunk is not None and args.chunk < 0):
        parser.error("--epochs must be >= 1 and --chunk >= 0")
    budget = args.epochs if args.epochs is not None else (2 if args.smoke else 30)
    chunk = args.chunk if args.chunk is not None else (1 if args.smoke else 5)
    default_out = "gan_quality_smoke" if args.smoke else "gan_quality"
    out = (args.out or ROOT / "outputs" / "bench" / default_out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        base = [*SMOKE, f"metrics.classifier.cache_dir={out / 'metric_classifiers'}"]
    else:
        base = [*COMMON, f"dataset.data_dir={Path(args.data_dir).resolve()}"]
    base.append(f"torch_threads={args.threads}")
    argv_shown = list(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "command": shlex.join(["python", "scripts/bench_gan_quality.py", *argv_shown]),
        "budget_epochs": budget,
        "chunk": chunk,
        "threads": args.threads,
    }
    report["date"] = report["machine"]["date"]
    print(f"machine: {describe_machine(report['machine'])}\ncommand: {report['command']}")
    # SIGTERM stops this script as Ctrl-C does: the run gets one SIGINT and writes last.pt
    previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return measure(args, report, base, budget, chunk, out)
    except KeyboardInterrupt:
        print("\nStopped; every run kept its last.pt: the same command resumes them.", flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def measure(
    args: argparse.Namespace,
    report: dict[str, Any],
    base: list[str],
    budget: int,
    chunk: int,
    out: Path,
) -> int:
    """The floor, then every (seed, variant) run; writes and prints the report."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        floor_info = real_floor(base)
    finally:
        torch.set_num_threads(threads)
    floor = floor_info["fd_real_vs_real"]
    report["floor"] = floor_info
    print(f"real-vs-real FD floor {floor:.3f}", flush=True)

    runs, launched = [], 0
    launch = LAUNCH
    for seed in parse_seeds(args.seeds):
        for name in args.variants:
            variant = VARIANTS[name]
            target = variant.target
            # the run stops on the first epoch at its target (rl_lab's trainer.stop_at)
            stop = [f"trainer.stop_at.monitor={target.tag}",
                    f"trainer.stop_at.value={target.threshold(floor)!r}"]  # fmt: skip
            overrides = [*variant.overrides, *base, *stop, f"seed={seed}"]
            run_dir = out / "runs" / f"{name}_s{seed}"
            launched += run_variant(
                name, overrides, run_dir, budget, chunk, variant.target, floor, launch
            )
            shown = ["python", "-m", "rl_lab", "task=gan", *variant.overrides, *base, *stop]
            shown += [f"seed={seed}", f"trainer.epochs={budget}"]
            runs.append(summarize(name, seed, run_dir, shlex.join(shown), variant.target, floor))
            reached = runs[-1]["reached"]
            print(
                f"{name} seed {seed}: {runs[-1]['epochs_run']} epochs, "
                + (
                    f"target at epoch {reached['epoch']} "
                    f"(training {reached['train_s']:.1f} s, process "
                    f"{_seconds(reached['process_s'], reached['process_estimated'])})"
                    if reached
                    else "target not reached"
                ),
                flush=True,
            )
    report["runs"] = runs
    report["processes_launched"] = launched
    report["fastest"] = {
        target.describe(floor): fastest(runs, target.name)
        for target in (LABELS, FD)
        if any(r["target_metric"] == target.name for r in runs)
    }
    table = markdown(report)
    write_json(out / "bench_gan_quality.json", report)
    (out / "bench_gan_quality.md").write_text(table)
    print("\n" + table)
    return 0


#: How runs are launched (a test replaces it to prove that nothing is rerun).
LAUNCH: Callable[[list[str], Path, Path], int] = launch_run


if __name__ == "__main__":
    sys.exit(main())
