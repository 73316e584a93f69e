"""The containers every task receives: :class:`Split` and :class:`ImageDataset`.

Images are always ``(N, C, H, W)`` float32 in ``[0, 1]`` and labels ``(N,)`` int64, whatever the
source format, so models and trainers never look at how a dataset was stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Split:
    """One part (train, val or test) of a dataset.

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[0, 1]``.
        labels: ``(N,)`` int64 class indices; ``None`` for an unlabelled dataset.
    """

    images: torch.Tensor
    labels: torch.Tensor | None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"Split images must be (N, C, H, W), got {tuple(self.images.shape)}")
        if self.labels is not None and self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"Split labels must be ({self.images.shape[0]},), got {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass(frozen=True)
class ImageDataset:
    """A dataset split three ways, with its class names.

    Attributes:
        name: the ``dataset.name`` it was loaded from (``digits``, ``fashion_mnist``, ...).
        train, val, test: the splits; ``val`` or ``test`` may be empty (zero images).
        num_classes: number of classes; ``None`` when unlabelled.
        class_names: one name per class index; ``None`` when unlabelled.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int | None
    class_names: tuple[str, ...] | None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)

    def sizes(self) -> dict[str, int]:
        """Number of images per split, e.g. ``{"train": 55000, "val": 5000, "test": 10000}``."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def to_unit_float(images: np.ndarray) -> torch.Tensor:
    """Images as a float32 tensor in ``[0, 1]``: integers are divided by 255, floats kept.

    The caller has checked the value range; ``images`` keeps its layout (no channel moves).
    """
    if images.dtype == np.uint8:
        # from_numpy shares memory; .to() makes the float copy, div_ scales it in place.
        source = images if images.flags.writeable else images.copy()
        return torch.from_numpy(source).to(torch.float32).div_(255.0)
    if images.dtype == np.bool_ or np.issubdtype(images.dtype, np.integer):
        scale = 1.0 if images.dtype == np.bool_ else 255.0
        return torch.from_numpy(images.astype(np.float32)).div_(scale)
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))


def to_labels(labels: np.ndarray | None) -> torch.Tensor | None:
    """Labels as an ``(N,)`` int64 tensor (a copy), or ``None``."""
    if labels is None:
        return None
    return torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` images to ``(N, C, size, size)`` with bilinear interpolation.

    Downscaling uses an antialiasing filter so thin strokes do not vanish; the result is clamped
    to ``[0, 1]`` against rounding.
    """
    if images.shape[-2:] == (size, size):
        return images
    if images.shape[0] == 0:
        return images.new_zeros((0, images.shape[1], size, size))
    downscale = size < images.shape[-2] or size < images.shape[-1]
    out = F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=downscale
    )
    return out.clamp_(0.0, 1.0).contiguous()


def resize_dataset(dataset: ImageDataset, size: int | None) -> ImageDataset:
    """The same dataset with every split's images resized to ``size`` (``None`` = unchanged)."""
    if size is None:
        return dataset

    def _split(split: Split) -> Split:
        return Split(resize(split.images, size), split.labels)

    return ImageDataset(
        name=dataset.name,
        train=_split(dataset.train),
        val=_split(dataset.val),
        test=_split(dataset.test),
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
    )
