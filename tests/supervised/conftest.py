"""Fixtures of the supervised tests: the digits dataset, fast configs, a run helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig

from rl_lab import app, checkpoint
from rl_lab.data import ImageDataset, Split, load_dataset

#: A supervised run on digits that takes well under a second per epoch and writes little.
FAST = [
    "task=supervised",
    "dataset=digits",
    "progress=false",
    "trainer.epochs=2",
    "trainer.batch_size=64",
    "trainer.tensorboard.graph=false",
    "trainer.tensorboard.figures_every=0",
    "trainer.tensorboard.histograms_every=0",
    "device=cpu",
]


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    """scikit-learn's 8x8 digits, split as dataset=digits does (1258/180/359)."""
    return load_dataset({"name": "digits"})


@pytest.fixture(scope="session")
def small_digits(digits: ImageDataset) -> ImageDataset:
    """A 400/100/100 subset of the digits, for tests that train many times."""

    def part(split: Split, n: int) -> Split:
        return Split(split.images[:n], split.labels[:n])

    return ImageDataset(
        "digits",
        part(digits.train, 400),
        part(digits.val, 100),
        part(digits.test, 100),
        digits.num_classes,
        digits.class_names,
    )


@pytest.fixture
def supervised_cfg(compose_cfg):
    """``supervised_cfg(*overrides)``: the composed supervised config with :data:`FAST` first."""

    def _compose(*overrides: str) -> DictConfig:
        return compose_cfg(*FAST, *overrides)

    return _compose


@pytest.fixture
def train_run(supervised_cfg):
    """``train_run(run_dir, *overrides) -> results``: ``app.run`` of a fast supervised run."""

    def _run(run_dir: Path, *overrides: str) -> dict[str, Any]:
        cfg = supervised_cfg(*overrides)
        return app.run(cfg, run_dir, list(overrides))

    return _run


def last_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The model weights in ``run_dir/checkpoints/last.pt``."""
    return checkpoint.load(run_dir / "checkpoints" / "last.pt")["networks"]["model"]


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Whether two state dicts hold bit-identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def metrics_only(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Epoch records without their timings (which differ between identical runs)."""
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in history]


@pytest.fixture(autouse=True)
def _every_supervised_test_on_one_thread(one_torch_thread):
    """Every supervised test runs with ``one_torch_thread`` (tests/conftest.py), as runs do."""
