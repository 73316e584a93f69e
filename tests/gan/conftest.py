"""Tiny GAN settings on the 8x8 digits, shared by the GAN tests."""

from __future__ import annotations

import pytest
from omegaconf import DictConfig

from rl_lab.data import load_dataset

#: Overrides that make a GAN on the 8x8 digits train an epoch in well under a second.
TINY_GAN = [
    "task=gan",
    "dataset=digits",
    "model.latent_dim=8",
    "model.generator.width=8",
    "model.generator.embed_dim=4",
    "model.discriminator.width=8",
    "trainer.batch_size=128",
    "trainer.epochs=2",
    "metrics.enabled=false",
    "metrics.samples=200",
    "n=12",
    "progress=false",
    "device=cpu",
]

#: A small, quickly trained metric classifier (with TINY_GAN and ``metrics.enabled=true``).
TINY_CLASSIFIER = [
    "metrics.classifier.model.channels=[8,16]",
    "metrics.classifier.model.hidden_sizes=[32]",
    "metrics.classifier.min_steps=150",
]


@pytest.fixture(scope="session")
def digits():
    """The 8x8 digits dataset (train/val/test), loaded once."""
    from omegaconf import OmegaConf

    return load_dataset(OmegaConf.create({"name": "digits"}))


@pytest.fixture
def gan_cfg(compose_cfg):
    """``gan_cfg(*overrides) -> DictConfig``: the tiny GAN config plus ``overrides``."""

    def _compose(*overrides: str) -> DictConfig:
        return compose_cfg(*TINY_GAN, *overrides)

    return _compose


@pytest.fixture(autouse=True)
def _every_gan_test_on_one_thread(one_torch_thread):
    """Every GAN test runs with ``one_torch_thread`` (tests/conftest.py): the nets are tiny."""


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory):
    """A metric-classifier cache folder shared by the tests of a session."""
    return tmp_path_factory.mktemp("metric_classifiers")
