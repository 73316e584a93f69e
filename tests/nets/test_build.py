import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rl_lab.nets.build import (
    ENCODERS,
    HEADS,
    QNetwork,
    build_encoder,
    build_head,
    build_q_network,
)
from rl_lab.nets.conv import NatureCNN
from rl_lab.nets.dense import MLP
from rl_lab.nets.heads import DuelingQHead, QHead


class TinyEncoder(nn.Module):
    """Encoder reachable only through ``_target_`` (not in the registry)."""

    def __init__(self, in_features: int, width: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, width)
        self.out_features = width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.linear(obs.flatten(1))


def test_registries() -> None:
    assert {"mlp": MLP, "nature_cnn": NatureCNN} == ENCODERS
    assert {"q": QHead, "dueling": DuelingQHead} == HEADS


def test_build_mlp_gets_prod_of_obs_shape() -> None:
    spec = {"type": "mlp", "hidden_sizes": [32, 16], "activation": "tanh"}
    enc = build_encoder(spec, (2, 3))
    assert isinstance(enc, MLP) and enc.in_features == 6 and enc.out_features == 16
    assert spec["type"] == "mlp"  # the caller's spec is not mutated


def test_build_nature_cnn_gets_obs_shape() -> None:
    enc = build_encoder({"type": "nature_cnn", "features": 64}, (4, 84, 84))
    assert isinstance(enc, NatureCNN) and enc.in_shape == (4, 84, 84) and enc.out_features == 64


def test_target_spec_uses_any_module_class() -> None:
    enc = build_encoder({"_target_": f"{__name__}.TinyEncoder", "width": 5}, (2, 2))
    assert isinstance(enc, TinyEncoder) and enc.linear.in_features == 4 and enc.out_features == 5


def test_unknown_type_lists_registry() -> None:
    with pytest.raises(
        ValueError, match="unknown encoder type 'resnet'; valid types: mlp, nature_cnn"
    ):
        build_encoder({"type": "resnet"}, (4,))
    with pytest.raises(ValueError, match="unknown head type 'c51'; valid types: dueling, q"):
        build_head("c51", 8, 2)


def test_bad_kwarg_names_encoder_and_key() -> None:
    with pytest.raises(ValueError, match="encoder 'mlp' got unknown argument 'hidden'"):
        build_encoder({"type": "mlp", "hidden": [8]}, (4,))
    with pytest.raises(ValueError, match="'in_features' is derived"):
        build_encoder({"type": "mlp", "in_features": 3}, (4,))
    with pytest.raises(ValueError, match="head 'dueling' got unknown argument 'width'"):
        build_head({"type": "dueling", "width": 8}, 8, 2)


def test_spec_needs_type_or_target() -> None:
    with pytest.raises(ValueError, match="exactly one of 'type' or '_target_'"):
        build_encoder({"hidden_sizes": [8]}, (4,))


def test_build_q_network_from_dictconfig() -> None:
    cfg = OmegaConf.create(
        {
            "width": 32,
            "model": {
                "encoder": {"type": "mlp", "hidden_sizes": ["${width}", "${width}"]},
                "head": {"type": "dueling", "hidden": 16},
            },
        }
    )
    net = build_q_network(cfg.model.encoder, cfg.model.head, obs_shape=(4,), n_actions=3)
    assert isinstance(net, QNetwork) and isinstance(net.head, DuelingQHead)
    assert net.encoder.out_features == 32  # interpolation resolved
    assert net(torch.randn(5, 4)).shape == (5, 3)
    # Encoder: orthogonal, gain sqrt(2) (square 32x32 layer); head outputs: gain 1.0.
    w = net.encoder.layers[2].weight.detach()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(32), atol=1e-5, rtol=0)
    assert net.head.value[-1].weight.norm().item() == pytest.approx(1.0, rel=1e-5)
    a = net.head.advantage[-1].weight.detach()  # (3, 16): orthonormal rows times gain 1
    torch.testing.assert_close(a @ a.T, torch.eye(3), atol=1e-5, rtol=0)
    assert all(not m.bias.any() for m in net.modules() if isinstance(m, nn.Linear))


def test_build_q_network_default_init_leaves_torch_defaults() -> None:
    torch.manual_seed(0)
    net = build_q_network({"type": "mlp", "hidden_sizes": [8]}, "q", (4,), 2, init="default")
    assert net.head.q.bias.any()  # torch's default bias init is non-zero


@pytest.mark.parametrize(
    ("encoder", "head", "obs_shape", "dtype"),
    [
        (
            {"type": "mlp", "hidden_sizes": [16], "norm": "layer"},
            {"type": "dueling", "hidden": 8},
            (3, 2),
            torch.float32,
        ),
        ({"type": "nature_cnn", "features": 32}, "q", (4, 84, 84), torch.uint8),
    ],
)
def test_gradient_reaches_every_parameter(
    encoder: dict, head: str | dict, obs_shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    torch.manual_seed(0)
    net = build_q_network(encoder, head, obs_shape, n_actions=4, init="kaiming")
    obs = (torch.rand(4, *obs_shape) * 255).to(dtype)
    q = net(obs)
    assert q.shape == (4, 4)
    (q**2).mean().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
