"""dataset=npy: every accepted layout, labels, splits, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rl_lab.data import load_dataset, validate_dataset_config
from rl_lab.errors import ConfigError, DatasetError

RNG = np.random.default_rng(0)


def _save(tmp_path, array, name="images.npy"):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


@pytest.mark.parametrize(
    ("array", "shape"),
    [
        (RNG.integers(0, 256, (40, 6, 5), dtype=np.uint8), (1, 6, 5)),
        (RNG.random((40, 6, 5, 3), dtype=np.float32), (3, 6, 5)),
        (RNG.random((40, 3, 6, 5)), (3, 6, 5)),
        (RNG.integers(0, 256, (40, 784), dtype=np.uint8), (1, 28, 28)),  # Quick, Draw!
        (RNG.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8), (1, 28, 28)),
    ],
    ids=["nhw-uint8", "nhwc-float32", "nchw-float64", "flat-784", "nhwc-1"],
)
def test_layouts(tmp_path, array, shape):
    data = load_dataset({"name": "npy", "path": _save(tmp_path, array)})
    assert data.image_shape == shape
    assert data.sizes() == {"train": 32, "val": 4, "test": 4}
    assert data.train.labels is None and data.num_classes is None and data.class_names is None
    assert data.train.images.dtype == torch.float32
    everything = torch.cat([data.train.images, data.val.images, data.test.images])
    assert everything.min() >= 0 and everything.max() <= 1
    # The split is a permutation of the source images (no overlap, nothing lost).
    source = array.astype(np.float64) / (255 if array.dtype == np.uint8 else 1)
    if array.ndim == 4 and array.shape[-1] in (1, 3):
        source = source.transpose(0, 3, 1, 2)
    source = torch.from_numpy(source.reshape(40, -1)).float()
    got = everything.reshape(40, -1)
    assert torch.allclose(torch.sort(got.sum(1)).values, torch.sort(source.sum(1)).values)


def test_nhwc_pixels_land_in_the_right_channel(tmp_path):
    array = np.zeros((10, 3, 4, 3), np.uint8)  # ambiguous: 3 at both ends
    array[..., 2] = 255  # the third channel (last axis) is full
    cfg = {"name": "npy", "path": _save(tmp_path, array), "val_size": 0, "test_size": 0}
    data = load_dataset({**cfg, "layout": "nhwc"})
    assert data.image_shape == (3, 3, 4)
    assert torch.all(data.train.images[:, 2] == 1) and torch.all(data.train.images[:, :2] == 0)
    assert load_dataset({**cfg, "layout": "nchw"}).image_shape == (3, 4, 3)


def test_labels_splits_and_class_names(tmp_path):
    images = _save(tmp_path, RNG.integers(0, 256, (100, 8, 8), dtype=np.uint8))
    labels = _save(tmp_path, np.arange(100) % 4, "labels.npy")
    cfg = {"name": "npy", "path": images, "labels_path": labels, "val_size": 20, "test_size": 0.2}
    a = load_dataset({**cfg, "split_seed": 5})
    assert a.num_classes == 4 and a.class_names == ("0", "1", "2", "3")
    assert a.sizes() == {"train": 60, "val": 20, "test": 20}
    assert torch.bincount(a.test.labels).tolist() == [5, 5, 5, 5]  # stratified
    b = load_dataset({**cfg, "split_seed": 5})
    c = load_dataset({**cfg, "split_seed": 6})
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.test.images, c.test.images)
    named = load_dataset({**cfg, "class_names": ["cat", "dog", "owl", "eel", "ant"]})
    assert named.num_classes == 5 and named.class_names[0] == "cat"
    small = load_dataset({**cfg, "max_samples": 50, "image_size": 16})
    assert sum(small.sizes().values()) == 50 and small.image_shape == (1, 16, 16)


@pytest.mark.parametrize(
    ("images", "labels", "extra", "match"),
    [
        (np.zeros((10, 5)), None, {}, "not a square number"),
        (np.zeros((10, 2, 2, 2, 2)), None, {}, "expected images as"),
        (np.zeros((10, 3, 5, 3)), None, {}, "dataset.layout=nhwc"),
        (np.full((10, 4, 4), np.nan), None, {}, "NaN"),
        (np.full((10, 4, 4), 2.0), None, {}, "must lie in"),
        (np.full((10, 4, 4), 300, np.int32), None, {}, "0..255"),
        (np.zeros((10, 4, 4)), np.zeros(9, np.int64), {}, "9 labels"),
        (np.zeros((10, 4, 4)), np.full(10, 0.5), {}, "non-integer"),
        (np.zeros((10, 4, 4)), np.full(10, -1), {}, "negative"),
        (np.zeros((10, 4, 4)), np.full(10, 3), {"class_names": ["a", "b"]}, "names only 2"),
    ],
)
def test_bad_arrays_are_clear_errors(tmp_path, images, labels, extra, match):
    cfg = {"name": "npy", "path": _save(tmp_path, images), "val_size": 0, "test_size": 0, **extra}
    if labels is not None:
        cfg["labels_path"] = _save(tmp_path, labels, "labels.npy")
    with pytest.raises(DatasetError, match=match):
        load_dataset(cfg)


def test_validate_is_fast_and_checks_files(tmp_path):
    with pytest.raises(DatasetError, match="needs `dataset.path`"):
        validate_dataset_config({"name": "npy"})
    with pytest.raises(DatasetError, match="does not exist") as err:
        validate_dataset_config({"name": "npy", "path": str(tmp_path / "nope.npy")})
    assert str((tmp_path / "nope.npy").resolve()) in str(err.value)
    path = _save(tmp_path, np.zeros((10, 4, 4), np.uint8))
    validate_dataset_config({"name": "npy", "path": path})
    with pytest.raises(DatasetError, match="12 labels"):
        validate_dataset_config(
            {"name": "npy", "path": path, "labels_path": _save(tmp_path, np.zeros(12), "l.npy")}
        )
    with pytest.raises(ConfigError, match="leaving no training"):
        validate_dataset_config({"name": "npy", "path": path, "val_size": 5, "test_size": 5})
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="not a readable .npy"):
        validate_dataset_config({"name": "npy", "path": str(pickled)})
