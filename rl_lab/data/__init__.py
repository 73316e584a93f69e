"""Image datasets for the supervised and GAN tasks, behind one call: ``load_dataset(cfg.dataset)``.

=================  ==============================================================================
``digits``         scikit-learn's bundled 8x8 digits (offline; :mod:`rl_lab.data.digits`)
``fashion_mnist``  Fashion-MNIST IDX files: data_dir, Debian's package, or download
``mnist``          MNIST IDX files: data_dir or download (:mod:`rl_lab.data.mnist`)
``npy``            any ``.npy`` image array with optional ``.npy`` labels (:mod:`rl_lab.data.npy`)
=================  ==============================================================================

Modules: :mod:`~rl_lab.data.dataset` (the :class:`Split`/:class:`ImageDataset` containers,
float conversion, resizing), :mod:`~rl_lab.data.splits` (seeded, stratified splits),
:mod:`~rl_lab.data.idx` (IDX reader/writer), :mod:`~rl_lab.data.download` (atomic, checksummed
downloads), :mod:`~rl_lab.data.cache` (decoded-array cache), :mod:`~rl_lab.data.options`
(config checks shared by every dataset), :mod:`~rl_lab.data.registry` (name → loader).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rl_lab.data.dataset import ImageDataset, Split
    from rl_lab.data.registry import DATASETS, load_dataset, validate_dataset_config

__all__ = ["DATASETS", "ImageDataset", "Split", "load_dataset", "validate_dataset_config"]

#: Where each public name lives. Imported on first use, so that the torch-free config classes
#: (:mod:`rl_lab.data.configs`, read by Hydra at start-up) do not pull in torch.
_MODULES = {
    "ImageDataset": "rl_lab.data.dataset",
    "Split": "rl_lab.data.dataset",
    "DATASETS": "rl_lab.data.registry",
    "load_dataset": "rl_lab.data.registry",
    "validate_dataset_config": "rl_lab.data.registry",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'rl_lab.data' has no attribute {name!r}")
