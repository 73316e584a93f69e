"""The Split/ImageDataset containers, float conversion and resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rl_lab.data.dataset import ImageDataset, Split, resize, resize_dataset, to_unit_float


def test_split_checks_shapes():
    Split(torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="N, C, H, W"):
        Split(torch.zeros(3, 8, 8), None)
    with pytest.raises(ValueError, match="labels"):
        Split(torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.int64))


def test_to_unit_float_scales_integers_only():
    u8 = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(to_unit_float(u8).numpy(), [[0.0, 0.2, 1.0]])
    read_only = u8.copy()
    read_only.flags.writeable = False
    assert to_unit_float(read_only).dtype == torch.float32
    np.testing.assert_allclose(to_unit_float(np.array([0, 255], np.int64)).numpy(), [0.0, 1.0])
    f = np.array([0.25, 0.5], dtype=np.float64)
    out = to_unit_float(f)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.tensor([0.25, 0.5]))


def test_resize_up_and_down_stays_in_range():
    images = torch.rand(4, 1, 8, 8)
    up = resize(images, 28)
    assert up.shape == (4, 1, 28, 28) and up.min() >= 0 and up.max() <= 1
    down = resize(torch.rand(2, 3, 28, 28), 14)
    assert down.shape == (2, 3, 14, 14)
    assert resize(images, 8) is images
    assert resize(torch.zeros(0, 1, 8, 8), 28).shape == (0, 1, 28, 28)
    # A constant image stays constant: bilinear interpolation is a convex combination.
    assert torch.allclose(resize(torch.full((1, 1, 8, 8), 0.3), 28), torch.tensor(0.3))


def test_resize_dataset_and_image_shape():
    split = Split(torch.rand(5, 1, 8, 8), torch.arange(5))
    data = ImageDataset("x", split, split, split, num_classes=5, class_names=None)
    assert data.image_shape == (1, 8, 8)
    assert data.sizes() == {"train": 5, "val": 5, "test": 5}
    big = resize_dataset(data, 28)
    assert big.image_shape == (1, 28, 28) and big.val.labels is split.labels
    assert resize_dataset(data, None) is data
