"""Convolutional networks, in sections:

1. Helpers shared by every convolutional stack (output size by dummy forward).
2. RL encoders: :class:`NatureCNN` for stacked Atari frames.
3. GAN blocks (Radford et al. 2016): :func:`dcgan_stages` (start map size and number of stages
   for an image size), :class:`UpBlock` (generator stage) and :class:`DownBlock`
   (discriminator stage).
4. Classifier blocks: :class:`ConvStack`, conv/pool blocks that adapt to the image size.
"""

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rl_lab.nets.activations import make_activation

# --- 1. Helpers shared by every convolutional stack ------------------------------------------


def conv_output_size(conv: nn.Module, in_shape: tuple[int, ...]) -> int:
    """Number of features a conv stack outputs per sample, found by a dummy forward pass.

    A dummy pass avoids hand-written ``(H - k) // s + 1`` arithmetic that silently drifts when a
    layer changes.

    Args:
        conv: the stack, taking ``(batch, *in_shape)`` float input.
        in_shape: one sample's shape, e.g. ``(C, H, W)``.

    Returns:
        ``prod`` of the output shape without its batch dimension.

    Raises:
        ValueError: the input is too small (or wrongly shaped) for the stack.
    """
    param = next(conv.parameters(), None)
    device = param.device if param is not None else None
    was_training = conv.training
    conv.eval()  # a dummy batch must not touch BatchNorm running statistics
    try:
        with torch.no_grad():
            out = conv(torch.zeros(1, *in_shape, device=device))
    except RuntimeError as err:
        shape = tuple(in_shape)
        raise ValueError(f"input shape {shape} does not fit the conv stack: {err}") from err
    finally:
        conv.train(was_training)
    return out[0].numel()


# --- 2. RL encoders ---------------------------------------------------------------------------


class NatureCNN(nn.Module):
    """The Nature DQN convolutional encoder (Mnih et al. 2015, https://doi.org/10.1038/nature14236).

    ``Conv(32, 8x8, stride 4) → ReLU → Conv(64, 4x4, stride 2) → ReLU → Conv(64, 3x3, stride 1)
    → ReLU → Flatten → Linear(features) → ReLU``.

    ``uint8`` input is converted to float and scaled by 1/255 inside :meth:`forward`, so replay
    buffers can store and move frames as bytes (4x less memory and host-to-device traffic). Float
    input is used as is: pass it already scaled to ``[0, 1]``.

    Args:
        in_shape: one observation's shape ``(channels, height, width)``, e.g. ``(4, 84, 84)`` for
            4 stacked 84x84 grey frames; height and width must be at least 36.
        features: width of the final Linear layer.

    Attributes:
        out_features: ``features``.
    """

    def __init__(self, in_shape: tuple[int, int, int], features: int = 512) -> None:
        super().__init__()
        if len(in_shape) != 3:
            raise ValueError(f"NatureCNN in_shape must be (C, H, W), got {tuple(in_shape)}")
        self.in_shape = tuple(in_shape)
        self.conv = nn.Sequential(
            nn.Conv2d(in_shape[0], 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        # 3136 = 64 * 7 * 7 for 84x84 input.
        n_flat = conv_output_size(self.conv, self.in_shape)
        self.fc = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.out_features = features

    def forward(self, obs: Tensor) -> Tensor:
        """Encode a batch of frames.

        Args:
            obs: ``(batch, C, H, W)``; ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``.

        Returns:
            ``(batch, features)`` float features.
        """
        first = cast(nn.Conv2d, self.conv[0])  # built in __init__
        # Training passes run channels-last, where oneDNN's convolution backward is fastest on
        # CPUs (about 15% off a whole DQN or PPO update); forward-only passes (acting, targets)
        # are as fast or faster in the default layout.
        layout = torch.channels_last if torch.is_grad_enabled() else torch.contiguous_format
        if obs.dtype == torch.uint8:
            # bytes -> float, then the layout (faster than both in one strided pass); the 1/255
            # scaling is folded into the first layer's weights instead of another pass
            x = obs.to(dtype=torch.float32).contiguous(memory_format=layout)
            weight = first.weight / 255.0
        else:
            x = obs.contiguous(memory_format=layout)
            weight = first.weight
        h = F.conv2d(x, weight, first.bias, stride=first.stride)
        return self.fc(self.conv[1:](h))  # Flatten reads (C, H, W) order whatever the layout


# --- 3. GAN blocks (DCGAN, Radford et al. 2016, https://arxiv.org/abs/1511.06434) -------------


def dcgan_stages(image_size: int, min_map: int = 4, max_stages: int = 4) -> tuple[int, int]:
    """How a DCGAN stack reaches ``image_size``: ``(start_size, n_stages)``.

    The generator starts from a ``start_size x start_size`` feature map and doubles it
    ``n_stages`` times; the discriminator halves the image the same number of times. The size
    is halved while it stays even and at least ``min_map`` (28 → 14 → 7: start 7, 2 stages;
    32 → 4: 3 stages). Fewer than 2 halvings (8x8 digits, odd sizes) use 2 stages from
    ``ceil(image_size / 4)``; the generator then makes ``start_size * 4 >= image_size`` pixels
    and crops the centre (8 → start 2; 27 → start 7, 28 cropped to 27).

    Args:
        image_size: height = width of the images, at least 4.
        min_map: smallest start map when halving exactly.
        max_stages: most up/down-sampling stages (64x64: 4 stages from 4x4).

    Raises:
        ValueError: ``image_size < 4``.
    """
    if image_size < 4:
        raise ValueError(f"DCGAN image size must be at least 4 pixels, got {image_size}")
    size, stages = image_size, 0
    while stages < max_stages and size % 2 == 0 and size // 2 >= min_map:
        size //= 2
        stages += 1
    if stages < 2:
        return -(-image_size // 4), 2
    return size, stages


class UpBlock(nn.Sequential):
    """Generator stage: ``ConvTranspose2d(4x4, stride 2, pad 1) → [BatchNorm2d] → activation``.

    Doubles the height and width: ``(batch, in_channels, s, s) → (batch, out_channels, 2s, 2s)``.
    No pooling or upsampling layers: the transposed convolution learns its own upsampling.

    Args:
        in_channels, out_channels: feature maps in and out.
        activation: ``"relu"`` (DCGAN) or ``"leaky_relu"`` (slope 0.2).
        batch_norm: add BatchNorm2d (the conv then has no bias: BatchNorm's shift replaces it).
    """

    def __init__(
        self, in_channels: int, out_channels: int, activation: str = "relu", batch_norm: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(
                in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm
            )
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(_gan_activation(activation))
        super().__init__(*layers)


class DownBlock(nn.Sequential):
    """Discriminator stage: ``Conv2d(4x4, stride 2, pad 1) → [BatchNorm2d] → LeakyReLU(0.2)
    → [Dropout]``.

    Halves the height and width (floor): ``(batch, in_channels, s, s) → (batch, out_channels,
    s // 2, s // 2)``. The stride replaces pooling, as in DCGAN.

    Args:
        in_channels, out_channels: feature maps in and out.
        batch_norm: add BatchNorm2d (DCGAN leaves it out of the first stage).
        dropout: drop probability in ``[0, 1)`` after the activation (0.4 in the seed notebook).
    """

    def __init__(
        self, in_channels: int, out_channels: int, batch_norm: bool = False, dropout: float = 0.0
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DownBlock dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(_gan_activation("leaky_relu"))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def _gan_activation(name: str) -> nn.Module:
    # DCGAN's LeakyReLU slope is 0.2, not torch's default 0.01.
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"unknown GAN block activation {name!r}; valid names: leaky_relu, relu")


# --- 4. Classifier blocks ---------------------------------------------------------------------


class ConvStack(nn.Sequential):
    """Image trunk of conv blocks that adapts to the input size.

    Each block is ``[Conv2d(k x k, "same" padding) → [BatchNorm2d] → activation] ×
    convs_per_block → pool(2) → [Dropout]``; a block pools only while its map is at least 4
    pixels high and wide, so the same stack fits 8x8 digits (8 → 4 → 2) and 28x28 images
    (28 → 14 → 7 → 3). The output is flattened: ``(batch, out_features)``.

    Args:
        in_shape: one image's shape ``(C, H, W)``.
        channels: output channels of each block, e.g. ``(32, 64)``.
        kernel_size: odd convolution size (``"same"`` padding keeps the map size).
        convs_per_block: convolutions before each pooling (1: LeNet, 2: VGG-style).
        pool: ``"max"`` or ``"avg"`` (2x2, stride 2).
        batch_norm: BatchNorm2d after each convolution (the convolution then has no bias).
        activation: name from :data:`rl_lab.nets.activations.ACTIVATIONS`.
        dropout: drop probability after each block's pooling; 0 adds no Dropout.

    Attributes:
        out_shape: ``(channels[-1], H', W')`` of the last feature map.
        out_features: ``prod(out_shape)``.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        channels: tuple[int, ...] | list[int] = (32, 64),
        kernel_size: int = 3,
        convs_per_block: int = 1,
        pool: str = "max",
        batch_norm: bool = False,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        if len(in_shape) != 3:
            raise ValueError(f"ConvStack in_shape must be (C, H, W), got {tuple(in_shape)}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ConvStack kernel_size must be odd, got {kernel_size}")
        if pool not in ("max", "avg"):
            raise ValueError(f"ConvStack pool must be 'max' or 'avg', got {pool!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ConvStack dropout must be in [0, 1), got {dropout}")
        if not channels or convs_per_block < 1:
            raise ValueError("ConvStack needs at least one block and one conv per block")
        layers: list[nn.Module] = []
        width, (height, breadth) = in_shape[0], in_shape[1:]
        for out_channels in channels:
            for _ in range(convs_per_block):
                layers.append(
                    nn.Conv2d(
                        width,
                        out_channels,
                        kernel_size,
                        padding=kernel_size // 2,
                        bias=not batch_norm,
                    )
                )
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out_channels))
                layers.append(make_activation(activation))
                width = out_channels
            if min(height, breadth) >= 4:
                layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
                height, breadth = height // 2, breadth // 2
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Flatten())
        super().__init__(*layers)
        self.in_shape = tuple(in_shape)
        self.out_shape = (width, height, breadth)
        self.out_features = width * height * breadth
