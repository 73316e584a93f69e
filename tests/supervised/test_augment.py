"""Batch augmentation: flips and shifts move pixels exactly, and only when asked."""

from __future__ import annotations

import torch

from rl_lab.supervised.augment import Augment, random_hflip, random_shift


def test_hflip_mirrors_about_half_of_the_images():
    torch.manual_seed(0)
    images = torch.rand(400, 1, 5, 5)
    out = random_hflip(images)
    mirrored = (out == images.flip(-1)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert bool((mirrored ^ kept).all())  # each image is either mirrored or untouched
    assert 150 < int(mirrored.sum()) < 250


def test_shift_translates_each_image_with_zero_fill():
    torch.manual_seed(1)
    images = torch.rand(64, 2, 6, 7) + 1.0  # no zeros inside the images
    out = random_shift(images, 2)
    assert out.shape == images.shape
    for original, shifted in zip(images, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(shifted, _translate(original, dy, dx))
        ]
        assert len(matches) == 1
    assert torch.equal(random_shift(images, 0), images)


def _translate(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` (C, H, W) moved down by ``dy`` and right by ``dx``, zeros where uncovered."""
    out = torch.zeros_like(image)
    _, h, w = image.shape
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_augment_is_off_by_default_and_reproducible_with_the_seed():
    images = torch.rand(8, 1, 4, 4)
    assert not Augment().active and torch.equal(Augment()(images), images)
    augment = Augment(hflip=True, shift=1)
    torch.manual_seed(3)
    first = augment(images)
    torch.manual_seed(3)
    assert torch.equal(augment(images), first) and not torch.equal(first, images)
