"""IDX reading: valid files (gzipped or not) and every way a file can be broken."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from rl_lab.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_header, read_idx, write_idx
from rl_lab.errors import DatasetError


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_round_trip_gzipped_and_plain(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path, IMAGES_MAGIC)
    assert out.dtype == np.uint8 and out.flags.writeable
    np.testing.assert_array_equal(out, images)
    assert read_header(path, IMAGES_MAGIC) == (7, 28, 28)


def test_labels_and_gzip_detected_from_content(tmp_path):
    labels = np.arange(13, dtype=np.uint8)
    # A gzipped file without the .gz suffix is still recognised.
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(gzip.compress(write_idx(tmp_path / "plain", labels).read_bytes()))
    np.testing.assert_array_equal(read_idx(path, LABELS_MAGIC), labels)


def test_truncated_file_names_file_and_sizes(tmp_path):
    path = write_idx(tmp_path / "t-idx3-ubyte", np.zeros((5, 4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetError, match="truncated") as err:
        read_idx(path, IMAGES_MAGIC)
    assert str(path) in str(err.value) and "80 values" in str(err.value)


def test_extra_bytes_rejected(tmp_path):
    path = write_idx(tmp_path / "l-idx1-ubyte", np.zeros(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DatasetError, match="longer than its header"):
        read_idx(path, LABELS_MAGIC)


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DatasetError, match="inside its header"):
        read_idx(path, IMAGES_MAGIC)


def test_wrong_magic_says_files_are_swapped(tmp_path):
    labels = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(DatasetError, match="magic number 2049.*swapped") as err:
        read_idx(labels, IMAGES_MAGIC)
    assert str(labels) in str(err.value)
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world, not an idx file")
    with pytest.raises(DatasetError, match="magic number"):
        read_header(junk, LABELS_MAGIC)


def test_corrupt_and_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "i.gz", np.random.default_rng(1).integers(0, 256, (50, 28, 28)))
    data = bytearray(path.read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DatasetError, match="truncated or corrupt gzip") as err:
        read_idx(cut, IMAGES_MAGIC)
    assert str(cut) in str(err.value)
    data[len(data) // 2] ^= 0xFF  # a flipped byte in the deflate stream or CRC mismatch
    flipped = tmp_path / "flipped.gz"
    flipped.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="gzip"):
        read_idx(flipped, IMAGES_MAGIC)


def test_zero_sized_image_dimension(tmp_path):
    path = write_idx(tmp_path / "z", np.zeros((3, 0, 28), np.uint8))
    with pytest.raises(DatasetError, match="nonzero"):
        read_idx(path, IMAGES_MAGIC)
