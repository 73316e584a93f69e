"""Drawing images from a trained generator and writing them out.

The sampling contract (``mode=sample``) is:

- ``samples.png``: a grid of the ``n`` samples (a conditional GAN's labels cycle 0, 1, ...,
  so each column of a ``num_classes``-wide grid holds one class, unless ``label`` is set);
- ``samples.npz``: ``images`` float32 in ``[0, 1]``, shape ``(n, H, W)`` for grayscale or
  ``(n, H, W, C)`` for colour; ``labels`` int64 ``(n,)`` for a conditional GAN;
- ``interpolation.png``: a row of images along the straight line between the noise vectors
  drawn from ``seed`` and ``seed + 1`` (same label throughout for a conditional GAN).

Noise is drawn on the CPU from ``torch.Generator().manual_seed(seed)``, so a seed gives the same
noise on every device.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

if TYPE_CHECKING:
    from rl_lab.gan.models import Generator


def to_signed(images: Tensor) -> Tensor:
    """``[0, 1]`` pixels → ``[-1, 1]`` (the generator's tanh range, used for training)."""
    return images * 2.0 - 1.0


def to_unit(images: Tensor) -> Tensor:
    """``[-1, 1]`` generator output → ``[0, 1]`` pixels (clamped)."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)


def noise(n: int, latent_dim: int, seed: int) -> Tensor:
    """``(n, latent_dim)`` standard normal noise drawn from ``seed`` (CPU, device-independent)."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def cycled_labels(n: int, num_classes: int) -> Tensor:
    """``(n,)`` int64 labels ``0, 1, ..., num_classes - 1, 0, 1, ...``."""
    return torch.arange(n, dtype=torch.int64) % num_classes


@torch.no_grad()
def generate(
    generator: nn.Module,
    z: Tensor,
    labels: Tensor | None = None,
    batch_size: int = 500,
) -> Tensor:
    """Images ``(n, C, H, W)`` in ``[0, 1]`` (CPU) for noise ``z`` ``(n, latent_dim)``.

    The generator is put in eval mode (BatchNorm uses its running statistics) and restored.
    """
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        chunks = []
        for start in range(0, z.shape[0], batch_size):
            z_batch = z[start : start + batch_size].to(device)
            y_batch = None if labels is None else labels[start : start + batch_size].to(device)
            chunks.append(to_unit(generator(z_batch, y_batch)).float().cpu())
        return torch.cat(chunks)
    finally:
        generator.train(was_training)


def image_grid(images: Tensor, ncol: int, padding: int = 2, pad_value: float = 1.0) -> Tensor:
    """Tile ``(n, C, H, W)`` images in ``[0, 1]`` into one ``(C, rows*(H+p)+p, ncol*(W+p)+p)``
    image, row by row (``rows = ceil(n / ncol)``); empty cells stay ``pad_value``."""
    n, channels, height, width = images.shape
    ncol = max(1, min(ncol, n))
    rows = math.ceil(n / ncol)
    grid = torch.full(
        (channels, rows * (height + padding) + padding, ncol * (width + padding) + padding),
        pad_value,
        dtype=images.dtype,
    )
    for i in range(n):
        top = padding + (i // ncol) * (height + padding)
        left = padding + (i % ncol) * (width + padding)
        grid[:, top : top + height, left : left + width] = images[i]
    return grid


def enlarge(image: Tensor, scale: int) -> Tensor:
    """``(C, H, W)`` → ``(C, scale*H, scale*W)``, each pixel repeated (nearest neighbour)."""
    if scale <= 1:
        return image
    return image.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)


def save_png(grid: Tensor, path: str | Path, scale: int = 1) -> Path:
    """Write a ``(C, H, W)`` image in ``[0, 1]`` as PNG, enlarged ``scale`` times (nearest)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = enlarge(grid, scale)
    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
    return path


def png_scale(image_size: int) -> int:
    """Enlargement that makes small images visible: 8x8 digits x8, 28x28 x2."""
    return max(1, 64 // image_size)


def to_hwc(images: Tensor) -> np.ndarray:
    """``(n, C, H, W)`` → float32 ``(n, H, W)`` for grayscale, ``(n, H, W, C)`` otherwise."""
    array = images.float().cpu().numpy()
    return array[:, 0] if array.shape[1] == 1 else np.transpose(array, (0, 2, 3, 1))


def interpolation_noise(latent_dim: int, seed: int, steps: int) -> Tensor:
    """``(steps, latent_dim)`` noise on the straight line from ``noise(seed)`` to
    ``noise(seed + 1)``, both ends included."""
    z_a, z_b = noise(1, latent_dim, seed), noise(1, latent_dim, seed + 1)
    weights = torch.linspace(0.0, 1.0, steps).unsqueeze(1)  # (steps, 1)
    return (1.0 - weights) * z_a + weights * z_b


def write_samples(
    generator: Generator,
    out_dir: str | Path,
    n: int,
    seed: int,
    label: int | None = None,
    interpolation_steps: int = 10,
) -> dict[str, object]:
    """Write ``samples.png``, ``samples.npz`` and ``interpolation.png`` (the module contract).

    Args:
        generator: a :class:`~rl_lab.gan.models.Generator`; conditional when its
            ``num_classes`` is set.
        out_dir: folder to write into.
        n: number of samples.
        seed: seed of the noise (and of the interpolation's ends, ``seed`` and ``seed + 1``).
        label: class of every sample (conditional GAN); ``None`` cycles through the classes.
        interpolation_steps: images in the interpolation row.

    Returns:
        Paths (relative names) and counts for ``results.json``.
    """
    out_dir = Path(out_dir)
    latent_dim, num_classes = generator.latent_dim, generator.num_classes
    labels = None
    if num_classes:
        labels = (
            cycled_labels(n, num_classes)
            if label is None
            else torch.full((n,), label, dtype=torch.int64)
        )
    images = generate(generator, noise(n, latent_dim, seed), labels)
    size = images.shape[-1]
    ncol = num_classes if num_classes and label is None else math.ceil(math.sqrt(n))
    save_png(image_grid(images, ncol), out_dir / "samples.png", png_scale(size))
    arrays = {"images": to_hwc(images)}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    np.savez(out_dir / "samples.npz", **cast(dict[str, Any], arrays))  # (savez also has flags)

    z_line = interpolation_noise(latent_dim, seed, interpolation_steps)
    line_labels = None
    if num_classes:
        line_labels = torch.full((interpolation_steps,), label or 0, dtype=torch.int64)
    line = generate(generator, z_line, line_labels)
    save_png(image_grid(line, interpolation_steps), out_dir / "interpolation.png", png_scale(size))
    return {
        "samples_png": "samples.png",
        "samples_npz": "samples.npz",
        "interpolation_png": "interpolation.png",
        "n": n,
        "label": label,
        "sample_seed": seed,
    }
