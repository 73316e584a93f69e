"""Supervised presets against their targets, and the trainer's overhead against a plain loop.

Preset benchmarks (each ``python -m rl_lab task=supervised experiment=<preset>`` in its own
process, one at a time, ``torch_threads`` per benchmark):

=====================  ==================================================================
``geron_mlp``          ``fashion_mlp_300_100``: validation accuracy after 30 epochs (Géron,
                       *Hands-On ML* ch. 10: 88.9%)
``fashion_cnn``        test accuracy >= 92% in under 10 minutes
``fashion_lstm``       test accuracy >= 87%
``digits_mlp``         test accuracy >= 97% in under a minute
``digits_cnn``         test accuracy >= 98.5% in under a minute
``fashion_lenet``,     reported without a target (``--benches ...`` to run them)
``intermediate_net``,
``shallow_net``
=====================  ==================================================================

Wall time is the whole command (start-up, data loading, training, evaluation); the run's own
``wall_time_s`` (training and final evaluation) is reported beside it.

Overhead check (``overhead``): the same model, data tensors, batch size and optimizer, trained
by :class:`~rl_lab.supervised.classifier.ClassifierTrainer` and by a minimal hand-written loop
(randperm, forward, loss, zero_grad, backward, step), alternating epoch by epoch (a fresh model
for each, so a slow spell of the machine hits every loop alike). Reported:
the median time of a training pass (ours: ``time/train_s``) and the ratio ours/plain; and our
whole epoch (plus validation, TensorBoard scalars and ``last.pt``) against the plain pass.

    python scripts/bench_supervised.py                                 # everything
    python scripts/bench_supervised.py --benches digits_mlp digits_cnn overhead
    python scripts/bench_supervised.py --quick                         # smoke test: 1 epoch
    python scripts/bench_supervised.py --benches overhead --overhead-experiment fashion_cnn

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rl_lab.reports.machine import describe_machine, machine_info
from rl_lab.reports.runs import read_results

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    """One preset run and what it is measured against.

    Attributes:
        preset: the ``experiment=`` name.
        metric: ``test`` or ``val`` accuracy (``val``: of the final model).
        target: accuracy to reach (``None``: report only).
        max_wall_s: wall time to stay under (``None``: none).
        threads: ``torch_threads`` of the run.
        reference: the published figure or the target's origin.
    """

    preset: str
    metric: str
    target: float | None
    max_wall_s: float | None
    threads: int
    reference: str
    extra: tuple[str, ...] = field(default_factory=tuple)


BENCHES: dict[str, Bench] = {
    "geron_mlp": Bench(
        "fashion_mlp_300_100", "val", 0.889, None, 1, "Géron ch. 10: 88.9% val after 30 epochs"
    ),
    "fashion_cnn": Bench("fashion_cnn", "test", 0.92, 600, 2, "target: >= 92% test in < 10 min"),
    "fashion_lstm": Bench("fashion_lstm", "test", 0.87, None, 1, "target: >= 87% test"),
    "digits_mlp": Bench("digits_mlp", "test", 0.97, 60, 1, "target: >= 97% test in < 1 min"),
    "digits_cnn": Bench("digits_cnn", "test", 0.985, 60, 1, "target: >= 98.5% test in < 1 min"),
    "fashion_lenet": Bench("fashion_lenet", "test", None, None, 2, "LeNet-style, no target"),
    "intermediate_net": Bench(
        "intermediate_net", "val", None, None, 1, "Krohn: 97.6% val on MNIST (we: Fashion-MNIST)"
    ),
    "shallow_net": Bench(
        "shallow_net", "val", None, None, 1, "Krohn's shallow net (Fashion-MNIST)"
    ),
}
DEFAULT_BENCHES = ["geron_mlp", "fashion_cnn", "fashion_lstm", "digits_mlp", "digits_cnn"]


def preset_command(bench: Bench, run_dir: Path, data_dir: str, quick: bool) -> list[str]:
    cmd = [sys.executable, "-m", "rl_lab", "task=supervised", f"experiment={bench.preset}"]
    cmd += [f"torch_threads={bench.threads}", "device=cpu", "progress=false"]
    if bench.preset not in ("digits_mlp", "digits_cnn"):
        cmd.append(f"dataset.data_dir={data_dir}")
    if quick:
        cmd.append("trainer.epochs=1")
    return [*cmd, *bench.extra, f"hydra.run.dir={run_dir}"]


def run_preset(name: str, bench: Bench, out_dir: Path, data_dir: str, quick: bool) -> dict:
    run_dir = out_dir / "runs" / name
    if (run_dir / "checkpoints" / "last.pt").exists():
        raise SystemExit(f"{run_dir} holds a run already; pass another --out-dir or remove it")
    cmd = preset_command(bench, run_dir, data_dir, quick)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    row: dict[str, object] = {
        "bench": name,
        "preset": bench.preset,
        "command": " ".join(["python", *cmd[1:]]),
        "threads": bench.threads,
        "reference": bench.reference,
        "target": bench.target,
        "max_wall_s": bench.max_wall_s,
        "metric": f"{bench.metric} accuracy",
        "wall_s": wall,
    }
    if proc.returncode != 0:
        row["error"] = proc.stderr[-3000:]
        return row
    results = read_results(run_dir, required=True)
    task = results.raw  # the supervised task's own entries: val, test, epochs
    value = task["test"]["accuracy"] if bench.metric == "test" else results.objective
    row.update(
        value=value,
        test_accuracy=task["test"]["accuracy"],
        val_accuracy=task["val"]["final"]["accuracy"],
        best_val=task["val"]["best"],
        epochs=task["epochs_run"],
        run_wall_time_s=results.wall_time_s,
        time_per_epoch_s=task["time_per_epoch_s"],
        run_dir=str(run_dir),
    )
    met = bench.target is None or value >= bench.target
    fast = bench.max_wall_s is None or wall <= bench.max_wall_s
    row["met"] = None if bench.target is None and bench.max_wall_s is None else bool(met and fast)
    return row


# ----------------------------------------------------------------------------- overhead


def overhead(
    data_dir: str, epochs: int, threads: int, experiment: str = "fashion_mlp_300_100"
) -> dict:
    """Time per training pass: ClassifierTrainer vs a minimal loop on ``experiment``'s model,
    data, batch size and optimizer (by default Géron's MLP, SGD, batch 32; ``fashion_cnn``: the
    conv net, Adam, batch 128)."""
    import torch
    import torch.nn.functional as F
    from hydra import compose, initialize_config_dir

    import rl_lab.__main__ as entry
    from rl_lab.data import load_dataset
    from rl_lab.supervised.classifier import ClassifierTrainer
    from rl_lab.supervised.models import build_classifier
    from rl_lab.supervised.optimizers import build_optimizer
    from rl_lab.tracking import Tracker

    torch.set_num_threads(threads)
    overrides = [
        "task=supervised",
        f"experiment={experiment}",
        f"dataset.data_dir={data_dir}",
        "trainer.epochs=1",  # one epoch per measurement, the loops taking turns
        "progress=false",
        "trainer.tensorboard.graph=false",
        "trainer.tensorboard.histograms_every=0",
        "trainer.tensorboard.figures_every=0",
    ]
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    dataset = load_dataset(cfg.dataset)
    images, labels = dataset.train.images, dataset.train.labels
    batch_size = int(cfg.trainer.batch_size)

    def plain_epoch(seed: int) -> float:
        torch.manual_seed(seed)
        model = build_classifier(cfg.model, dataset.image_shape, dataset.num_classes)
        optimizer = build_optimizer(model.parameters(), cfg.trainer.optimizer)
        generator = torch.Generator().manual_seed(seed)
        started = time.perf_counter()
        order = torch.randperm(images.shape[0], generator=generator)
        for start in range(0, images.shape[0], batch_size):
            rows = order[start : start + batch_size]
            loss = F.cross_entropy(model(images[rows]), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    def ours(seed: int, full: bool) -> list[dict[str, float]]:
        torch.manual_seed(seed)
        model = build_classifier(cfg.model, dataset.image_shape, dataset.num_classes)
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) if full else None
            tracker = Tracker(Path(tmp) / "tb") if full else None
            trainer = ClassifierTrainer(cfg, run_dir, "cpu", model, dataset, tracker)
            trainer.fit()
            if tracker is not None:
                tracker.close()
        return trainer.state.history

    plain, ours_train, full_train, full_epoch = [], [], [], []
    for index in range(epochs):
        plain.append(plain_epoch(index))
        ours_train += [h["time/train_s"] for h in ours(index, full=False)]
        history = ours(index, full=True)
        full_train += [h["time/train_s"] for h in history]
        full_epoch += [h["time/epoch_s"] for h in history]
    median = statistics.median
    return {
        "model": (
            f"{experiment} (model {cfg.model.type}, {cfg.trainer.optimizer.name} lr "
            f"{cfg.trainer.optimizer.lr}, batch {batch_size}, {images.shape[0]:,} images)"
        ),
        "threads": threads,
        "epochs_each": epochs,
        "plain_epoch_s": median(plain),
        "ours_train_pass_s": median(ours_train),
        "ours_with_callbacks_train_pass_s": median(full_train),
        "ours_full_epoch_s": median(full_epoch),
        "ratio_train_pass": median(ours_train) / median(plain),
        "ratio_train_pass_with_callbacks": median(full_train) / median(plain),
        "ratio_full_epoch": median(full_epoch) / median(plain),
        "all": {"plain": plain, "ours": ours_train, "full_train": full_train, "full": full_epoch},
    }


# ----------------------------------------------------------------------------- report


def table(rows: list[dict], over: dict | None, info: dict) -> str:
    lines = [
        f"Machine: {describe_machine(info)}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in info['load_average'])}",
        "",
        "| bench | metric | measured | target / reference | wall (command) | run time "
        "| s/epoch | threads | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['bench']} | FAILED | | {row['reference']} | | | | | no |")
            continue
        met = {True: "yes", False: "no", None: "-"}[row["met"]]
        lines.append(
            f"| {row['bench']} | {row['metric']} | {row['value']:.2%} | {row['reference']} | "
            f"{row['wall_s']:.0f} s | {row['run_wall_time_s']:.0f} s | "
            f"{row['time_per_epoch_s']:.1f} | {row['threads']} | {met} |"
        )
    if over is not None:
        lines += [
            "",
            f"Trainer overhead ({over['model']}, {over['threads']} thread(s), median of "
            f"{over['epochs_each']} epochs each):",
            "",
            "| loop | time per training pass | ratio to the plain loop |",
            "|---|---|---|",
            f"| minimal hand-written loop | {over['plain_epoch_s']:.2f} s | 1.00 |",
            f"| ClassifierTrainer (training pass) | {over['ours_train_pass_s']:.2f} s | "
            f"{over['ratio_train_pass']:.3f} |",
            f"| ClassifierTrainer with TensorBoard + checkpoints (training pass) | "
            f"{over['ours_with_callbacks_train_pass_s']:.2f} s | "
            f"{over['ratio_train_pass_with_callbacks']:.3f} |",
            f"| ClassifierTrainer whole epoch (+ validation, scalars, last.pt) | "
            f"{over['ours_full_epoch_s']:.2f} s | {over['ratio_full_epoch']:.3f} |",
        ]
    lines += ["", "Commands:"] + [f"  {row['bench']}: {row['command']}" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [*BENCHES, "overhead"]
    parser.add_argument(
        "--benches", nargs="+", choices=names, default=[*DEFAULT_BENCHES, "overhead"]
    )
    parser.add_argument("--data-dir", default=os.environ.get("RL_LAB_DATA_DIR", str(ROOT / "data")))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "outputs" / "bench_supervised")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (default OUT_DIR/bench.json)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch_threads for every run")
    parser.add_argument(
        "--bench-threads",
        nargs="*",
        default=[],
        metavar="NAME=N",
        help="torch_threads for one benchmark, e.g. fashion_cnn=1 (overrides --threads)",
    )
    parser.add_argument(
        "--overhead-epochs", type=int, default=12, help="epochs of each loop, taking turns"
    )
    parser.add_argument(
        "--overhead-experiment",
        default="fashion_mlp_300_100",
        help="the preset whose model the overhead check trains (e.g. fashion_cnn)",
    )
    parser.add_argument("--quick", action="store_true", help="1 epoch per preset (smoke test)")
    args = parser.parse_args()

    info = machine_info()  # before the runs: its load average is the one at the start
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.benches:
        if name == "overhead":
            continue
        bench = BENCHES[name]
        threads = dict(item.split("=", 1) for item in args.bench_threads).get(name, args.threads)
        if threads is not None:
            bench = Bench(**{**bench.__dict__, "threads": int(threads)})
        row = run_preset(name, bench, args.out_dir, args.data_dir, args.quick)
        rows.append(row)
        shown = f"{row['value']:.4f}" if "value" in row else "FAILED"
        print(f"{name}: {shown} ({row['wall_s']:.0f} s)", file=sys.stderr, flush=True)
    over = None
    if "overhead" in args.benches:
        epochs = 1 if args.quick else args.overhead_epochs
        over = overhead(args.data_dir, epochs, args.threads or 1, args.overhead_experiment)
    info["load_average_at_end"] = os.getloadavg()
    report = table(rows, over, info)
    print(report)
    out = args.out or args.out_dir / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    payload = {"date": stamp, "machine": info, "presets": rows, "overhead": over}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()
