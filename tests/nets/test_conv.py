import pytest
import torch
from torch import nn

from rl_lab.nets.conv import NatureCNN, conv_output_size


def test_nature_cnn_architecture_and_shapes() -> None:
    cnn = NatureCNN((4, 84, 84))
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (8, 8), (4, 4)),
        (64, (4, 4), (2, 2)),
        (64, (3, 3), (1, 1)),
    ]
    assert cnn.fc[0].in_features == 64 * 7 * 7
    assert cnn.out_features == 512
    out = cnn(torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8))
    assert out.shape == (2, 512) and out.dtype == torch.float32
    assert (out >= 0).all()  # ends in ReLU


def test_uint8_input_is_scaled_by_1_over_255() -> None:
    torch.manual_seed(0)
    cnn = NatureCNN((4, 84, 84), features=32)
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    scaled = frames.float() / 255.0
    torch.testing.assert_close(cnn(frames), cnn(scaled))
    # Float input is not rescaled: unscaled floats give a different result.
    assert not torch.allclose(cnn(frames), cnn(frames.float()))


def test_flattened_size_follows_input_shape() -> None:
    cnn = NatureCNN((1, 64, 48), features=16)
    # 64 -> 15 -> 6 -> 4 ; 48 -> 11 -> 4 -> 2
    assert cnn.fc[0].in_features == 64 * 4 * 2
    assert cnn(torch.rand(2, 1, 64, 48)).shape == (2, 16)


def test_too_small_or_wrong_rank_input_raises() -> None:
    with pytest.raises(ValueError, match="does not fit the conv stack"):
        NatureCNN((4, 20, 20))
    with pytest.raises(ValueError, match=r"must be \(C, H, W\)"):
        NatureCNN((84, 84))  # type: ignore[arg-type]


def test_conv_output_size_leaves_batchnorm_stats_and_mode() -> None:
    stack = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten())
    assert conv_output_size(stack, (1, 5, 5)) == 2 * 3 * 3
    assert stack.training
    assert int(stack[1].num_batches_tracked) == 0
