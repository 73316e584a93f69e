"""Convolutional networks, in sections:

1. Helpers shared by every convolutional stack (output size by dummy forward).
2. RL encoders: :class:`NatureCNN` for stacked Atari frames.
3. GAN blocks: the DCGAN generator and discriminator blocks (Radford et al. 2016) belong in
   their own section at the end of this module, reusing the helpers of section 1.
"""

import torch
from torch import Tensor, nn

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
        if obs.dtype == torch.uint8:
            obs = obs.float() / 255.0
        return self.fc(self.conv(obs))
