import numpy as np
import pytest
import torch
from PIL import Image

from rl_lab.gan.models import Generator
from rl_lab.gan.sampling import (
    cycled_labels,
    enlarge,
    generate,
    image_grid,
    interpolation_noise,
    noise,
    to_signed,
    to_unit,
    write_samples,
)


def test_scaling_round_trip_and_noise_is_seeded() -> None:
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(to_unit(to_signed(x)), x)
    torch.testing.assert_close(noise(3, 5, seed=7), noise(3, 5, seed=7))
    assert not torch.allclose(noise(3, 5, seed=7), noise(3, 5, seed=8))
    assert cycled_labels(5, 3).tolist() == [0, 1, 2, 0, 1]


def test_interpolation_runs_between_the_two_seeds() -> None:
    line = interpolation_noise(6, seed=4, steps=5)
    torch.testing.assert_close(line[0], noise(1, 6, 4)[0])
    torch.testing.assert_close(line[-1], noise(1, 6, 5)[0])
    torch.testing.assert_close(line[2], (line[0] + line[-1]) / 2)


def test_image_grid_layout() -> None:
    images = torch.zeros(5, 1, 4, 4)
    grid = image_grid(images, ncol=3, padding=1)
    assert grid.shape == (1, 2 * 5 + 1, 3 * 5 + 1)
    assert grid[0, 1:5, 1:5].eq(0).all() and grid[0, 6:10, 11:15].eq(1).all()  # 6th cell empty


def test_enlarge_repeats_pixels() -> None:
    image = torch.tensor([[[0.0, 1.0]]])  # (1, 1, 2)
    assert enlarge(image, 2).tolist() == [[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]]
    assert enlarge(image, 1) is image


def test_generate_restores_training_mode() -> None:
    g = Generator((1, 8, 8), latent_dim=4, width=4)
    images = generate(g, noise(7, 4, 0), batch_size=3)
    assert images.shape == (7, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert g.training


@pytest.mark.parametrize("label", [None, 3])
def test_conditional_sample_files_match_the_contract(tmp_path, label) -> None:
    g = Generator((1, 8, 8), latent_dim=4, width=4, num_classes=10)
    info = write_samples(g, tmp_path, n=12, seed=1, label=label, interpolation_steps=6)
    with np.load(tmp_path / "samples.npz") as data:
        assert set(data.files) == {"images", "labels"}
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.float32 and images.shape == (12, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    expected = np.arange(12) % 10 if label is None else np.full(12, label)
    np.testing.assert_array_equal(labels, expected)
    for name in ("samples.png", "interpolation.png"):
        assert Image.open(tmp_path / name).size[0] > 0
    assert info["n"] == 12 and info["label"] == label
    # the same seed gives the same samples
    write_samples(g, tmp_path / "again", n=12, seed=1, label=label)
    with np.load(tmp_path / "again" / "samples.npz") as again:
        np.testing.assert_array_equal(again["images"], images)


def test_unconditional_colour_samples(tmp_path) -> None:
    g = Generator((3, 8, 8), latent_dim=4, width=4)
    write_samples(g, tmp_path, n=4, seed=0)
    with np.load(tmp_path / "samples.npz") as data:
        assert data.files == ["images"] and data["images"].shape == (4, 8, 8, 3)
    assert Image.open(tmp_path / "samples.png").mode == "RGB"
