"""The datasets' settings (``dataset=digits|mnist|fashion_mnist|npy``) as typed config classes:
each key's type, default, bounds and meaning.

Hydra composes the defaults from :func:`register` (ConfigStore, group ``dataset``); each
dataset's :class:`~rl_lab.data.options.DatasetKind` derives its defaults and validation rules
from its class; ``python -m rl_lab.schema dataset=<name>`` lists them. The split sizes
(``val_size``, ``test_size``: a fraction or a count) are checked by
:func:`rl_lab.data.options.size_problem`. Torch-free, like :mod:`rl_lab.supervised.configs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rl_lab.config import register_configs, setting

#: Where the IDX datasets and the decoded-array cache live unless ``dataset.data_dir`` says
#: otherwise (relative = to the working directory).
DATA_DIR_DEFAULT = "${oc.env:RL_LAB_DATA_DIR,data}"


@dataclass(frozen=True)
class DatasetConfig:
    """What every dataset has: its name, the image size and the split's seed."""

    name: str = setting("digits", "the dataset (part of the run directory's name)")
    image_size: int | None = setting(
        None,
        "null = the native size; an int resizes bilinearly to image_size x image_size (e.g. 28 "
        "for MNIST-shaped models, 32 for DCGAN layouts)",
        low=1,
        high=1024,
    )
    split_seed: int = setting(
        0,
        "seeds the split; independent of the run's seed, so every run sees the same test set",
        low=0,
    )
    stratify: bool = setting(True, "keep each class's share equal in the splits")


@dataclass(frozen=True)
class DigitsConfig(DatasetConfig):
    """scikit-learn's bundled 8x8 handwritten digits: 1797 images of 0-9, offline. Pixels
    0..16 are scaled to [0, 1]; images are (1, 8, 8). No official test set: the three splits are
    a stratified random split seeded by split_seed."""

    name: str = setting("digits", "the dataset (part of the run directory's name)")
    val_size: int | float = setting(
        0.1, "validation examples: a fraction of all 1797 (< 1) or a count (>= 1)"
    )
    test_size: int | float = setting(
        0.2, "test examples: a fraction of all 1797 (< 1) or a count (>= 1)"
    )


@dataclass(frozen=True)
class MNISTConfig(DatasetConfig):
    """MNIST (LeCun, Cortes and Burges): 28x28 grayscale handwritten digits 0-9, 60000 train
    and 10000 test. Files are looked for in <data_dir>/mnist, then downloaded (download: true)
    from the official mirrors and checked against their published MD5s."""

    name: str = setting("mnist", "the dataset (part of the run directory's name)")
    val_size: int | float = setting(
        5000, "validation images carved from the 60000 training images: a count or a fraction (< 1)"
    )
    val_selection: str = setting(
        "first",
        "first = the first val_size training images (Géron's convention); random = a seeded "
        "draw (split_seed; stratify keeps each class's share). The test split is the official "
        "one",
        choices=("first", "random"),
    )
    data_dir: str | None = setting(
        DATA_DIR_DEFAULT,
        "files in <data_dir>/<name>, cache in <data_dir>/cache (relative = to the working "
        "directory); null = $RL_LAB_DATA_DIR, else data",
    )
    download: bool = setting(
        True, "download missing files into <data_dir>/<name> when not found locally"
    )
    mirrors: list[str] | None = setting(
        None, "null = the official mirrors; or a list of base URLs serving the four .gz files"
    )
    cache: bool = setting(
        True, "keep the decoded arrays in <data_dir>/cache so later loads skip decompression"
    )


@dataclass(frozen=True)
class FashionMNISTConfig(MNISTConfig):
    """Fashion-MNIST (Zalando Research): 28x28 grayscale images of 10 clothing classes, 60000
    train and 10000 test. Files are looked for in <data_dir>/fashion_mnist, then in
    /usr/share/datasets/fashion-mnist (Debian: `apt-get install dataset-fashion-mnist`), then
    downloaded (download: true) from the official mirrors and checked against their MD5s."""

    name: str = setting("fashion_mnist", "the dataset (part of the run directory's name)")


@dataclass(frozen=True)
class NpyConfig(DatasetConfig):
    """Any .npy array of images: (N, H, W), (N, H, W, C), (N, C, H, W), or flattened square
    images (N, H*W) such as Quick, Draw!'s (N, 784) bitmaps; uint8 0..255 or floats in [0, 1].
    Example: python -m rl_lab task=gan dataset=npy dataset.path=data/quickdraw/cat.npy"""

    name: str = setting("npy", "the dataset (part of the run directory's name)")
    path: str | None = setting(
        None, "required: the images .npy file (relative = to the working directory)"
    )
    labels_path: str | None = setting(
        None, "optional: (N,) integer class indices in a second .npy; null = unlabelled"
    )
    class_names: list[str] | None = setting(
        None, 'optional: one name per class index; null = "0", "1", ... from the labels'
    )
    layout: str = setting(
        "auto",
        "auto | nhwc | nchw: where the channel axis of a 4-D array is (auto guesses)",
        choices=("auto", "nhwc", "nchw"),
    )
    max_samples: int | None = setting(
        None, "use only the first max_samples images (large Quick, Draw! files); null = all", low=1
    )
    val_size: int | float = setting(0.1, "validation examples: a fraction (< 1) or a count (>= 1)")
    test_size: int | float = setting(0.1, "test examples: a fraction (< 1) or a count (>= 1)")


#: ``dataset.name`` → its config class (the ``dataset`` group's options).
DATASET_CONFIGS: dict[str, type[DatasetConfig]] = {
    "digits": DigitsConfig,
    "fashion_mnist": FashionMNISTConfig,
    "mnist": MNISTConfig,
    "npy": NpyConfig,
}

#: Keys holding a split size: a fraction in [0, 1) or a count (no :class:`Rule`: checked by
#: :func:`rl_lab.data.options.size_problem`).
SIZE_KEYS: tuple[str, ...] = ("val_size", "test_size")


def register() -> None:
    """Register the datasets as the ``dataset`` group with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`)."""
    register_configs("dataset", DATASET_CONFIGS)
