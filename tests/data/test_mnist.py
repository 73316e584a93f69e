"""MNIST-format datasets: finding files, validation, splits, cache, downloads, error text."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np
import pytest
import torch

from rl_lab.data import DATASETS, load_dataset, validate_dataset_config
from rl_lab.data import mnist as idx_datasets
from rl_lab.data.idx import write_idx
from rl_lab.data.mnist import FILE_NAMES, ROLES
from rl_lab.errors import ConfigError, DatasetError

from .conftest import write_idx_dataset


def _cfg(tmp_path, name="mnist", **overrides):
    return {"name": name, "data_dir": str(tmp_path / "data"), "val_size": 10, **overrides}


@pytest.fixture
def no_system_dirs(monkeypatch, tmp_path):
    """Hide /usr/share/datasets/fashion-mnist so tests see only their own files."""
    replaced = dataclasses.replace(
        idx_datasets.FASHION_MNIST, system_dirs=(tmp_path / "system" / "fashion-mnist",)
    )
    monkeypatch.setitem(idx_datasets.SOURCES, "fashion_mnist", replaced)
    return replaced.system_dirs[0]


@pytest.mark.parametrize("gz", [True, False])
def test_loads_local_files_first_val_selection(tmp_path, gz):
    arrays = write_idx_dataset(tmp_path / "data" / "mnist", gz=gz)
    data = load_dataset(_cfg(tmp_path, cache=False))
    assert data.sizes() == {"train": 50, "val": 10, "test": 20}
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10
    assert data.class_names == tuple("0123456789")
    assert data.train.images.dtype == torch.float32 and data.train.labels.dtype == torch.int64
    # val_selection=first: val is the first 10 training images, train the other 50, in order.
    np.testing.assert_array_equal(
        (data.val.images[:, 0] * 255).round().numpy(), arrays["train_images"][:10]
    )
    np.testing.assert_array_equal(data.train.labels.numpy(), arrays["train_labels"][10:])
    np.testing.assert_array_equal(data.test.labels.numpy(), arrays["test_labels"])
    assert data.train.images.min() >= 0 and data.train.images.max() <= 1


def test_random_val_selection_is_seeded_and_stratified(tmp_path):
    write_idx_dataset(tmp_path / "data" / "mnist")
    cfg = _cfg(tmp_path, val_selection="random", cache=False)
    a = load_dataset({**cfg, "split_seed": 1})
    b = load_dataset({**cfg, "split_seed": 1})
    c = load_dataset({**cfg, "split_seed": 2})
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.val.images, c.val.images)
    assert sorted(a.val.labels.tolist()) == list(range(10))  # 10 of 10 classes: one each
    # No overlap: every training image appears exactly once across train and val.
    joined = torch.cat([a.train.images, a.val.images]).flatten(1)
    assert torch.unique(joined, dim=0).shape[0] == 60


def test_fraction_val_size_and_resize(tmp_path):
    write_idx_dataset(tmp_path / "data" / "mnist")
    data = load_dataset(_cfg(tmp_path, val_size=0.25, image_size=32, cache=False))
    assert data.sizes() == {"train": 45, "val": 15, "test": 20}
    assert data.image_shape == (1, 32, 32)


def test_cache_second_load_reads_cache(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "data" / "mnist")
    first = load_dataset(_cfg(tmp_path))
    entries = list((tmp_path / "data" / "cache").glob("mnist-*.npz"))
    assert len(entries) == 1

    def _no_decoding(*args, **kwargs):
        raise AssertionError("the IDX files were decoded again instead of read from the cache")

    monkeypatch.setattr(idx_datasets, "read_idx", _no_decoding)
    second = load_dataset(_cfg(tmp_path))
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(first, part).images, getattr(second, part).images)
        assert torch.equal(getattr(first, part).labels, getattr(second, part).labels)


def test_cache_is_rebuilt_when_a_source_file_changes(tmp_path):
    folder = tmp_path / "data" / "mnist"
    write_idx_dataset(folder)
    load_dataset(_cfg(tmp_path))
    old_entry = next((tmp_path / "data" / "cache").glob("mnist-*.npz"))
    new_labels = np.full(20, 3, np.uint8)
    write_idx(folder / FILE_NAMES["test_labels"], new_labels)
    stat = (folder / FILE_NAMES["test_labels"]).stat()
    os.utime(folder / FILE_NAMES["test_labels"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    data = load_dataset(_cfg(tmp_path))
    assert data.test.labels.tolist() == [3] * 20
    entries = list((tmp_path / "data" / "cache").glob("mnist-*.npz"))
    assert len(entries) == 1 and entries[0] != old_entry  # the stale entry was removed


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    write_idx_dataset(tmp_path / "data" / "mnist")
    first = load_dataset(_cfg(tmp_path))
    entry = next((tmp_path / "data" / "cache").glob("mnist-*.npz"))
    entry.write_bytes(b"not a zip file")
    second = load_dataset(_cfg(tmp_path))
    assert torch.equal(first.train.images, second.train.images)


def test_system_dir_found_and_cache_written_under_data_dir(tmp_path, no_system_dirs):
    write_idx_dataset(no_system_dirs)
    data = load_dataset(_cfg(tmp_path, name="fashion_mnist", download=False))
    assert data.class_names[0] == "T-shirt/top" and data.class_names[-1] == "Ankle boot"
    assert list((tmp_path / "data" / "cache").glob("fashion_mnist-*.npz"))
    assert not list(no_system_dirs.glob("*.npz"))


def test_data_dir_wins_over_system_dir(tmp_path, no_system_dirs):
    write_idx_dataset(no_system_dirs, n_test=20)
    write_idx_dataset(tmp_path / "data" / "fashion_mnist", n_test=30)
    data = load_dataset(_cfg(tmp_path, name="fashion_mnist", cache=False))
    assert len(data.test) == 30


def test_missing_offline_error_says_what_to_do(tmp_path, no_system_dirs):
    cfg = _cfg(tmp_path, name="fashion_mnist", download=False)
    with pytest.raises(DatasetError) as err:
        validate_dataset_config(cfg)
    text = str(err.value)
    target = str((tmp_path / "data" / "fashion_mnist").resolve())
    for needed in [
        *FILE_NAMES.values(),
        target,
        str(no_system_dirs),
        "apt-get install dataset-fashion-mnist",
        "dataset.data_dir=DIR",
        "RL_LAB_DATA_DIR",
        "dataset.download=true",
    ]:
        assert needed in text, needed
    assert "\n" not in text  # one paragraph
    with pytest.raises(DatasetError, match="was not found"):
        load_dataset(cfg)


def test_download_failure_offline(tmp_path, monkeypatch, closed_port_url):
    replaced = dataclasses.replace(idx_datasets.MNIST, mirrors=(closed_port_url,))
    monkeypatch.setitem(idx_datasets.SOURCES, "mnist", replaced)
    cfg = _cfg(tmp_path)
    validate_dataset_config(cfg)  # download enabled and data_dir writable: fine up front
    with pytest.raises(DatasetError) as err:
        load_dataset(cfg)
    text = str(err.value)
    assert "could not be downloaded" in text and closed_port_url in text
    assert "train-images-idx3-ubyte.gz" in text and "apt-get" not in text  # no MNIST package
    assert not any((tmp_path / "data" / "mnist").iterdir())  # nothing half-written


def _mirror(tmp_path, serve_dir):
    """A loopback mirror of a tiny dataset and a source whose checksums match its files."""
    served = tmp_path / "mirror"
    arrays = write_idx_dataset(served)
    checksums = {
        name: "md5:" + hashlib.md5((served / name).read_bytes()).hexdigest()
        for name in FILE_NAMES.values()
    }
    return arrays, dataclasses.replace(
        idx_datasets.MNIST, mirrors=(serve_dir(served),), checksums=checksums
    )


def test_download_from_loopback_mirror(tmp_path, monkeypatch, serve_dir):
    arrays, source = _mirror(tmp_path, serve_dir)
    monkeypatch.setitem(idx_datasets.SOURCES, "mnist", source)
    data = load_dataset(_cfg(tmp_path))
    folder = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILE_NAMES.values())
    np.testing.assert_array_equal(data.test.labels.numpy(), arrays["test_labels"])
    # The files are now local: no mirror needed any more.
    monkeypatch.setitem(
        idx_datasets.SOURCES, "mnist", dataclasses.replace(source, mirrors=("http://0.0.0.0:1/",))
    )
    validate_dataset_config({**_cfg(tmp_path), "download": False})


def test_download_second_mirror_and_config_mirrors(tmp_path, monkeypatch, serve_dir):
    arrays, source = _mirror(tmp_path, serve_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    source = dataclasses.replace(source, mirrors=("http://0.0.0.0:1/",))
    monkeypatch.setitem(idx_datasets.SOURCES, "mnist", source)
    # dataset.mirrors replaces the built-in list; the first one answers 404 for every file.
    mirrors = [serve_dir(empty), serve_dir(tmp_path / "mirror")]
    data = load_dataset(_cfg(tmp_path, mirrors=mirrors))
    assert len(data.train) == 50


def test_download_checksum_mismatch_deletes_file(tmp_path, monkeypatch, serve_dir):
    _, source = _mirror(tmp_path, serve_dir)
    bad = dict(source.checksums, **{FILE_NAMES["train_labels"]: "md5:" + "0" * 32})
    monkeypatch.setitem(idx_datasets.SOURCES, "mnist", dataclasses.replace(source, checksums=bad))
    with pytest.raises(DatasetError, match="checksum mismatch") as err:
        load_dataset(_cfg(tmp_path))
    assert "train-labels-idx1-ubyte.gz" in str(err.value)
    folder = tmp_path / "data" / "mnist"
    assert not (folder / "train-labels-idx1-ubyte.gz").exists()
    assert not list(folder.glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("break_it", "match"),
    [
        ("truncate", "truncated"),
        ("swap", "magic number"),
        ("count", "same count"),
        ("label", "has label 12"),
    ],
)
def test_broken_local_files_are_clear_errors(tmp_path, break_it, match):
    folder = tmp_path / "data" / "mnist"
    write_idx_dataset(folder)
    train_labels = folder / FILE_NAMES["train_labels"]
    if break_it == "truncate":
        path = folder / FILE_NAMES["train_images"]
        write_idx(path.with_suffix(""), np.zeros((60, 28, 28), np.uint8))
        path.unlink()
        raw = path.with_suffix("")
        raw.write_bytes(raw.read_bytes()[:-100])  # uncompressed, 100 bytes short
    elif break_it == "swap":
        write_idx(train_labels, np.zeros((60, 28, 28), np.uint8))
    elif break_it == "count":
        write_idx(train_labels, np.zeros(59, np.uint8))
    else:
        write_idx(train_labels, np.full(60, 12, np.uint8))
    with pytest.raises(DatasetError, match=match):
        load_dataset(_cfg(tmp_path, cache=False))


def test_validate_checks_headers_and_sizes(tmp_path):
    folder = tmp_path / "data" / "mnist"
    write_idx_dataset(folder)
    validate_dataset_config(_cfg(tmp_path))
    with pytest.raises(ConfigError, match="leaving no training examples"):
        validate_dataset_config(_cfg(tmp_path, val_size=60))
    write_idx(folder / FILE_NAMES["test_labels"], np.zeros(7, np.uint8))
    with pytest.raises(DatasetError, match="declares 20 images"):
        validate_dataset_config(_cfg(tmp_path))


def test_data_dir_defaults_to_environment(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "env_data" / "mnist")
    monkeypatch.setenv("RL_LAB_DATA_DIR", str(tmp_path / "env_data"))
    data = load_dataset({"name": "mnist", "val_size": 10, "download": False, "cache": False})
    assert len(data.train) == 50
    paths = idx_datasets.locate(DATASETS["mnist"].defaults)
    assert paths is not None and set(paths) == set(ROLES)
