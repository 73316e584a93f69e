import pytest
import torch
from torch import nn

from rl_lab.nets.dense import MLP


def test_default_mlp_shapes_and_layer_order() -> None:
    mlp = MLP(8)
    assert mlp.out_features == 64
    assert mlp(torch.randn(5, 8)).shape == (5, 64)
    types = [type(layer) for layer in mlp.layers]
    assert types == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]


@pytest.mark.parametrize(
    ("norm", "norm_type"), [("layer", nn.LayerNorm), ("batch", nn.BatchNorm1d)]
)
def test_norm_follows_linear_before_activation(norm: str, norm_type: type) -> None:
    mlp = MLP(6, hidden_sizes=(16, 4), activation="tanh", norm=norm)
    types = [type(layer) for layer in mlp.layers]
    assert types == [nn.Linear, norm_type, nn.Tanh, nn.Linear, norm_type, nn.Tanh]
    assert mlp(torch.randn(3, 6)).shape == (3, 4)


def test_layer_norm_normalises_each_sample() -> None:
    # activation "identity" exposes the LayerNorm output (weight 1, bias 0 at init).
    mlp = MLP(6, hidden_sizes=(32,), activation="identity", norm="layer")
    out = mlp(torch.randn(4, 6) * 10 + 3)
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(4), atol=1e-5, rtol=0)


def test_dropout_active_in_train_only() -> None:
    torch.manual_seed(0)
    mlp = MLP(10, hidden_sizes=(256,), dropout=0.5)
    assert any(isinstance(layer, nn.Dropout) for layer in mlp.layers)
    x = torch.randn(4, 10)
    assert not torch.equal(mlp(x), mlp(x))  # different masks
    mlp.eval()
    assert torch.equal(mlp(x), mlp(x))


def test_no_dropout_layer_when_zero() -> None:
    assert not any(isinstance(layer, nn.Dropout) for layer in MLP(4, dropout=0.0).layers)


def test_flattens_multidimensional_input() -> None:
    mlp = MLP(64, hidden_sizes=(32,))
    image = torch.randn(3, 8, 8)
    out = mlp(image)
    assert out.shape == (3, 32)
    torch.testing.assert_close(out, mlp(image.reshape(3, 64)))


def test_empty_hidden_sizes_is_flatten_only() -> None:
    mlp = MLP(12, hidden_sizes=[])
    assert mlp.out_features == 12
    assert len(list(mlp.parameters())) == 0
    x = torch.randn(2, 3, 4)
    assert torch.equal(mlp(x), x.reshape(2, 12))


def test_wrong_input_size_names_the_mismatch() -> None:
    with pytest.raises(ValueError, match="expects 8 features per sample, got 6"):
        MLP(8)(torch.randn(2, 6))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"norm": "group"}, "unknown norm 'group'; valid names: batch, layer"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"activation": "swish"}, "unknown activation 'swish'"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MLP(4, **kwargs)
