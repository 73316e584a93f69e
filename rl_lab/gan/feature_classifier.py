"""The classifier whose features measure sample quality, trained once per dataset and cached.

Inception-v3 weights cannot be downloaded here, so rl_lab's Fréchet distance uses the
penultimate layer of a classifier trained by the supervised trainer
(:class:`~rl_lab.supervised.classifier.ClassifierTrainer`) on the same dataset at the same image
size. Its numbers compare rl_lab runs on one dataset and image size; they are not FID values.

The classifier is ``metrics.classifier.model`` (a compact CNN by default, or any classifier of
conf/model/ by name) trained with ``trainer=default``
(:class:`~rl_lab.supervised.configs.TrainerConfig`) plus ``metrics.classifier.trainer``
overrides (and at least ``metrics.classifier.min_steps`` mini-batches), on the training split
only (the test split stays held out for the real-data reference). It is cached
in ``metrics.classifier.cache_dir`` as two files per (dataset, image size, settings):

- ``<dataset>_<size>px_<hash>.pt``: the weights (an rl_lab checkpoint of kind
  ``metric_classifier``, written atomically);
- ``<dataset>_<size>px_<hash>.json``: its test accuracy, the settings and the creation time.

``hash`` covers the dataset config (minus where files are found) and the classifier settings,
so changing either trains a new one. A missing, corrupt or mismatching cache entry is retrained
(with a warning), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from rl_lab import checkpoint
from rl_lab.config import schema
from rl_lab.config_dict import config_dict, group_option, group_options
from rl_lab.errors import CheckpointError, ConfigError, InterruptedRunError
from rl_lab.hydra_env_source import TYPED_OPTIONS
from rl_lab.run_dir import write_json
from rl_lab.supervised.classifier import ClassifierTrainer
from rl_lab.supervised.configs import MODEL_CONFIGS, TrainerConfig
from rl_lab.supervised.models import build_classifier
from rl_lab.training import seed_everything

log = logging.getLogger(__name__)

KIND = "metric_classifier"
#: Dataset keys that say where files are, not what the data is (left out of the cache key).
_LOCATION_KEYS = ("data_dir", "download", "mirrors", "cache")


class FeatureClassifier:
    """A trained classifier used as a feature extractor.

    Args:
        model: a classifier of :mod:`rl_lab.supervised.models`; its final layer
            (``model.output``, else the last ``nn.Linear``) reads the features.
        test_accuracy: its accuracy on the dataset's test split (from the cache's JSON).
    """

    def __init__(self, model: nn.Module, test_accuracy: float) -> None:
        self.model = model.eval()
        self.test_accuracy = test_accuracy
        final = getattr(model, "output", None)
        if not isinstance(final, nn.Linear):
            final = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        self.feature_dim = final.in_features
        self._captured: list[Tensor] = []
        final.register_forward_pre_hook(lambda _module, inputs: self._captured.append(inputs[0]))

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        """Penultimate features ``(N, feature_dim)`` float32 and predicted labels ``(N,)``
        int64 (both on the CPU) for images ``(N, C, H, W)`` in ``[0, 1]``."""
        device = next(self.model.parameters()).device
        features, predictions = [], []
        for start in range(0, images.shape[0], batch_size):
            self._captured.clear()
            logits = self.model(images[start : start + batch_size].to(device))
            features.append(self._captured[-1].float().cpu())
            predictions.append(logits.argmax(dim=1).cpu())
        self._captured.clear()
        return torch.cat(features), torch.cat(predictions)


#: The typed options of the ``model`` group (classifiers and GANs).
MODEL_OPTIONS: dict[str, type] = TYPED_OPTIONS["model"]


def _is_classifier(option: DictConfig | None) -> bool:
    """Whether an option of the ``model`` group is a classifier (not a GAN)."""
    return option is not None and option.get("type") in MODEL_CONFIGS


def classifier_settings(cfg: DictConfig) -> tuple[DictConfig, DictConfig]:
    """The classifier's model node and run config (``seed``, ``progress``, ``trainer``) for
    this run's ``metrics.classifier``.

    The model is ``metrics.classifier.model`` (a classifier mapping, or the name of an option
    of the ``model`` group); the trainer is ``trainer=default`` with
    ``metrics.classifier.trainer`` merged on top.
    """
    settings = cfg.metrics.classifier
    if isinstance(settings.model, DictConfig):
        model = settings.model
    else:
        option = group_option("model", str(settings.model), MODEL_OPTIONS)
        if not _is_classifier(option):
            available = ", ".join(
                name
                for name in group_options("model", MODEL_OPTIONS)
                if _is_classifier(group_option("model", name, MODEL_OPTIONS))
            )
            raise ConfigError(
                f"metrics.classifier.model={settings.model} is not a classifier of the model "
                f"group (available: {available}). Choose one, e.g. "
                "`metrics.classifier.model=lenet`, or give a model mapping as in "
                "`python -m rl_lab.schema model=cnn`."
            )
        model = cast(DictConfig, option)
    trainer = OmegaConf.merge(schema(TrainerConfig), settings.get("trainer") or {})
    # the classifier's own run config: the trainer's `${trainer.monitor}` resolves inside it
    run_cfg = OmegaConf.create(
        {
            "seed": int(settings.seed),
            "progress": False,
            "task": {"name": KIND},
            "trainer": OmegaConf.to_container(trainer),
        }
    )
    OmegaConf.resolve(run_cfg)
    return model, run_cfg


def cache_key(dataset_cfg: DictConfig, model: DictConfig, trainer: DictConfig, size: int) -> str:
    """``<dataset>_<size>px_<hash>``: the classifier of this dataset, image size and settings."""
    data = config_dict(dataset_cfg, resolve=True)
    for key in _LOCATION_KEYS:
        data.pop(key, None)
    spec = {
        "dataset": data,
        "model": OmegaConf.to_container(model, resolve=True),
        "trainer": OmegaConf.to_container(trainer, resolve=True),
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{dataset_cfg.name}_{size}px_{digest}"


def load_or_train(cfg: DictConfig, dataset: Any, device: str) -> FeatureClassifier:
    """The cached classifier for ``cfg.dataset`` (trained and cached first if needed).

    Args:
        cfg: the GAN run's config (``dataset``, ``metrics.classifier``, ``seed``).
        dataset: the loaded :class:`~rl_lab.data.ImageDataset` (with labels).
        device: where the classifier runs.
    """
    model_cfg, run_cfg = classifier_settings(cfg)
    # small datasets (1258 digits: 10 batches an epoch) get more epochs: at least min_steps
    batches = math.ceil(len(dataset.train) / int(run_cfg.trainer.batch_size))
    min_epochs = math.ceil(int(cfg.metrics.classifier.min_steps) / batches)
    run_cfg.trainer.epochs = max(int(run_cfg.trainer.epochs), min_epochs)
    image_shape = dataset.image_shape
    key = cache_key(cfg.dataset, model_cfg, run_cfg.trainer, image_shape[1])
    cache_dir = Path(cfg.metrics.classifier.cache_dir)
    weights_path, info_path = cache_dir / f"{key}.pt", cache_dir / f"{key}.json"
    if weights_path.exists() or info_path.exists():
        try:
            return _load(weights_path, info_path, model_cfg, image_shape, dataset, device)
        except (CheckpointError, OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning(
                "The cached metric classifier %s is unusable (%s); training a new one.",
                weights_path,
                str(exc).splitlines()[0],
            )
    return _train(cfg, model_cfg, run_cfg, dataset, device, weights_path, info_path)


def _load(
    weights_path: Path,
    info_path: Path,
    model_cfg: DictConfig,
    image_shape: tuple[int, int, int],
    dataset: Any,
    device: str,
) -> FeatureClassifier:
    info = json.loads(info_path.read_text())  # ValueError when corrupt, OSError when missing
    payload = checkpoint.load(weights_path, kind=KIND)
    if tuple(payload["image_shape"]) != tuple(image_shape) or (
        payload["num_classes"] != dataset.num_classes
    ):
        raise ValueError(
            f"it was trained for {payload['image_shape']} images of {payload['num_classes']} "
            f"classes, the dataset has {image_shape} and {dataset.num_classes}"
        )
    model = build_classifier(model_cfg, image_shape, dataset.num_classes)
    model.load_state_dict(payload["model"])
    log.info(
        "Metric classifier: %s (test accuracy %.2f%%)", weights_path, 100 * info["test_accuracy"]
    )
    return FeatureClassifier(model.to(device), float(info["test_accuracy"]))


def _train(
    cfg: DictConfig,
    model_cfg: DictConfig,
    run_cfg: DictConfig,
    dataset: Any,
    device: str,
    weights_path: Path,
    info_path: Path,
) -> FeatureClassifier:
    log.info(
        "Training the metric classifier (%s, %d epochs) for %s at %dx%d; it is cached in %s.",
        model_cfg.name,
        run_cfg.trainer.epochs,
        cfg.dataset.name,
        dataset.image_shape[1],
        dataset.image_shape[2],
        weights_path.parent,
    )
    started = time.perf_counter()
    seed_everything(int(run_cfg.seed))
    model = build_classifier(model_cfg, dataset.image_shape, dataset.num_classes)
    trainer = ClassifierTrainer(run_cfg, None, device, model, dataset)
    try:
        trainer.fit()
    except InterruptedRunError as exc:
        raise InterruptedRunError(
            "Stopped while training the metric classifier, before the GAN started; nothing "
            "was cached or checkpointed. Run the same command again to start over."
        ) from exc
    split = next(name for name in ("test", "val", "train") if name in trainer.splits)
    accuracy = trainer.evaluate_split(split).accuracy
    model.eval()
    try:  # weights first: an entry counts only once its JSON exists too
        checkpoint.save(
            {
                "kind": KIND,
                "model": model.state_dict(),
                "image_shape": list(dataset.image_shape),
                "num_classes": dataset.num_classes,
            },
            weights_path,
        )
        write_json(
            info_path,
            {
                "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
                "image_shape": list(dataset.image_shape),
                "num_classes": dataset.num_classes,
                "model": OmegaConf.to_container(model_cfg, resolve=True),
                "trainer": OmegaConf.to_container(run_cfg.trainer),
                "test_accuracy": accuracy,
                "accuracy_split": split,
                "train_time_s": time.perf_counter() - started,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    except OSError as exc:
        log.warning(
            "The metric classifier could not be cached in %s (%s); it will be trained again "
            "next time. Set metrics.classifier.cache_dir to a writable folder.",
            weights_path.parent,
            exc,
        )
    log.info(
        "Metric classifier trained in %.0f s: %s accuracy %.2f%%",
        time.perf_counter() - started,
        split,
        100 * accuracy,
    )
    return FeatureClassifier(model, accuracy)
