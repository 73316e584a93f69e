"""``dataset=npy``: any ``.npy`` array of images, with optional labels in a second ``.npy``.

Accepted image arrays (``N`` images):

* ``(N, H, W)`` grayscale;
* ``(N, H, W, C)`` or ``(N, C, H, W)`` with ``C`` in 1, 3, 4 (``layout=auto`` tells them apart by
  where that small axis is; set ``layout=nhwc|nchw`` when both ends could be channels);
* ``(N, D)`` flattened square grayscale images, ``D = S*S`` (Quick, Draw!'s ``.npy`` bitmaps are
  ``(N, 784)`` uint8 → 28x28);

as integers in 0..255 (divided by 255) or floats already in [0, 1]. There is no official split:
train/val/test are a split seeded by ``split_seed`` (stratified when labelled).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rl_lab.data.configs import NpyConfig
from rl_lab.data.dataset import ImageDataset, Split, to_labels, to_unit_float
from rl_lab.data.options import DatasetKind, Options, check_split_sizes
from rl_lab.data.splits import resolve_count, seeded_split
from rl_lab.errors import DatasetError

_CHANNELS = (1, 3, 4)


def _open(path_value: str | None, key: str) -> tuple[Path, np.ndarray]:
    """Memory-map a ``.npy`` file (the header is read, the data only when touched)."""
    if not path_value:
        raise DatasetError(
            f"dataset=npy needs `dataset.{key}`: the path of a .npy file, e.g. "
            f"`dataset.{key}=data/cat.npy`."
        )
    path = Path(path_value).expanduser()
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            found = sorted(p.name for p in path.parent.glob("*.npy"))[:10]
            hint = f" .npy files in {path.parent.resolve()}: {', '.join(found) or 'none'}."
        raise DatasetError(
            f"`dataset.{key}`: {path.resolve()} does not exist.{hint} Set `dataset.{key}` to an "
            "existing .npy file."
        )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(
            f"`dataset.{key}`: {path} is not a readable .npy array ({exc}). Save it with "
            "numpy.save (a plain numeric array, not pickled objects, not .npz)."
        ) from exc
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"`dataset.{key}`: {path} holds no single array; use a .npy file.")
    return path, array


def image_layout(shape: tuple[int, ...], layout: str, path: Path) -> tuple[str, tuple[int, ...]]:
    """How to read an image array: ``(layout, (C, H, W))`` of one image.

    ``layout`` is one of ``flat``, ``nhw``, ``nhwc``, ``nchw``.
    """
    shape_text = f"{path} has shape {shape}"
    if len(shape) == 2:
        side = math.isqrt(shape[1])
        if side * side != shape[1] or side == 0:
            raise DatasetError(
                f"{shape_text}: a 2-D array is read as flattened square images, but "
                f"{shape[1]} is not a square number. Reshape it to (N, H, W) before saving."
            )
        return "flat", (1, side, side)
    if len(shape) == 3:
        return "nhw", (1, shape[1], shape[2])
    if len(shape) == 4:
        if layout == "auto":
            last, first = shape[3] in _CHANNELS, shape[1] in _CHANNELS
            if last and not first:
                layout = "nhwc"
            elif first and not last:
                layout = "nchw"
            else:
                raise DatasetError(
                    f"{shape_text}: cannot tell whether the channels come first or last (a "
                    "channel axis has 1, 3 or 4 entries). Set `dataset.layout=nhwc` or "
                    "`dataset.layout=nchw`."
                )
        c, h, w = (shape[3], shape[1], shape[2]) if layout == "nhwc" else shape[1:]
        return layout, (c, h, w)
    raise DatasetError(
        f"{shape_text}: expected images as (N, H, W), (N, H, W, C), (N, C, H, W) or flattened "
        "(N, H*W)."
    )


def _as_nchw(images: np.ndarray, layout: str, chw: tuple[int, ...]) -> np.ndarray:
    if layout == "nhwc":
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return np.ascontiguousarray(images).reshape(len(images), *chw)


def _check_values(images: np.ndarray, path: Path) -> None:
    """Integers must be 0..255, floats finite and in [0, 1]."""
    if images.dtype == np.bool_ or images.size == 0:
        return
    if np.issubdtype(images.dtype, np.integer):
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise DatasetError(
                f"{path} holds integer pixels from {low} to {high}; integer images must be "
                "0..255 (they are divided by 255)."
            )
        return
    if not np.issubdtype(images.dtype, np.floating):
        raise DatasetError(f"{path} has dtype {images.dtype}; use uint8 0..255 or floats in [0,1].")
    bad = int(np.count_nonzero(~np.isfinite(images)))
    if bad:
        raise DatasetError(
            f"{path} holds {bad} NaN or infinite pixel value(s); clean the array before using it."
        )
    lowest, highest = float(images.min()), float(images.max())
    if lowest < 0 or highest > 1:
        raise DatasetError(
            f"{path} holds float pixels from {lowest:g} to {highest:g}; float images must lie in "
            "[0, 1] (divide 0..255 data by 255, or save it as uint8)."
        )


def _labels(options: Options, count: int) -> np.ndarray | None:
    """``(N,)`` int64 labels, checked against the images and class names, or ``None``."""
    if options["labels_path"] is None:
        return None
    path, labels = _open(options["labels_path"], "labels_path")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DatasetError(f"{path} has shape {labels.shape}; labels must be (N,) class indices.")
    if len(labels) != count:
        raise DatasetError(
            f"{path} holds {len(labels)} labels but `dataset.path` holds {count} images; each "
            "image needs exactly one label."
        )
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.floating):
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise DatasetError(f"{path} holds non-integer labels; labels must be class indices.")
    elif not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path} has dtype {labels.dtype}; labels must be integers.")
    labels = labels.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"{path} holds negative labels; labels must be 0..num_classes-1.")
    names = options["class_names"]
    if names is not None and len(labels) and labels.max() >= len(names):
        raise DatasetError(
            f"{path} holds label {int(labels.max())} but `dataset.class_names` names only "
            f"{len(names)} classes."
        )
    return labels


def _count(options: Options, array: np.ndarray) -> int:
    limit = options["max_samples"]
    return len(array) if limit is None else min(limit, len(array))


def _check_data(options: Options) -> None:
    path, images = _open(options["path"], "path")
    image_layout(images.shape, options["layout"], path)
    if options["labels_path"] is not None:
        labels_path, labels = _open(options["labels_path"], "labels_path")
        if len(labels) != len(images):
            raise DatasetError(
                f"{labels_path} holds {len(labels)} labels but {path} holds {len(images)} "
                "images; each image needs exactly one label."
            )
    total = _count(options, images)
    check_split_sizes(options, total, f"the {total} images of {path}", has_test_key=True)


def _load(options: Options) -> ImageDataset:
    path, images = _open(options["path"], "path")
    layout, chw = image_layout(images.shape, options["layout"], path)
    labels = _labels(options, len(images))
    count = _count(options, images)
    images = np.asarray(images[:count])  # reads the (first max_samples) images into memory
    labels = None if labels is None else labels[:count]
    _check_values(images, path)
    images = _as_nchw(images, layout, chw)  # (N, C, H, W)
    parts = seeded_split(
        count,
        resolve_count(options["val_size"], count),
        resolve_count(options["test_size"], count),
        options["split_seed"],
        labels if options["stratify"] else None,
    )

    def _split(rows: np.ndarray) -> Split:
        return Split(
            to_unit_float(images[rows]), to_labels(None if labels is None else labels[rows])
        )

    if labels is None:
        num_classes, class_names = None, None
    elif options["class_names"] is not None:
        class_names = tuple(str(n) for n in options["class_names"])
        num_classes = len(class_names)
    else:
        num_classes = int(labels.max()) + 1 if len(labels) else 0
        class_names = tuple(str(c) for c in range(num_classes))
    return ImageDataset(
        name="npy",
        train=_split(parts.train),
        val=_split(parts.val),
        test=_split(parts.test),
        num_classes=num_classes,
        class_names=class_names,
    )


KIND = DatasetKind(
    description="a .npy array of images (uint8 0..255 or float [0,1]), optional .npy labels",
    config=NpyConfig,
    check_data=_check_data,
    load=_load,
)
