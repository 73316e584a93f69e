import pytest
import torch
from torch import nn

from rl_lab.gan.models import Discriminator, Generator, build_gan, init_dcgan_weights
from rl_lab.nets.conv import DownBlock, UpBlock, dcgan_stages


@pytest.mark.parametrize(
    ("size", "expected"),
    [(8, (2, 2)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (27, (7, 2))],
)
def test_dcgan_stages_follow_the_image_size(size: int, expected: tuple[int, int]) -> None:
    assert dcgan_stages(size) == expected


def test_dcgan_stages_rejects_tiny_images() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        dcgan_stages(3)


def test_blocks_double_and_halve_the_map() -> None:
    up = UpBlock(8, 4, activation="leaky_relu")
    assert up(torch.randn(2, 8, 7, 7)).shape == (2, 4, 14, 14)
    assert isinstance(up[1], nn.BatchNorm2d) and isinstance(up[2], nn.LeakyReLU)
    down = DownBlock(1, 4, dropout=0.4)
    assert down(torch.randn(2, 1, 28, 28)).shape == (2, 4, 14, 14)
    assert [type(m) for m in down] == [nn.Conv2d, nn.LeakyReLU, nn.Dropout]
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in [*up, *down])


@pytest.mark.parametrize("size", [8, 16, 28, 32])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_output_shapes_and_ranges(size: int, num_classes: int | None) -> None:
    torch.manual_seed(0)
    g = Generator((1, size, size), latent_dim=8, width=4, num_classes=num_classes)
    d = Discriminator((1, size, size), width=4, num_classes=num_classes, dropout=0.4)
    labels = torch.randint(0, 10, (5,)) if num_classes else None
    images = g(torch.randn(5, 8), labels)
    assert images.shape == (5, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert d(images, labels).shape == (5,)


def test_colour_images_and_label_map_conditioning() -> None:
    g = Generator((3, 16, 16), latent_dim=8, width=4, num_classes=3)
    d = Discriminator((3, 16, 16), width=4, num_classes=3, conditioning="label_map")
    labels = torch.tensor([0, 1, 2])
    images = g(torch.randn(3, 8), labels)
    assert images.shape == (3, 3, 16, 16)
    assert d.features[0][0].in_channels == 4  # image channels + the label map
    assert d(images, labels).shape == (3,)


def test_label_changes_the_sample_and_the_logit() -> None:
    torch.manual_seed(0)
    g = Generator((1, 8, 8), latent_dim=8, width=4, num_classes=10).eval()
    d = Discriminator((1, 8, 8), width=4, num_classes=10).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([1, 7])
    images = g(z, labels)
    assert not torch.allclose(images[0], images[1])
    same = images[:1].repeat(2, 1, 1, 1)
    logits = d(same, labels)
    assert not torch.allclose(logits[0], logits[1])


def test_dcgan_init_statistics() -> None:
    torch.manual_seed(0)
    g = Generator((1, 28, 28), latent_dim=100, width=64)
    weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.Linear)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    bn = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    layer = nn.Conv2d(1, 2, 3)
    init_dcgan_weights(layer)
    assert torch.all(layer.bias == 0)


def test_label_misuse_is_an_error() -> None:
    g = Generator((1, 8, 8), latent_dim=4, width=4)
    with pytest.raises(ValueError, match="unconditional"):
        g(torch.randn(2, 4), torch.tensor([0, 1]))
    cg = Generator((1, 8, 8), latent_dim=4, width=4, num_classes=3)
    with pytest.raises(ValueError, match="needs labels"):
        cg(torch.randn(2, 4))
    with pytest.raises(ValueError, match="square"):
        Generator((1, 8, 6))
    with pytest.raises(ValueError, match="unknown conditioning"):
        Discriminator((1, 8, 8), num_classes=3, conditioning="concat")


def test_build_gan_reads_the_model_config() -> None:
    cfg = {
        "conditional": True,
        "latent_dim": 12,
        "generator": {"width": 4, "activation": "leaky_relu", "embed_dim": 6},
        "discriminator": {"width": 4, "dropout": 0.4, "batch_norm": True},
    }
    g, d = build_gan(cfg, (1, 8, 8), num_classes=10)
    assert g.latent_dim == 12 and g.num_classes == 10 and g.embed.embedding_dim == 6
    assert any(isinstance(m, nn.Dropout) and m.p == 0.4 for m in d.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    g, d = build_gan({**cfg, "conditional": False}, (1, 8, 8), num_classes=10)
    assert g.num_classes is None and d.num_classes is None
