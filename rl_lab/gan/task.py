"""The ``gan`` task: train a (conditional) DCGAN, score a checkpoint, or draw samples from it.

``python -m rl_lab task=gan mode=train|eval|sample``; :func:`validate_config` checks every key
(shared keys, model, trainer, metrics, dataset; for ``eval``/``sample`` the checkpoint and the
asked ``label``) before any long work.

The results' ``objective`` (what the Hydra main returns to sweepers) is the final Fréchet
distance between generated and held-out real images in the metric classifier's feature space
(lower is better; :mod:`rl_lab.gan.quality`), NaN when ``metrics.enabled=false``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_lab import checkpoint
from rl_lab.config import (
    COMMON_RULES,
    CommonConfig,
    add_missing_settings,
    require,
    validate,
)
from rl_lab.data import ImageDataset, load_dataset, validate_dataset_config
from rl_lab.errors import CheckpointError, ConfigError, DatasetError
from rl_lab.gan.configs import (
    GAN_MODEL_RULES,
    GAN_RUN_RULES,
    GAN_TRAINER_RULES,
    GANTrainerConfig,
)
from rl_lab.gan.models import Generator, build_gan
from rl_lab.gan.quality import build_quality
from rl_lab.gan.sampling import write_samples
from rl_lab.gan.trainer import MONITOR, AdversarialTrainer
from rl_lab.run_dir import write_json
from rl_lab.tracking import Tracker
from rl_lab.training import count_parameters, seed_everything

log = logging.getLogger(__name__)

#: The GAN models of conf/model/ (``model.name``).
MODELS = ("dcgan", "cgan")


def check_model_and_trainer(cfg: DictConfig, where: str = "the command line") -> None:
    """Model and trainer checks of a GAN config (also applied to a checkpoint's config)."""
    name = OmegaConf.select(cfg, "model.name")
    require(
        name in MODELS or OmegaConf.select(cfg, "model.generator") is not None,
        f"model={name} is not a GAN model; task=gan trains {' or '.join(MODELS)} "
        "(`python -m rl_lab task=gan model=dcgan` or `model=cgan`).",
    )
    require(
        OmegaConf.select(cfg, "trainer.d_steps") is not None,
        "task=gan needs the adversarial trainer's settings (trainer=gan), but the "
        "config has another trainer; drop the `trainer=...` override or use `trainer=gan`.",
    )
    validate(cfg, GAN_MODEL_RULES + GAN_TRAINER_RULES, where=where)
    stop_at = OmegaConf.select(cfg, "trainer.stop_at")
    if stop_at is not None and stop_at.value is not None:
        require(
            bool(OmegaConf.select(cfg, "metrics.enabled")),
            f"trainer.stop_at.value={stop_at.value} stops at a sample-quality target, but "
            "metrics.enabled=false measures none; enable the metrics or drop the target.",
        )
        require(
            stop_at.monitor != "val/label_accuracy" or bool(cfg.model.conditional),
            "trainer.stop_at.monitor=val/label_accuracy needs a conditional GAN (model=cgan), "
            "whose samples have labels; an unconditional one stops on "
            "trainer.stop_at.monitor=val/frechet_distance.",
        )
    for net in ("generator", "discriminator"):
        spec = cfg.trainer[f"{net}_optimizer"]
        betas = list(spec.betas)
        require(
            len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas),
            f"trainer.{net}_optimizer.betas={betas} must be two numbers in [0, 1), e.g. "
            "[0.5,0.999].",
        )
        require(
            spec.decay == 0 or cfg.trainer.schedule.name == "constant",
            f"trainer.{net}_optimizer.decay={spec.decay} (per-update decay) and "
            f"trainer.schedule.name={cfg.trainer.schedule.name} would both set the learning "
            "rate; use one of them.",
        )


def validate_config(cfg: DictConfig) -> None:
    """All checks of a GAN run's config, before any data is loaded."""
    validate(cfg, COMMON_RULES + GAN_RUN_RULES)
    if cfg.mode in ("eval", "sample"):
        require(
            bool(cfg.checkpoint),
            f"mode={cfg.mode} needs a checkpoint: pass "
            "`checkpoint=outputs/.../checkpoints/last.pt` (or best.pt) of a GAN training run.",
        )
        payload = checkpoint.load(cfg.checkpoint, kind="gan")
        num_classes = payload.get("model_spec", {}).get("num_classes")
        if cfg.mode == "sample" and cfg.label is not None:
            require(
                num_classes is not None,
                f"label={cfg.label} was given, but {cfg.checkpoint} is an unconditional GAN "
                "(it cannot draw a chosen class); drop `label=` or use a cgan checkpoint.",
            )
            require(
                cfg.label < num_classes,
                f"label={cfg.label} is out of range: {cfg.checkpoint} knows {num_classes} "
                f"classes, 0 to {num_classes - 1}.",
            )
        return
    check_model_and_trainer(cfg)
    validate_dataset_config(cfg.dataset)
    if cfg.model.conditional and cfg.dataset.name == "npy":
        require(
            bool(cfg.dataset.get("labels_path")),
            "model=cgan needs labels, but dataset=npy has no dataset.labels_path; give the "
            "labels (`dataset.labels_path=labels.npy`) or train the unconditional model=dcgan.",
        )


def run(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=train`` (``resume=true`` continues the run), ``mode=eval`` or ``mode=sample``."""
    if cfg.mode == "sample":
        return sample(cfg, run_dir, device)
    if cfg.mode == "eval":
        return evaluate_checkpoint(cfg, run_dir, device)
    return train(cfg, run_dir, device, resume=bool(cfg.resume))


def load_gan_dataset(cfg: DictConfig) -> ImageDataset:
    """The dataset, checked for what the model needs: square images, labels for a cGAN."""
    dataset = load_dataset(cfg.dataset)
    _, height, width = dataset.image_shape
    if height != width or height < 4:
        raise DatasetError(
            f"dataset={dataset.name} has {height}x{width} images; the DCGAN models need square "
            "images of at least 4x4. Resize them with `dataset.image_size=<size>`."
        )
    if cfg.model.conditional and (dataset.num_classes is None or dataset.train.labels is None):
        raise DatasetError(
            f"model={cfg.model.name} is conditional and needs labels, but dataset="
            f"{dataset.name} has none. Give labels (dataset=npy: `dataset.labels_path=...`) "
            "or train model=dcgan."
        )
    if len(dataset.train) < 2:
        raise DatasetError(f"dataset={dataset.name} has {len(dataset.train)} training images.")
    return dataset


def model_spec(dataset: ImageDataset, conditional: bool) -> dict[str, Any]:
    """What rebuilding the networks needs besides the config (stored in checkpoints)."""
    num_classes = None
    if conditional:
        if dataset.num_classes is None:  # load_gan_dataset refuses such a dataset
            raise DatasetError(f"dataset={dataset.name} has no labels for a conditional GAN.")
        num_classes = int(dataset.num_classes)
    return {
        "image_shape": list(dataset.image_shape),
        "num_classes": num_classes,
        "dataset_classes": int(dataset.num_classes) if dataset.num_classes else None,
        "class_names": list(dataset.class_names) if dataset.class_names else None,
    }


def train(cfg: DictConfig, run_dir: Path, device: str, resume: bool = False) -> dict[str, Any]:
    """Train the GAN, score its samples, write samples and ``results.json``."""
    payload = None
    if resume:
        payload = checkpoint.load(run_dir / "checkpoints" / "last.pt", kind="gan")
    dataset = load_gan_dataset(cfg)
    # the metric classifier is trained (or loaded) before seeding: cached or not, the GAN's
    # initial weights and noise are the same
    quality = build_quality(cfg, dataset, device) if cfg.metrics.enabled else None
    seed_everything(cfg.seed)
    generator, discriminator = build_gan(cfg.model, dataset.image_shape, dataset.num_classes)
    log.info(
        "%s on %s: generator %s, discriminator %s parameters; %s training images of shape %s",
        cfg.model.name,
        dataset.name,
        f"{count_parameters(generator):,}",
        f"{count_parameters(discriminator):,}",
        f"{len(dataset.train):,}",
        dataset.image_shape,
    )
    purge_step = payload["state"]["epoch"] + 1 if payload else None
    tracker = Tracker(run_dir / "tb", purge_step=purge_step)
    if payload is None:
        tracker.config(cfg)
    trainer = AdversarialTrainer(
        cfg,
        run_dir,
        device,
        generator,
        discriminator,
        dataset.train.images,
        dataset.train.labels,
        tracker=tracker,
        quality=quality,
        metrics_every=int(cfg.metrics.every),
        model_spec=model_spec(dataset, bool(cfg.model.conditional)),
    )
    try:
        if payload is not None:
            state = payload["state"]
            log.info("Resuming at epoch %d, batch %d", state["epoch"] + 1, state["batch"])
        state = trainer.fit(resume_from=payload)
        started = time.perf_counter()
        final = dict(trainer.last_quality)
        if quality is not None and not final:  # resumed after the last epoch's evaluation
            final = quality.evaluate(generator)
        history = state.history
        last = history[-1] if history else {}
        measured = [h for h in history if MONITOR in h]
        best = min(measured, key=lambda h: h[MONITOR], default=None)
        samples = write_samples(
            generator, run_dir / "samples", n=int(cfg.n), seed=int(cfg.seed), label=None
        )
        objective = final.get(MONITOR, math.nan)
        results: dict[str, Any] = {
            "status": "completed",
            "task": "gan",
            "mode": "train",
            "model": cfg.model.name,
            "dataset": dataset.name,
            "conditional": bool(cfg.model.conditional),
            "seed": cfg.seed,
            "objective": objective,
            "metrics": _metrics_summary(final, quality),
            "final_losses": {k: v for k, v in last.items() if k.startswith("losses/")},
            "best": {
                "frechet_distance": best[MONITOR],
                "epoch": int(best["epoch"]),
                "checkpoint": "checkpoints/best.pt",
            }
            if best
            else None,
            "epochs_run": state.epoch,
            "stop_reason": state.stop_reason,
            "steps": state.steps,
            "generator_updates": trainer.g_updates,
            "wall_time_s": state.wall_time_s + time.perf_counter() - started,
            "time_per_epoch_s": _mean(h["time/epoch_s"] for h in history),
            "train_time_per_epoch_s": _mean(h["time/train_s"] for h in history),
            "parameters": {
                "generator": count_parameters(generator),
                "discriminator": count_parameters(discriminator),
            },
            "dataset_sizes": dataset.sizes(),
            "device": device,
            "samples": {
                k: f"samples/{v}" if k.endswith(("png", "npz")) else v for k, v in samples.items()
            },
            "checkpoints": {"last": "checkpoints/last.pt", "best": "checkpoints/best.pt"},
            "history": history,
        }
        tracker.hparams(cfg, {f"final/{k.partition('/')[2]}": v for k, v in final.items()})
        write_json(run_dir / "results.json", results)
        log.info(
            "Done: %d epochs in %.0f s; Fréchet distance %.4g%s. Samples: %s",
            state.epoch,
            results["wall_time_s"],
            objective,
            f", label accuracy {final['val/label_accuracy']:.3f}"
            if "val/label_accuracy" in final
            else "",
            run_dir / "samples" / "samples.png",
        )
        return results
    finally:
        tracker.close()


def _mean(values: Any) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _metrics_summary(final: dict[str, float], quality: Any) -> dict[str, Any] | None:
    """``results["metrics"]``: the final sample-quality numbers and what they were measured
    against."""
    if quality is None:
        return None
    summary: dict[str, Any] = {k.partition("/")[2]: v for k, v in final.items()}
    summary.update(
        {
            "feature_space": quality.feature_space,
            "samples": quality.samples,
            "real_pairwise_distance": quality.real_pairwise_distance,
            "classifier_test_accuracy": quality.classifier.test_accuracy
            if quality.classifier is not None
            else None,
            "warnings": list(quality.warnings),
        }
    )
    return summary


def load_generator(
    cfg: DictConfig, device: str
) -> tuple[Generator, DictConfig, dict[str, Any], dict[str, Any]]:
    """The generator of ``cfg.checkpoint`` (eval mode), its saved config, model spec and the
    whole payload."""
    path = Path(cfg.checkpoint)
    payload = checkpoint.load(path, kind="gan")
    saved = OmegaConf.create(payload["config"])
    add_missing_settings(saved, "trainer", GANTrainerConfig)  # settings added since it was saved
    add_missing_settings(saved, "", CommonConfig)  # e.g. `format`, added with mode=export
    spec = payload.get("model_spec") or {}
    try:
        check_model_and_trainer(saved, where=f"the checkpoint's config ({path})")
        image_shape = tuple(spec["image_shape"])
        generator, _ = build_gan(saved.model, image_shape, spec.get("num_classes"))
        generator.load_state_dict(payload["networks"]["generator"])
    except (ConfigError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} cannot be used as a GAN generator ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); it is damaged or from another rl_lab version."
        ) from exc
    return generator.to(device).eval(), saved, spec, payload


def sample(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=sample``: ``samples.png``, ``samples.npz`` and ``interpolation.png`` in the run
    directory (the contract of :mod:`rl_lab.gan.sampling`)."""
    started = time.perf_counter()
    generator, saved, spec, payload = load_generator(cfg, device)
    label = None if cfg.label is None else int(cfg.label)
    files = write_samples(
        generator,
        run_dir,
        n=int(cfg.n),
        seed=int(cfg.seed),
        label=label,
        interpolation_steps=int(cfg.interpolation_steps),
    )
    class_names = spec.get("class_names")
    results = {
        "status": "completed",
        "task": "gan",
        "mode": "sample",
        "checkpoint": str(Path(cfg.checkpoint).resolve()),
        "model": saved.model.name,
        "dataset": saved.dataset.name,
        "epoch": payload["state"]["epoch"],
        "seed": cfg.seed,
        **files,
        "label_name": class_names[label] if class_names and label is not None else None,
        "wall_time_s": time.perf_counter() - started,
        "objective": math.nan,
        "device": device,
    }
    write_json(run_dir / "results.json", results)
    log.info("Wrote %d samples to %s (and samples.npz, interpolation.png)", cfg.n, run_dir)
    return results


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=eval``: the sample-quality metrics of a checkpoint's generator, against its
    dataset's held-out images (with this run's ``metrics`` settings)."""
    started = time.perf_counter()
    generator, saved, spec, payload = load_generator(cfg, device)
    dataset = load_gan_dataset(saved)
    if list(dataset.image_shape) != list(spec["image_shape"]):
        raise CheckpointError(
            f"{cfg.checkpoint} makes {spec['image_shape']} images, but its dataset now loads "
            f"as {list(dataset.image_shape)}; evaluate it where its data is the same."
        )
    settings = OmegaConf.merge(saved, {"metrics": cfg.metrics})
    quality = build_quality(settings, dataset, device)
    final = quality.evaluate(generator)
    results = {
        "status": "completed",
        "task": "gan",
        "mode": "eval",
        "checkpoint": str(Path(cfg.checkpoint).resolve()),
        "model": saved.model.name,
        "dataset": dataset.name,
        "epoch": payload["state"]["epoch"],
        "seed": saved.seed,
        "metrics": _metrics_summary(final, quality),
        "objective": final[MONITOR],
        "wall_time_s": time.perf_counter() - started,
        "device": device,
    }
    write_json(run_dir / "results.json", results)
    log.info("Evaluated %s: Fréchet distance %.4g", cfg.checkpoint, final[MONITOR])
    return results
