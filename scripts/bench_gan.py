"""GAN benchmarks: sample quality within a CPU budget, and the trainer's overhead.

Benchmarks (each training run is the real command, ``python -m rl_lab task=gan ...``, in its own
process with ``torch_threads`` threads; quality is measured in the cached metric classifier's
feature space, see rl_lab/gan/quality.py):

- ``cgan-fashion``: conditional DCGAN on Fashion-MNIST. Targets: the metric classifier's label
  accuracy on generated samples >= 80%; Fréchet distance (FD) reported next to a floor
  (held-out real test images vs real training images, same count) and a ceiling (the same
  networks untrained).
- ``cgan-digits``: conditional DCGAN on the 8x8 digits. Target: label accuracy >= 90% in under
  3 minutes of wall time.
- ``dcgan-fashion``: unconditional DCGAN on Fashion-MNIST. Target: FD <= 1/3 of the untrained
  generator's.
- ``epoch-time``: one Fashion-MNIST epoch of the DCGAN networks with the adversarial trainer
  (metrics and checkpoints off) next to a minimal hand-written PyTorch loop doing the same
  updates on the same networks.

A thread check first times training steps with 1 and 2 torch threads and uses the faster.
Prints a table with the machine and the commands, and writes JSON (``--out``).

    flock /tmp/team/bench.lock python scripts/bench_gan.py --out docs/bench_gan.json
    python scripts/bench_gan.py --quick          # smoke test: tiny budgets, targets not expected
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.gan.models import Discriminator, Generator  # noqa: E402
from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402

#: The tuned settings of each benchmark (command-line overrides of ``task=gan``).
BENCHES: dict[str, list[str]] = {
    "cgan-fashion": [
        "model=cgan",
        "dataset=fashion_mnist",
        "trainer.epochs=3",
        "metrics.every=1",
    ],
    "cgan-digits": [
        "model=cgan",
        "dataset=digits",
        "trainer.epochs=100",
        "metrics.every=20",
    ],
    "dcgan-fashion": [
        "model=dcgan",
        "dataset=fashion_mnist",
        "trainer.epochs=3",
        "metrics.every=1",
    ],
}

#: Wall-time budget of each training command (seconds, the whole process).
LIMITS_S = {"cgan-fashion": 15 * 60, "cgan-digits": 3 * 60, "dcgan-fashion": 15 * 60}

#: ``--quick``: every bench on the digits for one epoch (a smoke test of the script).
QUICK = ["dataset=digits", "trainer.epochs=1", "metrics.samples=200"]


# ----------------------------------------------------------------------------- hand-written loop


def handwritten_epoch(
    gen: Generator, disc: Discriminator, images: torch.Tensor, batch_size: int, seed: int
) -> float:
    """One epoch of a plain DCGAN loop (PyTorch's example, minus the data loader) doing the
    trainer's updates: shuffle, then per batch one Adam step of D (real → 1, fake → 0, fakes
    made without gradients) and one of G (fresh noise, fake → 1). Returns seconds."""
    torch.manual_seed(seed)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = images * 2 - 1
    started = time.perf_counter()
    order = torch.randperm(data.shape[0])
    for start in range(0, data.shape[0], batch_size):
        real = data[order[start : start + batch_size]]
        if real.shape[0] < 2:
            continue
        with torch.no_grad():
            fake = gen(torch.randn(real.shape[0], gen.latent_dim))
        logits_real, logits_fake = disc(real), disc(fake)
        loss_d = F.binary_cross_entropy_with_logits(
            logits_real, torch.ones_like(logits_real)
        ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        logits = disc(gen(torch.randn(real.shape[0], gen.latent_dim)))
        loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return time.perf_counter() - started


def trainer_epoch(
    gen: Generator, disc: Discriminator, images: torch.Tensor, batch_size: int, seed: int
) -> float:
    """One epoch of :class:`~rl_lab.gan.trainer.AdversarialTrainer` (no metrics, no run
    directory, no progress bar). Returns seconds of training (``time/train_s``)."""
    from omegaconf import OmegaConf

    from rl_lab.config import schema
    from rl_lab.gan.configs import GANTrainerConfig
    from rl_lab.gan.trainer import AdversarialTrainer

    trainer_cfg = OmegaConf.create(schema(GANTrainerConfig))  # trainer=gan's defaults
    trainer_cfg.epochs, trainer_cfg.batch_size = 1, batch_size
    cfg = OmegaConf.create(
        {"seed": seed, "progress": False, "task": {"name": "gan"}, "trainer": trainer_cfg}
    )
    torch.manual_seed(seed)
    trainer = AdversarialTrainer(cfg, None, "cpu", gen, disc, images)
    state = trainer.fit()
    return float(state.history[-1]["time/train_s"])


def fashion_images(data_dir: str) -> torch.Tensor:
    """Fashion-MNIST's training split, ``(55000, 1, 28, 28)`` in ``[0, 1]``."""
    from omegaconf import OmegaConf

    from rl_lab.config import schema
    from rl_lab.data import load_dataset
    from rl_lab.data.configs import FashionMNISTConfig

    cfg = OmegaConf.create(schema(FashionMNISTConfig))  # dataset=fashion_mnist's defaults
    cfg.data_dir = data_dir
    return load_dataset(cfg).train.images


def fashion_nets(width: int, seed: int) -> tuple[Generator, Discriminator]:
    """The dcgan-fashion networks (``model=dcgan`` with ``width``)."""
    torch.manual_seed(seed)
    return (
        Generator((1, 28, 28), latent_dim=100, width=width),
        Discriminator((1, 28, 28), width=width, batch_norm=True),
    )


def thread_check(images: torch.Tensor, width: int, steps: int) -> dict[int, float]:
    """Seconds per training step (batch 128) of the dcgan-fashion networks, by thread count."""
    timings = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        gen, disc = fashion_nets(width, 0)
        batch = images[: 128 * (steps + 2)]
        handwritten_epoch(gen, disc, batch[: 128 * 2], 128, 0)  # warm-up
        timings[threads] = handwritten_epoch(gen, disc, batch[: 128 * steps], 128, 0) / steps
    return timings


def epoch_time(images: torch.Tensor, width: int, threads: int) -> dict[str, float]:
    """Seconds per Fashion-MNIST epoch: trainer vs hand-written loop, back to back."""
    torch.set_num_threads(threads)
    gen, disc = fashion_nets(width, 0)
    handwritten = handwritten_epoch(gen, disc, images, 128, 0)
    gen, disc = fashion_nets(width, 0)
    trainer = trainer_epoch(gen, disc, images, 128, 0)
    return {"trainer_s": trainer, "handwritten_s": handwritten, "ratio": trainer / handwritten}


# ----------------------------------------------------------------------------- training runs


def run_gan(name: str, overrides: list[str], out_dir: Path) -> dict[str, object]:
    """Train with the real command; returns its results.json plus the wall time."""
    run_dir = out_dir / "runs" / name
    command = [sys.executable, "-m", "rl_lab", "task=gan", *overrides, "progress=false"]
    command.append(f"hydra.run.dir={run_dir}")
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    (out_dir / "logs" / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"{name} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    results = read_results(run_dir, required=True).raw
    shown = ["python", "-m", "rl_lab", "task=gan", *overrides]
    return {"command": shlex.join(shown), "process_wall_s": wall, "results": results}


def reference_points(overrides: list[str], run_dir: Path) -> dict[str, float]:
    """FD floor (held-out real vs real training images) and ceiling (untrained networks)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import rl_lab.__main__ as entry
    from rl_lab.gan.models import build_gan
    from rl_lab.gan.quality import build_quality
    from rl_lab.gan.task import load_gan_dataset

    # the untrained generator is expected to look collapsed: keep its warnings out of the table
    logging.getLogger("rl_lab.gan.quality").setLevel(logging.ERROR)
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task=gan", *overrides])
    saved = OmegaConf.load(run_dir / "config.yaml")  # the trained run's resolved settings
    cfg.metrics = saved.metrics
    dataset = load_gan_dataset(cfg)
    quality = build_quality(cfg, dataset, "cpu")
    generator = torch.Generator().manual_seed(0)
    rows = torch.randperm(len(dataset.train), generator=generator)[: quality.samples]
    floor = quality.frechet_distance_to(dataset.train.images[rows])
    torch.manual_seed(int(cfg.seed))
    untrained, _ = build_gan(cfg.model, dataset.image_shape, dataset.num_classes)
    ceiling = quality.evaluate(untrained)
    return {
        "fd_real_vs_real": floor,
        "fd_untrained": ceiling["val/frechet_distance"],
        "label_accuracy_untrained": ceiling.get("val/label_accuracy", math.nan),
        "classifier_test_accuracy": quality.classifier.test_accuracy,
        "samples": quality.samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/bench_gan/bench_gan.json")
    parser.add_argument(
        "--benches", default="threads,cgan-digits,cgan-fashion,dcgan-fashion,epoch-time"
    )
    parser.add_argument("--data-dir", default=os.environ.get("RL_LAB_DATA_DIR", "data"))
    parser.add_argument("--threads", type=int, default=None, help="skip the thread check")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    args = parser.parse_args()
    out_path = Path(args.out)
    out_dir = out_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = args.benches.split(",")
    report: dict[str, object] = {"machine": machine_info(), "benches": {}}
    print(f"machine: {report['machine']}", flush=True)

    images = None
    threads = args.threads or 1
    if "threads" in wanted and args.threads is None:
        images = torch.rand(2048, 1, 28, 28) if args.quick else fashion_images(args.data_dir)
        timings = thread_check(images, 32, 3 if args.quick else 20)
        threads = min(timings, key=timings.get)
        report["threads"] = {"seconds_per_step": timings, "chosen": threads}
        print(f"threads: {timings} -> {threads}", flush=True)

    for name in ("cgan-digits", "cgan-fashion", "dcgan-fashion"):
        if name not in wanted:
            continue
        overrides = [*BENCHES[name], f"torch_threads={threads}"]
        if "dataset=fashion_mnist" in overrides:
            overrides.append(f"dataset.data_dir={args.data_dir}")
        if args.quick:
            overrides = [o for o in overrides if not o.startswith("dataset.")] + QUICK
        print(f"{name}: {' '.join(overrides)}", flush=True)
        entry = run_gan(name, overrides, out_dir)
        run_dir = out_dir / "runs" / name
        entry["reference"] = reference_points(overrides, run_dir)
        report["benches"][name] = entry
        metrics = entry["results"]["metrics"]
        print(f"  -> {metrics} in {entry['results']['wall_time_s']:.0f} s", flush=True)
        out_path.write_text(json.dumps(report, indent=2))

    if "epoch-time" in wanted:
        if images is None:
            images = torch.rand(2048, 1, 28, 28) if args.quick else fashion_images(args.data_dir)
        report["epoch_time"] = {"width": 32, "threads": threads, **epoch_time(images, 32, threads)}
        print(f"epoch time: {report['epoch_time']}", flush=True)
    out_path.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict[str, object]) -> None:
    """The benchmark table (Markdown)."""
    m = report["machine"]
    print(f"\nMachine: {describe_machine(m)} (load at start {m['load_average']})\n")
    print(
        "| bench | epochs | FD trained | FD real-vs-real | FD untrained | label acc. "
        "| s/epoch | train wall | process wall | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    targets = {
        "cgan-fashion": lambda r, ref: r["metrics"]["label_accuracy"] >= 0.8,
        "cgan-digits": lambda r, ref: r["metrics"]["label_accuracy"] >= 0.9,
        "dcgan-fashion": lambda r, ref: r["metrics"]["frechet_distance"] <= ref["fd_untrained"] / 3,
    }
    for name, entry in report["benches"].items():
        r, ref = entry["results"], entry["reference"]
        acc = r["metrics"].get("label_accuracy")
        met = targets[name](r, ref) and entry["process_wall_s"] < LIMITS_S[name]
        print(
            f"| {name} | {r['epochs_run']} | {r['metrics']['frechet_distance']:.2f} "
            f"| {ref['fd_real_vs_real']:.2f} | {ref['fd_untrained']:.1f} "
            f"| {f'{acc:.3f}' if acc is not None else '-'} | {r['time_per_epoch_s']:.1f} "
            f"| {r['wall_time_s']:.0f} s | {entry['process_wall_s']:.0f} s "
            f"| {'met' if met else 'MISSED'} |"
        )
    for name, entry in report["benches"].items():
        print(f"\n{name}: `{entry['command']}`")
    if "epoch_time" in report:
        e = report["epoch_time"]
        print(
            f"\nFashion-MNIST epoch, DCGAN width {e['width']}, {e['threads']} thread(s): "
            f"AdversarialTrainer {e['trainer_s']:.1f} s, hand-written loop "
            f"{e['handwritten_s']:.1f} s (ratio {e['ratio']:.2f})"
        )
    if "threads" in report:
        print(f"seconds per step by torch threads: {report['threads']['seconds_per_step']}")


if __name__ == "__main__":
    main()
