"""DCGAN generator and discriminator, unconditional or conditioned on a class label.

Architecture (Radford et al. 2016, https://arxiv.org/abs/1511.06434), for ``k`` stages from
:func:`~rl_lab.nets.conv.dcgan_stages` (28x28: start 7, k = 2; 8x8: start 2, k = 2; 32x32:
start 4, k = 3) and width ``w``:

=====================  ============================================  =========================
network                layers                                        28x28, w = 64
=====================  ============================================  =========================
Generator              z (+ label embedding) → Linear → BN → ReLU    100 → 128 x 7 x 7
                       k - 1 x UpBlock (ConvT 4/2/1 → BN → ReLU)     → 64 x 14 x 14
                       ConvT 4/2/1 → tanh (image in [-1, 1])         → 1 x 28 x 28
Discriminator          x (+ label map channel)                       1 x 28 x 28
                       DownBlock (Conv 4/2/1 → LeakyReLU → Dropout)  → 64 x 14 x 14
                       k - 1 x DownBlock (+ BN when enabled)         → 128 x 7 x 7
                       Flatten → Linear → logit (+ label projection) → 1
=====================  ============================================  =========================

No pooling anywhere: strided convolutions down-sample, transposed ones up-sample. Conditional
networks (``num_classes`` set) take labels ``(batch,)`` int64: the generator concatenates a
learned label embedding to the noise; the discriminator either projects its features onto a
label embedding (``"projection"``, Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637) or
reads a learned label map as an extra input channel (``"label_map"``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rl_lab.gan.configs import CONDITIONING
from rl_lab.nets.conv import DownBlock, UpBlock, conv_output_size, dcgan_stages


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation, in place: conv and linear weights ~ N(0, 0.02), BatchNorm scales
    ~ N(1, 0.02), embeddings ~ N(0, 0.02), every bias 0 (Radford et al. 2016, section 4)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, Tensor):
            nn.init.zeros_(bias)


def _check_labels(labels: Tensor | None, num_classes: int | None, batch: int, who: str) -> None:
    if num_classes is None:
        if labels is not None:
            raise ValueError(f"this {who} is unconditional; it takes no labels")
        return
    if labels is None:
        raise ValueError(
            f"this conditional {who} needs labels (batch,) int64 in [0, {num_classes})"
        )
    if labels.shape != (batch,):
        raise ValueError(f"{who} labels must have shape ({batch},), got {tuple(labels.shape)}")


class Generator(nn.Module):
    """Noise (and a label) → image in ``[-1, 1]``.

    Args:
        image_shape: ``(channels, size, size)`` of the images to make (square).
        latent_dim: size of the noise vector ``z ~ N(0, I)``.
        width: channels of the last hidden stage; earlier stages double it (``w * 2**(k-1)``
            at the start map).
        activation: ``"relu"`` (DCGAN) or ``"leaky_relu"`` in the hidden stages.
        num_classes: labels to condition on; ``None`` = unconditional.
        embed_dim: size of the label embedding concatenated to the noise.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int = 100,
        width: int = 64,
        activation: str = "relu",
        num_classes: int | None = None,
        embed_dim: int = 50,
    ) -> None:
        super().__init__()
        channels, height, width_px = image_shape
        if height != width_px:
            raise ValueError(f"DCGAN needs square images, got {height}x{width_px}")
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        start, stages = dcgan_stages(height)
        hidden = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # k = 2: [2w, w]
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_features = latent_dim + (embed_dim if num_classes else 0)
        self.project = nn.Sequential(
            nn.Linear(in_features, hidden[0] * start * start, bias=False),
            nn.Unflatten(1, (hidden[0], start, start)),
            nn.BatchNorm2d(hidden[0]),
            nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2),
        )
        self.up = nn.Sequential(
            *[UpBlock(hidden[i], hidden[i + 1], activation) for i in range(len(hidden) - 1)]
        )
        self.to_image = nn.Sequential(
            nn.ConvTranspose2d(hidden[-1], channels, 4, stride=2, padding=1), nn.Tanh()
        )
        # dcgan_stages may round the start size up (8 -> 2 -> 8 exact; 27 -> 7 -> 28): crop
        self._made = start * 2**stages
        init_dcgan_weights(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images ``(batch, C, H, W)`` in ``[-1, 1]`` from noise ``(batch, latent_dim)``."""
        _check_labels(labels, self.num_classes, z.shape[0], "generator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        images = self.to_image(self.up(self.project(z)))
        size = self.image_shape[1]
        if self._made != size:
            offset = (self._made - size) // 2
            images = images[:, :, offset : offset + size, offset : offset + size]
        return images


class Discriminator(nn.Module):
    """Image (and a label) → one logit per image: real (> 0) or generated (< 0).

    Args:
        image_shape: ``(channels, size, size)`` of the images.
        width: channels of the first stage; each next stage doubles them.
        dropout: drop probability after every LeakyReLU (the seed notebook uses 0.4).
        batch_norm: BatchNorm in every stage but the first (DCGAN); off keeps each sample's
            logit independent of the rest of its batch.
        num_classes: labels to condition on; ``None`` = unconditional.
        conditioning: ``"projection"`` or ``"label_map"`` (see the module docstring).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        width: int = 64,
        dropout: float = 0.0,
        batch_norm: bool = False,
        num_classes: int | None = None,
        conditioning: str = "projection",
    ) -> None:
        super().__init__()
        channels, height, width_px = image_shape
        if height != width_px:
            raise ValueError(f"DCGAN needs square images, got {height}x{width_px}")
        if num_classes and conditioning not in CONDITIONING:
            raise ValueError(
                f"unknown conditioning {conditioning!r}; valid: {', '.join(CONDITIONING)}"
            )
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.conditioning = conditioning if num_classes else None
        _, stages = dcgan_stages(height)
        in_channels = channels + (1 if self.conditioning == "label_map" else 0)
        widths = [width * 2**i for i in range(stages)]  # e.g. [w, 2w]
        blocks = [DownBlock(in_channels, widths[0], batch_norm=False, dropout=dropout)]
        blocks += [
            DownBlock(widths[i], widths[i + 1], batch_norm=batch_norm, dropout=dropout)
            for i in range(stages - 1)
        ]
        self.features = nn.Sequential(*blocks, nn.Flatten())
        n_features = conv_output_size(self.features, (in_channels, height, height))
        self.head = nn.Linear(n_features, 1)
        self.label_map = (
            nn.Embedding(num_classes, height * height)
            if num_classes and self.conditioning == "label_map"
            else None
        )
        self.label_projection = (
            nn.Embedding(num_classes, n_features)
            if num_classes and self.conditioning == "projection"
            else None
        )
        init_dcgan_weights(self)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits ``(batch,)`` for images ``(batch, C, H, W)`` in ``[-1, 1]``."""
        _check_labels(labels, self.num_classes, images.shape[0], "discriminator")
        if self.label_map is not None:
            size = self.image_shape[1]
            label_channel = self.label_map(labels).view(-1, 1, size, size)
            images = torch.cat([images, label_channel], dim=1)
        h = self.features(images)  # (batch, n_features)
        logits = self.head(h).squeeze(1)
        if self.label_projection is not None:
            logits = logits + (self.label_projection(labels) * h).sum(dim=1)
        return logits


def build_gan(
    model_cfg: Any, image_shape: tuple[int, int, int], num_classes: int | None
) -> tuple[Generator, Discriminator]:
    """Generator and discriminator from the ``model`` config node (``model=dcgan|cgan``:
    rl_lab/gan/configs.py).

    Args:
        model_cfg: mapping with ``conditional``, ``latent_dim``, ``generator`` and
            ``discriminator`` sub-mappings.
        image_shape: ``(C, H, W)`` of the dataset.
        num_classes: the dataset's number of classes (used only when ``conditional``).
    """
    classes = num_classes if model_cfg["conditional"] else None
    g_cfg, d_cfg = model_cfg["generator"], model_cfg["discriminator"]
    generator = Generator(
        image_shape,
        latent_dim=int(model_cfg["latent_dim"]),
        width=int(g_cfg["width"]),
        activation=str(g_cfg["activation"]),
        num_classes=classes,
        embed_dim=int(g_cfg.get("embed_dim", 50)),
    )
    discriminator = Discriminator(
        image_shape,
        width=int(d_cfg["width"]),
        dropout=float(d_cfg["dropout"]),
        batch_norm=bool(d_cfg["batch_norm"]),
        num_classes=classes,
        conditioning=str(d_cfg.get("conditioning", "projection")),
    )
    return generator, discriminator
