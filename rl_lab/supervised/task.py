"""The ``supervised`` task: train an image classifier, evaluate a checkpoint, or find an LR.

``python -m rl_lab task=supervised mode=train|eval|lr_find``; :func:`validate_config` checks
everything (shared keys, trainer, model, LR finder, dataset) before any long work.

The results' ``objective`` (what the Hydra main returns to sweepers) is the validation accuracy
of the final model: the last epoch's weights, or the best epoch's when early stopping restores
them. ``mode=eval`` reports the same for the checkpoint's model; ``mode=lr_find`` returns the
suggested learning rate.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
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
from rl_lab.run_dir import write_json
from rl_lab.supervised.classifier import ClassifierTrainer, classification_loss
from rl_lab.supervised.configs import SUPERVISED_RUN_RULES, TRAINER_RULES, TrainerConfig
from rl_lab.supervised.figures import lr_find_figure
from rl_lab.supervised.lr_finder import endless_batches, lr_range_test
from rl_lab.supervised.models import build_classifier, validate_model_config
from rl_lab.supervised.optimizers import build_optimizer
from rl_lab.supervised.progress import EpochProgress
from rl_lab.tracking import Tracker
from rl_lab.training import count_parameters, seed_everything

log = logging.getLogger(__name__)


def check_trainer(cfg: DictConfig) -> None:
    """Cross-field checks of ``cfg.trainer`` that single-value rules cannot express."""
    opt = cfg.trainer.optimizer
    if opt.nesterov:
        require(
            opt.name == "sgd",
            f"trainer.optimizer.nesterov=true applies to sgd only (optimizer {opt.name}): set "
            "trainer.optimizer.name=sgd or nesterov=false.",
        )
        require(
            opt.momentum > 0,
            "trainer.optimizer.nesterov=true needs momentum: set trainer.optimizer.momentum=0.9 "
            "(or nesterov=false).",
        )
    betas = list(opt.betas)
    require(
        len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas),
        f"trainer.optimizer.betas={betas} must be two numbers in [0, 1), e.g. [0.9,0.999].",
    )
    for where in ("trainer", "trainer.early_stopping"):
        node = OmegaConf.select(cfg, where)
        monitor = node.get("monitor", cfg.trainer.monitor)
        mode = node.get("mode", node.get("monitor_mode", cfg.trainer.monitor_mode))
        better = "max" if monitor.endswith("accuracy") else "min"
        require(
            mode == better or not monitor.endswith(("accuracy", "loss")),
            f"{where} monitors {monitor} with mode={mode}, but {monitor} is better when "
            f"{'higher' if better == 'max' else 'lower'}: set "
            f"trainer.monitor_mode={better}.",
        )


def validate_config(cfg: DictConfig) -> None:
    """All checks of a supervised run's config, before any data is loaded."""
    validate(cfg, COMMON_RULES + SUPERVISED_RUN_RULES + TRAINER_RULES)
    check_trainer(cfg)
    validate_model_config(cfg.model)
    require(
        cfg.lr_find.lr_min < cfg.lr_find.lr_max,
        f"lr_find.lr_min={cfg.lr_find.lr_min} must be below lr_find.lr_max={cfg.lr_find.lr_max}.",
    )
    if cfg.mode == "eval":
        require(
            bool(cfg.checkpoint),
            "mode=eval needs a checkpoint: pass `checkpoint=outputs/.../checkpoints/best.pt` "
            "(or last.pt) of a supervised training run.",
        )
    else:
        validate_dataset_config(cfg.dataset)


def run(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=train`` (``resume=true`` continues the run), ``mode=eval`` or ``mode=lr_find``."""
    if cfg.mode == "eval":
        return evaluate_checkpoint(cfg, run_dir, device)
    if cfg.mode == "lr_find":
        return find_lr(cfg, run_dir, device)
    return train(cfg, run_dir, device, resume=bool(cfg.resume))


def load_labelled(dataset_cfg: DictConfig) -> ImageDataset:
    """The dataset, which must have labels and at least two training images."""
    dataset = load_dataset(dataset_cfg)
    if dataset.num_classes is None or dataset.train.labels is None:
        raise DatasetError(
            f"dataset={dataset.name} has no labels, and task=supervised needs them. Give the "
            "labels (dataset=npy: `dataset.labels_path=labels.npy`) or use a labelled dataset "
            "(digits, fashion_mnist, mnist)."
        )
    if len(dataset.train) < 2:
        raise DatasetError(f"dataset={dataset.name} has {len(dataset.train)} training images.")
    return dataset


def _check_monitor(cfg: DictConfig, dataset: ImageDataset) -> None:
    if len(dataset.val) == 0 and cfg.trainer.monitor.startswith("val/"):
        raise ConfigError(
            f"dataset={dataset.name} has no validation split (val_size=0), but "
            f"trainer.monitor={cfg.trainer.monitor}. Give it one (`dataset.val_size=0.1`) or "
            "monitor a training metric (`trainer.monitor=train/loss`)."
        )


def _num_classes(dataset: ImageDataset) -> int:
    """The classes of a dataset from :func:`load_labelled`, which has them."""
    assert dataset.num_classes is not None
    return int(dataset.num_classes)


def _model_spec(dataset: ImageDataset) -> dict[str, Any]:
    return {"in_shape": list(dataset.image_shape), "num_classes": _num_classes(dataset)}


def train(cfg: DictConfig, run_dir: Path, device: str, resume: bool = False) -> dict[str, Any]:
    """Train the classifier, evaluate it on val and test, write ``results.json``."""
    payload = None
    if resume:
        payload = checkpoint.load(run_dir / "checkpoints" / "last.pt", kind="supervised")
    dataset = load_labelled(cfg.dataset)
    _check_monitor(cfg, dataset)
    seed_everything(cfg.seed)  # before building: the initial weights depend on the seed
    model = build_classifier(cfg.model, dataset.image_shape, _num_classes(dataset))
    log.info(
        "%s on %s: %s parameters; %s train / %s val / %s test images of shape %s",
        cfg.model.name,
        dataset.name,
        f"{count_parameters(model):,}",
        *(f"{n:,}" for n in dataset.sizes().values()),
        dataset.image_shape,
    )
    purge_step = payload["state"]["epoch"] + 1 if payload else None
    tracker = Tracker(run_dir / "tb", purge_step=purge_step)
    if payload is None:
        tracker.config(cfg)
    trainer = ClassifierTrainer(
        cfg, run_dir, device, model, dataset, tracker, model_spec=_model_spec(dataset)
    )
    try:
        if payload is not None:
            state = payload["state"]
            log.info("Resuming at epoch %d, batch %d", state["epoch"] + 1, state["batch"])
        state = trainer.fit(resume_from=payload)
        started = time.perf_counter()
        test = trainer.evaluate_split("test") if "test" in trainer.splits else None
        val = trainer.evaluate_split("val") if "val" in trainer.splits else None
        history = state.history
        results: dict[str, Any] = {
            "status": "completed",
            "task": "supervised",
            "mode": "train",
            "model": cfg.model.name,
            "dataset": dataset.name,
            "seed": cfg.seed,
            "test": {"accuracy": test.accuracy, "loss": test.loss} if test else None,
            "val": _val_summary(val, history),
            "epochs_run": state.epoch,
            "stop_reason": state.stop_reason,
            "steps": state.steps,
            "wall_time_s": state.wall_time_s + time.perf_counter() - started,
            "time_per_epoch_s": _mean(h["time/epoch_s"] for h in history),
            "train_time_per_epoch_s": _mean(h["time/train_s"] for h in history),
            "objective": val.accuracy if val else (test.accuracy if test else math.nan),
            "parameters": count_parameters(model),
            "dataset_sizes": dataset.sizes(),
            "device": device,
            "checkpoints": {"last": "checkpoints/last.pt", "best": "checkpoints/best.pt"},
            "history": history,
        }
        final = {"val/final_accuracy": results["objective"]}
        if test:
            final["test/accuracy"] = test.accuracy
            tracker.scalars({"test/accuracy": test.accuracy, "test/loss": test.loss}, state.epoch)
        tracker.hparams(cfg, final)
        write_json(run_dir / "results.json", results)
        log.info(
            "Done: %d epochs in %.0f s; validation accuracy %.4f; test accuracy %s",
            state.epoch,
            results["wall_time_s"],
            results["objective"],
            f"{test.accuracy:.4f}" if test else "n/a",
        )
        return results
    finally:
        tracker.close()


def _mean(values: Any) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _val_summary(final: Any, history: list[dict[str, float]]) -> dict[str, Any] | None:
    """``final`` (the returned model), ``best`` (best epoch by accuracy) and ``last_epoch``."""
    if final is None:
        return None
    epochs = [h for h in history if "val/accuracy" in h]
    best = max(epochs, key=lambda h: h["val/accuracy"], default=None)
    last = epochs[-1] if epochs else None
    return {
        "final": {"accuracy": final.accuracy, "loss": final.loss},
        "best": {
            "accuracy": best["val/accuracy"],
            "loss": best["val/loss"],
            "epoch": int(best["epoch"]),
        }
        if best
        else None,
        "last_epoch": {"accuracy": last["val/accuracy"], "loss": last["val/loss"]}
        if last
        else None,
    }


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=eval``: the checkpoint's model on the test (and validation) split of its dataset."""
    path = Path(cfg.checkpoint)
    payload = checkpoint.load(path, kind="supervised")
    saved = OmegaConf.create(payload["config"])
    add_missing_settings(saved, "trainer", TrainerConfig)  # settings added since it was saved
    add_missing_settings(saved, "", CommonConfig)  # e.g. `format`, added with mode=export
    try:
        validate(saved, COMMON_RULES + TRAINER_RULES, where=f"the checkpoint's config ({path})")
        validate_model_config(saved.model)
        validate_dataset_config(saved.dataset)
    except ConfigError as exc:
        raise CheckpointError(f"{path} holds a config this rl_lab cannot use: {exc}") from exc
    dataset = load_labelled(saved.dataset)
    spec = payload.get("model_spec") or {}
    if list(dataset.image_shape) != list(
        spec.get("in_shape", [])
    ) or dataset.num_classes != spec.get("num_classes"):
        raise CheckpointError(
            f"{path} was trained on images {spec.get('in_shape')} with {spec.get('num_classes')} "
            f"classes, but its dataset now loads as {list(dataset.image_shape)} with "
            f"{dataset.num_classes} classes; evaluate it where its data is the same."
        )
    model = build_classifier(saved.model, dataset.image_shape, _num_classes(dataset))
    try:
        model.load_state_dict(payload["networks"]["model"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} does not hold weights for model={saved.model.name} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0]}); it is damaged or not a "
            "checkpoint of a supervised run."
        ) from exc
    started = time.perf_counter()
    evaluator = ClassifierTrainer(saved, None, device, model, dataset, callbacks=[])
    test = evaluator.evaluate_split("test") if "test" in evaluator.splits else None
    val = evaluator.evaluate_split("val") if "val" in evaluator.splits else None
    results = {
        "status": "completed",
        "task": "supervised",
        "mode": "eval",
        "checkpoint": str(path.resolve()),
        "model": saved.model.name,
        "dataset": dataset.name,
        "seed": saved.seed,
        "epoch": payload["state"]["epoch"],
        "test": {"accuracy": test.accuracy, "loss": test.loss} if test else None,
        "val": {"accuracy": val.accuracy, "loss": val.loss} if val else None,
        "wall_time_s": time.perf_counter() - started,
        "objective": val.accuracy if val else (test.accuracy if test else math.nan),
        "device": device,
    }
    write_json(run_dir / "results.json", results)
    log.info(
        "Evaluated %s (epoch %d): test accuracy %s, validation accuracy %s",
        path,
        results["epoch"],
        f"{test.accuracy:.4f}" if test else "n/a",
        f"{val.accuracy:.4f}" if val else "n/a",
    )
    return results


def find_lr(cfg: DictConfig, run_dir: Path, device: str) -> dict[str, Any]:
    """``mode=lr_find``: the LR range test on the training split; writes ``lr_find.png`` and
    ``lr_find.json``. The model it trains is thrown away."""
    started = time.perf_counter()
    options = cfg.lr_find
    dataset = load_labelled(cfg.dataset)
    seed_everything(cfg.seed)
    model = build_classifier(cfg.model, dataset.image_shape, _num_classes(dataset)).to(device)
    optimizer = build_optimizer(model.parameters(), cfg.trainer.optimizer)
    loss_fn = classification_loss(cfg.trainer.loss, cfg.trainer.mse_output)
    images = dataset.train.images.to(device)
    assert dataset.train.labels is not None  # load_labelled checked it
    labels = dataset.train.labels.to(device)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    batches = endless_batches(images, labels, int(cfg.trainer.batch_size), generator)
    iterations = int(options.iterations)
    tracker = Tracker(run_dir / "tb")
    progress = EpochProgress(1, iterations, enabled=bool(cfg.progress))
    refresh = max(1, iterations // 100)

    def on_step(i: int, lr: float, loss: float) -> None:
        tracker.scalars({"lr_find/smoothed_loss": loss, "lr_find/learning_rate": lr}, i)
        if (i + 1) % refresh == 0:
            progress.update(i + 1, {"lr": lr, "loss": loss})

    try:
        with progress:
            progress.start_epoch(1)
            result = lr_range_test(
                model,
                optimizer,
                loss_fn,
                batches,
                lr_min=float(options.lr_min),
                lr_max=float(options.lr_max),
                iterations=iterations,
                smoothing=float(options.smoothing),
                divergence=float(options.divergence),
                rule=str(options.suggestion),
                on_step=on_step,
            )
    finally:
        tracker.close()
    plot = lr_find_figure(
        result.lrs,
        result.losses,
        result.suggested_lr,
        result.rule,
        run_dir / "lr_find.png",
        {"lowest loss at": result.min_loss_lr, "steepest descent at": result.steepest_lr},
    )
    write_json(run_dir / "lr_find.json", result.as_dict())
    suggested = result.suggested_lr
    results = {
        "status": "completed",
        "task": "supervised",
        "mode": "lr_find",
        "model": cfg.model.name,
        "dataset": dataset.name,
        "seed": cfg.seed,
        "optimizer": cfg.trainer.optimizer.name,
        "batch_size": int(cfg.trainer.batch_size),
        "suggested_lr": suggested,
        "rule": result.rule,
        "min_loss_lr": result.min_loss_lr,
        "steepest_lr": result.steepest_lr,
        "iterations_run": len(result.lrs),
        "stopped_early": result.stopped_early,
        "lr_range": [float(options.lr_min), float(options.lr_max)],
        "plot": plot.name,
        "data": "lr_find.json",
        "wall_time_s": time.perf_counter() - started,
        "objective": suggested if suggested is not None else math.nan,
        "device": device,
    }
    write_json(run_dir / "results.json", results)
    log.info(
        "LR range test: %d iterations%s; suggested lr %s (%s); lowest loss at lr %s. Plot: %s",
        len(result.lrs),
        " (stopped early: the loss exploded)" if result.stopped_early else "",
        f"{suggested:.3g}" if suggested is not None else "none",
        result.rule,
        f"{result.min_loss_lr:.3g}" if result.min_loss_lr is not None else "n/a",
        plot,
    )
    return results
