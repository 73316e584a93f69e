import pytest
import torch
from torch import nn

from rl_lab.nets.activations import ACTIVATIONS, make_activation


def test_registry_names() -> None:
    assert set(ACTIVATIONS) == {
        "relu",
        "tanh",
        "elu",
        "leaky_relu",
        "gelu",
        "silu",
        "identity",
        "sigmoid",
    }


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_make_activation_builds_fresh_module(name: str) -> None:
    first, second = make_activation(name), make_activation(name)
    assert isinstance(first, nn.Module) and first is not second
    x = torch.linspace(-2, 2, 9)
    assert first(x).shape == x.shape


def test_relu_and_identity_behave() -> None:
    x = torch.tensor([-1.0, 0.5])
    assert torch.equal(make_activation("relu")(x), torch.tensor([0.0, 0.5]))
    assert torch.equal(make_activation("identity")(x), x)


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown activation 'relu6'") as err:
        make_activation("relu6")
    for name in ACTIVATIONS:
        assert name in str(err.value)
