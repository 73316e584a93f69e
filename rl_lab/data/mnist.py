"""``dataset=fashion_mnist`` and ``dataset=mnist``: the 28x28 IDX datasets.

Where the four files are looked for, in order:

1. ``<data_dir>/<name>/`` (``data_dir`` defaults to ``$RL_LAB_DATA_DIR``, else ``data`` relative
   to the working directory);
2. Fashion-MNIST only: ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
3. with ``download=true``: the official mirrors, into ``<data_dir>/<name>/``, each file checked
   against its published checksum.

The official test set is the test split; the validation split is carved from the 60000 training
images: with ``val_selection=first`` the first ``val_size`` of them (the convention of Géron's
*Hands-On Machine Learning*: ``X_valid, X_train = X_train_full[:5000], X_train_full[5000:]``),
with ``random`` a stratified random choice seeded by ``split_seed``. Decoded arrays are cached in
``<data_dir>/cache/`` (see :mod:`rl_lab.data.cache`), so only the first load decompresses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rl_lab.data import cache
from rl_lab.data.configs import DATASET_CONFIGS
from rl_lab.data.dataset import ImageDataset, Split, to_labels, to_unit_float
from rl_lab.data.download import download_file
from rl_lab.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_header, read_idx
from rl_lab.data.options import DatasetKind, Options, check_split_sizes
from rl_lab.data.splits import resolve_count, take
from rl_lab.errors import DatasetError

log = logging.getLogger("rl_lab")

#: The four files of an IDX dataset, by role.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
_MAGIC = {role: IMAGES_MAGIC if role.endswith("images") else LABELS_MAGIC for role in ROLES}
FILE_NAMES: Mapping[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset comes from and what it contains.

    Attributes:
        title: its usual name (``"Fashion-MNIST"``).
        checksums: file name → ``"md5:<hex>"`` of the file as the mirrors serve it.
        mirrors: base URLs (ending in ``/``) that serve the four files by name, tried in order.
        system_dirs: folders a system package installs the files into, searched after
            ``<data_dir>/<name>``.
        class_names: one name per label value.
        install_hint: how to get the files from a system package (empty when there is none).
    """

    title: str
    checksums: Mapping[str, str]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...]
    class_names: tuple[str, ...]
    install_hint: str = ""


#: Zalando Research's Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist, MIT).
#: The MD5s are the ones its README publishes. Debian's package holds the same images in
#: re-compressed .gz files (other bytes, other MD5s): local files are checked by their IDX
#: structure, downloads by these checksums.
FASHION_MNIST = IdxSource(
    title="Fashion-MNIST",
    checksums={
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        # The S3 website endpoint serves plain HTTP only; the checksums protect the content.
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    install_hint=(
        "install Debian's package with `apt-get install dataset-fashion-mnist` (it puts them "
        "in /usr/share/datasets/fashion-mnist)"
    ),
)

#: LeCun, Cortes and Burges' MNIST; the MD5s are the widely published ones (torchvision's).
MNIST = IdxSource(
    title="MNIST",
    checksums={
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    system_dirs=(),
    class_names=tuple(str(d) for d in range(10)),
)

#: The IDX datasets by ``dataset.name``.
SOURCES: dict[str, IdxSource] = {"fashion_mnist": FASHION_MNIST, "mnist": MNIST}


def data_dir(options: Options) -> Path:
    """``dataset.data_dir``, else ``$RL_LAB_DATA_DIR``, else ``./data``; ``~`` expanded."""
    value = options.get("data_dir") or os.environ.get("RL_LAB_DATA_DIR") or "data"
    return Path(value).expanduser()


def _target_dir(options: Options) -> Path:
    return data_dir(options) / options["name"]


def _search_dirs(options: Options) -> list[Path]:
    return [_target_dir(options), *SOURCES[options["name"]].system_dirs]


def _find_file(directory: Path, file_name: str) -> Path | None:
    """``file_name`` in ``directory``, gzipped or (without ``.gz``) uncompressed."""
    for candidate in (directory / file_name, directory / file_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def locate(options: Options) -> dict[str, Path] | None:
    """The four files from the first search folder that holds all of them, or ``None``."""
    for directory in _search_dirs(options):
        found = {role: _find_file(directory, FILE_NAMES[role]) for role in ROLES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def missing_message(options: Options, download_failure: str | None = None) -> str:
    """One paragraph: what is missing, where it was looked for, and every way to provide it."""
    source = SOURCES[options["name"]]
    target = _target_dir(options).resolve()
    names = [FILE_NAMES[role] for role in ROLES]
    searched = " and then ".join(str(d.resolve()) for d in _search_dirs(options))
    ways = [f"put the four files in {target}"]
    if source.install_hint:
        ways.append(source.install_hint)
    ways.append(
        f"keep them in another folder DIR/{options['name']} and set `dataset.data_dir=DIR` (or "
        "the RL_LAB_DATA_DIR environment variable)"
    )
    if download_failure is None:
        ways.append(
            "let rl_lab download them from the official mirrors with `dataset.download=true`"
        )
        opening = f"{source.title} was not found."
    else:
        ways.append(
            "rerun with network access (or set `dataset.mirrors=[URL/]` to a mirror that serves "
            "the files)"
        )
        opening = (
            f"{source.title} was not found and could not be downloaded into {target}: "
            f"{download_failure}"
        )
    return (
        f"{opening} rl_lab looks for {', '.join(names[:-1])} and {names[-1]} (gzipped, or "
        f"uncompressed without .gz) in {searched}. To provide them: " + "; or ".join(ways) + "."
    )


def ensure_files(options: Options) -> dict[str, Path]:
    """The four files: found locally, else downloaded (when allowed) into ``<data_dir>/<name>``.

    Raises:
        DatasetError: not found and ``download=false``, or a download failed (offline, HTTP
            error, checksum mismatch); the message says where to put the files.
    """
    found = locate(options)
    if found is not None:
        return found
    if not options["download"]:
        raise DatasetError(missing_message(options))
    source = SOURCES[options["name"]]
    mirrors = tuple(options["mirrors"] or source.mirrors)
    target = _target_dir(options)
    paths = {}
    for role in ROLES:
        file_name = FILE_NAMES[role]
        existing = _find_file(target, file_name)
        if existing is not None:
            paths[role] = existing
            continue
        urls = [base.rstrip("/") + "/" + file_name for base in mirrors]
        try:
            paths[role] = download_file(urls, target / file_name, source.checksums[file_name])
        except DatasetError as exc:
            raise DatasetError(missing_message(options, download_failure=str(exc))) from exc
    return paths


def _check_arrays(arrays: Mapping[str, np.ndarray], where: Mapping[str, str], classes: int) -> None:
    """Counts agree, image sizes agree, labels are class indices; raises DatasetError."""
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels):
            raise DatasetError(
                f"{where[f'{part}_images']} holds {len(images)} images but "
                f"{where[f'{part}_labels']} holds {len(labels)} labels; they must be the same "
                "count. One of the files belongs to another dataset or version: replace both."
            )
        if len(labels) and int(labels.max()) >= classes:
            raise DatasetError(
                f"{where[f'{part}_labels']} has label {int(labels.max())}, but the dataset has "
                f"{classes} classes (0..{classes - 1}). Replace it with the dataset's own file."
            )
    if len(arrays["train_images"]) == 0:
        raise DatasetError(f"{where['train_images']} holds no images.")
    train_hw = arrays["train_images"].shape[1:]
    test_hw = arrays["test_images"].shape[1:]
    if train_hw != test_hw:
        raise DatasetError(
            f"{where['train_images']} holds {train_hw} images but {where['test_images']} holds "
            f"{test_hw} images; both must have the same size."
        )


def read_arrays(options: Options) -> dict[str, np.ndarray]:
    """The four decoded uint8 arrays (images ``(N, 28, 28)``, labels ``(N,)``), via the cache."""
    paths = ensure_files(options)
    classes = len(SOURCES[options["name"]].class_names)
    cache_dir = data_dir(options) / "cache"
    key = cache.source_key([paths[role] for role in ROLES])
    if options["cache"]:
        cached = cache.load_cached(cache_dir, options["name"], key)
        if cached is not None and set(cached) == set(ROLES):
            entry = str(cache.cache_path(cache_dir, options["name"], key))
            _check_arrays(cached, dict.fromkeys(ROLES, entry), classes)
            return cached
    arrays = {role: read_idx(paths[role], _MAGIC[role]) for role in ROLES}
    _check_arrays(arrays, {role: str(paths[role]) for role in ROLES}, classes)
    if options["cache"]:
        cache.save_cached(cache_dir, options["name"], key, arrays)
    return arrays


def _check_data(options: Options) -> None:
    if options["mirrors"] is not None and not (
        options["mirrors"] and all(isinstance(m, str) and m for m in options["mirrors"])
    ):
        raise DatasetError(
            f"`dataset.mirrors={options['mirrors']!r}` must be null (the official mirrors) or a "
            "non-empty list of base URLs, e.g. `dataset.mirrors=[https://example.org/mnist/]`."
        )
    found = locate(options)
    if found is None:
        if not options["download"]:
            raise DatasetError(missing_message(options))
        _check_writable(_target_dir(options))
        return
    dims = {role: read_header(found[role], _MAGIC[role]) for role in ROLES}
    for part in ("train", "test"):
        if dims[f"{part}_images"][0] != dims[f"{part}_labels"][0]:
            raise DatasetError(
                f"{found[f'{part}_images']} declares {dims[f'{part}_images'][0]} images but "
                f"{found[f'{part}_labels']} declares {dims[f'{part}_labels'][0]} labels; they "
                "must be the same count. Replace both with the dataset's own files."
            )
    total = dims["train_images"][0]
    check_split_sizes(options, total, f"the {total} training images", has_test_key=False)


def _check_writable(folder: Path) -> None:
    """Raise DatasetError unless ``folder`` exists writable or can be created."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (existing.is_dir() and os.access(existing, os.W_OK)):
        raise DatasetError(
            f"Cannot download into {folder.resolve()}: {existing.resolve()} is not a writable "
            "folder. Set `dataset.data_dir=DIR` (or RL_LAB_DATA_DIR) to a writable folder."
        )


def _load(options: Options) -> ImageDataset:
    arrays = read_arrays(options)
    train_images, train_labels = arrays["train_images"], arrays["train_labels"]
    val_count = resolve_count(options["val_size"], len(train_labels))
    val_rows: slice | np.ndarray
    train_rows: slice | np.ndarray
    if options["val_selection"] == "first":
        # Slices are views: no copy before the float conversion.
        val_rows, train_rows = slice(0, val_count), slice(val_count, None)
    else:
        rng = np.random.default_rng(options["split_seed"])
        strata = train_labels if options["stratify"] else None
        val_rows, train_rows = take(np.arange(len(train_labels)), val_count, rng, strata)

    def _split(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(to_unit_float(images[:, None]), to_labels(labels))  # (N, 1, 28, 28)

    source = SOURCES[options["name"]]
    return ImageDataset(
        name=options["name"],
        train=_split(train_images[train_rows], train_labels[train_rows]),
        val=_split(train_images[val_rows], train_labels[val_rows]),
        test=_split(arrays["test_images"], arrays["test_labels"]),
        num_classes=len(source.class_names),
        class_names=source.class_names,
    )


def kind(name: str) -> DatasetKind:
    """The :class:`DatasetKind` of ``fashion_mnist`` or ``mnist``."""
    return DatasetKind(
        description=f"{SOURCES[name].title} (28x28 IDX files; 60000 train, 10000 test)",
        config=DATASET_CONFIGS[name],
        check_data=_check_data,
        load=_load,
    )
