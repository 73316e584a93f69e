"""Random image augmentation of a training mini-batch, on the device, batched.

Cheap transforms that keep the label: horizontal flips (clothes, not digits) and small
translations with zero padding. Both draw from torch's global generator, which checkpoints save,
so augmented runs stay reproducible and resume exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_hflip(images: Tensor) -> Tensor:
    """Mirror each image left-right with probability 1/2. ``images``: ``(N, C, H, W)``."""
    flip = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < 0.5
    return torch.where(flip, images.flip(-1), images)


def random_shift(images: Tensor, max_shift: int) -> Tensor:
    """Translate each image by whole pixels ``dx, dy`` drawn uniformly from
    ``[-max_shift, max_shift]``, filling the uncovered border with zeros."""
    if max_shift <= 0:
        return images
    n, channels, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4).flatten(2)  # (N, C, (H + 2s) * (W + 2s))
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), device=images.device)
    rows = offsets[0].view(n, 1, 1) + torch.arange(height, device=images.device).view(1, -1, 1)
    cols = offsets[1].view(n, 1, 1) + torch.arange(width, device=images.device).view(1, 1, -1)
    flat = (rows * (width + 2 * max_shift) + cols).view(n, 1, height * width)
    crops = padded.gather(2, flat.expand(n, channels, height * width))  # each sample's window
    return crops.view(n, channels, height, width)


class Augment:
    """The augmentation ``cfg.trainer.augment`` asks for: ``hflip`` (bool) and ``shift``
    (maximum translation in pixels, 0 = none). Calling it on a batch returns the new batch."""

    def __init__(self, hflip: bool = False, shift: int = 0) -> None:
        self.hflip = hflip
        self.shift = shift

    @property
    def active(self) -> bool:
        """Whether any transform is on."""
        return self.hflip or self.shift > 0

    def __call__(self, images: Tensor) -> Tensor:
        if self.hflip:
            images = random_hflip(images)
        if self.shift > 0:
            images = random_shift(images, self.shift)
        return images
