import math

import pytest
import torch
from torch import nn

from rl_lab.nets.heads import DuelingQHead
from rl_lab.nets.init import INIT_SCHEMES, init_output_layers, init_weights


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 3),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 64),
        nn.LayerNorm(64),
    )


@pytest.mark.parametrize("gain", [None, 0.5])
def test_orthogonal_square_layer(gain: float | None) -> None:
    layer = nn.Linear(32, 32)
    init_weights(layer, "orthogonal", gain=gain)
    expected = math.sqrt(2) if gain is None else gain
    w = layer.weight.detach()
    torch.testing.assert_close(w @ w.T, expected**2 * torch.eye(32), atol=1e-5, rtol=0)
    assert not layer.bias.any()


@pytest.mark.parametrize("scheme", ["orthogonal", "kaiming", "xavier"])
def test_every_layer_initialised_biases_zero(scheme: str) -> None:
    torch.manual_seed(0)
    net = _net()
    before = [p.clone() for p in net.parameters()]
    init_weights(net, scheme)
    for layer in (net[0], net[2], net[4]):
        assert not layer.bias.any()
    for old, new, (name, _) in zip(before, net.parameters(), net.named_parameters(), strict=True):
        if name.startswith(("0.", "2.", "4.")) and name.endswith("weight"):
            assert not torch.equal(old, new), name
    # LayerNorm keeps its defaults.
    assert torch.equal(net[5].weight, torch.ones(64)) and not net[5].bias.any()


def test_kaiming_std_is_gain_over_sqrt_fan_in() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(400, 2000)
    init_weights(layer, "kaiming")
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    init_weights(layer, "kaiming", gain=1.0)
    assert layer.weight.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.02)


def test_xavier_bound() -> None:
    layer = nn.Linear(100, 300)
    init_weights(layer, "xavier", gain=2.0)
    bound = 2.0 * math.sqrt(6 / (100 + 300))
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound


def test_default_leaves_torch_init() -> None:
    net = _net()
    before = [p.clone() for p in net.parameters()]
    init_weights(net, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    with pytest.raises(ValueError, match="takes no gain"):
        init_weights(net, "default", gain=1.0)


def test_unknown_scheme_lists_schemes() -> None:
    with pytest.raises(ValueError, match="unknown init scheme 'he'") as err:
        init_weights(nn.Linear(2, 2), "he")
    for name in INIT_SCHEMES:
        assert name in str(err.value)


def test_small_gain_on_head_output_layers_only() -> None:
    head = DuelingQHead(16, 16, hidden=16)
    init_weights(head)  # whole head, default gain sqrt(2)
    hidden_before = head.advantage[0].weight.clone()
    init_output_layers(head, "orthogonal", gain=0.01)
    assert torch.equal(head.advantage[0].weight, hidden_before)
    w = head.advantage[-1].weight.detach()
    torch.testing.assert_close(w @ w.T, 1e-4 * torch.eye(16), atol=1e-7, rtol=0)
    assert head.value[-1].weight.norm().item() == pytest.approx(0.01, rel=1e-4)
    # The plain form also works directly on a head.
    init_weights(head, "orthogonal", gain=0.01)
    assert head.advantage[0].weight.norm(dim=1).max().item() == pytest.approx(0.01, rel=1e-4)


def test_init_output_layers_falls_back_to_last_layer() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    first = net[0].weight.clone()
    init_output_layers(net, gain=0.01)
    assert torch.equal(net[0].weight, first)
    assert net[2].weight.abs().max() <= 0.01 + 1e-6
