"""dataset=digits: scikit-learn's 8x8 digits, scaled, split and optionally resized."""

from __future__ import annotations

import pytest
import torch

from rl_lab.data import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset({"name": "digits"})


def test_shapes_range_and_sizes(digits):
    assert digits.image_shape == (1, 8, 8)
    assert digits.sizes() == {"train": 1258, "val": 180, "test": 359}
    assert digits.num_classes == 10 and digits.class_names == tuple("0123456789")
    everything = torch.cat([digits.train.images, digits.val.images, digits.test.images])
    assert everything.dtype == torch.float32
    assert everything.min() == 0 and everything.max() == 1  # 0..16 scaled by 16
    assert digits.train.labels.dtype == torch.int64


def test_split_is_a_partition_of_all_digits(digits):
    from sklearn.datasets import load_digits

    source = torch.from_numpy(load_digits().images / 16).float().reshape(1797, 64)
    parts = torch.cat([digits.train.images, digits.val.images, digits.test.images]).reshape(-1, 64)

    def _multiset(rows):  # rows sorted lexicographically, so duplicates are compared as counts
        return torch.unique(rows, dim=0, return_counts=True)

    for a, b in zip(_multiset(parts), _multiset(source), strict=True):
        assert torch.equal(a, b)
    # Stratified: the test split has each digit's share of the whole (about 36 of each).
    counts = torch.bincount(digits.test.labels)
    assert counts.min() >= 35 and counts.max() <= 37


def test_split_seed_and_counts():
    a = load_dataset({"name": "digits", "split_seed": 1, "val_size": 100, "test_size": 300})
    b = load_dataset({"name": "digits", "split_seed": 1, "val_size": 100, "test_size": 300})
    c = load_dataset({"name": "digits", "split_seed": 2, "val_size": 100, "test_size": 300})
    assert a.sizes() == {"train": 1397, "val": 100, "test": 300}
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.test.images, c.test.images)


def test_resize_to_28(digits):
    big = load_dataset({"name": "digits", "image_size": 28})
    assert big.image_shape == (1, 28, 28)
    assert len(big.train) == len(digits.train)
    assert torch.equal(big.train.labels, digits.train.labels)
    assert big.train.images.min() >= 0 and big.train.images.max() <= 1
    # Bilinear upsampling keeps each image's overall brightness (mean) close to the original.
    diff = big.train.images.mean(dim=(1, 2, 3)) - digits.train.images.mean(dim=(1, 2, 3))
    assert diff.abs().max() < 0.05
