"""``load_dataset`` and ``validate_dataset_config``: the ``dataset`` config node → data.

Tasks call :func:`validate_dataset_config` in their ``validate_config`` (fast: keys, values,
files found, headers) and :func:`load_dataset` when the run starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from rl_lab.data import digits, mnist, npy
from rl_lab.data.dataset import ImageDataset, resize_dataset
from rl_lab.data.options import DatasetKind, Options, as_options, check_options
from rl_lab.errors import ConfigError

log = logging.getLogger("rl_lab")

#: Every ``dataset.name``, with how it is checked and loaded.
DATASETS: dict[str, DatasetKind] = {
    "digits": digits.KIND,
    "fashion_mnist": mnist.kind("fashion_mnist"),
    "mnist": mnist.kind("mnist"),
    "npy": npy.KIND,
}


def _options(cfg: Mapping[str, Any] | DictConfig) -> tuple[DatasetKind, Options]:
    name = cfg.get("name") if isinstance(cfg, (Mapping, DictConfig)) else None
    if name is None and isinstance(cfg, (Mapping, DictConfig)) and "dataset" in cfg:
        raise ConfigError(
            "load_dataset/validate_dataset_config take the `dataset` node of the config: pass "
            "cfg.dataset, not the whole config."
        )
    if name not in DATASETS:
        listing = "; ".join(f"{key} ({kind.description})" for key, kind in DATASETS.items())
        raise ConfigError(
            f"Unknown dataset {name!r}. Available datasets: {listing}. Choose one with "
            "`dataset=<name>` (`python -m rl_lab.schema dataset=<name>` lists its keys)."
        )
    kind = DATASETS[name]
    options = as_options(cfg, kind.defaults)
    check_options(options, kind)
    return kind, options


def validate_dataset_config(cfg: Mapping[str, Any] | DictConfig) -> None:
    """Check the ``dataset`` node before any long work.

    Checks the name, every key's type and range, that the split sizes leave training examples,
    and that the data can be had: the ``.npy`` files exist with a usable shape, or the IDX
    files are found (their headers agree) or ``download=true`` and ``data_dir`` is writable.
    Nothing is decompressed or downloaded.

    Raises:
        ConfigError: an unknown dataset or key, or a bad value.
        DatasetError: files missing (with where to put them), unreadable or inconsistent.
    """
    kind, options = _options(cfg)
    kind.check_data(options)


def load_dataset(cfg: Mapping[str, Any] | DictConfig) -> ImageDataset:
    """Load the dataset the ``dataset`` config node describes.

    Args:
        cfg: the ``dataset`` node (``cfg.dataset``) or an equivalent mapping; keys left out
            take the defaults of the dataset's config class (:mod:`rl_lab.data.configs`).

    Returns:
        The train/val/test splits as ``(N, C, H, W)`` float32 images in [0, 1] (resized to
        ``image_size`` when set) and ``(N,)`` int64 labels.

    Raises:
        ConfigError, DatasetError: as :func:`validate_dataset_config`, and for files that turn
            out corrupt or truncated when decoded.
    """
    start = time.perf_counter()
    kind, options = _options(cfg)
    kind.check_data(options)
    dataset = resize_dataset(kind.load(options), options["image_size"])
    log.info(
        "Dataset %s: %s, images %s, %d classes (%.2f s)",
        dataset.name,
        ", ".join(f"{k} {v}" for k, v in dataset.sizes().items()),
        "x".join(map(str, dataset.image_shape)),
        dataset.num_classes or 0,
        time.perf_counter() - start,
    )
    return dataset
