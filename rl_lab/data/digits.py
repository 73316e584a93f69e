"""``dataset=digits``: scikit-learn's bundled 8x8 handwritten digits (offline, no files).

1797 grayscale images of the digits 0-9 (UCI "Optical Recognition of Handwritten Digits"), pixel
values 0..16 scaled to [0, 1]. There is no official test set, so train/val/test are a stratified
split seeded by ``split_seed``. ``image_size=28`` upsamples them for MNIST-shaped models.
"""

from __future__ import annotations

import numpy as np
import torch

from rl_lab.data.configs import DigitsConfig
from rl_lab.data.dataset import ImageDataset, Split, to_labels
from rl_lab.data.options import DatasetKind, Options, check_split_sizes
from rl_lab.data.splits import resolve_count, seeded_split

NUM_IMAGES = 1797
#: The largest pixel value in the bundled data (4x4 blocks of a 32x32 bitmap, counted).
MAX_VALUE = 16.0


def _check_data(options: Options) -> None:
    check_split_sizes(options, NUM_IMAGES, f"the {NUM_IMAGES} digits", has_test_key=True)


def _load(options: Options) -> ImageDataset:
    # Imported here: scikit-learn takes seconds to import and only this dataset needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / MAX_VALUE).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)  # (1797,)
    parts = seeded_split(
        len(labels),
        resolve_count(options["val_size"], len(labels)),
        resolve_count(options["test_size"], len(labels)),
        options["split_seed"],
        labels if options["stratify"] else None,
    )

    def _split(rows: np.ndarray) -> Split:
        return Split(torch.from_numpy(images[rows]), to_labels(labels[rows]))

    return ImageDataset(
        name="digits",
        train=_split(parts.train),
        val=_split(parts.val),
        test=_split(parts.test),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
    )


KIND = DatasetKind(
    description="scikit-learn's bundled 8x8 handwritten digits (1797 images, offline)",
    config=DigitsConfig,
    check_data=_check_data,
    load=_load,
)
