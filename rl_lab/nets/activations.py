"""Activation registry: config names → ``torch.nn`` activation classes.

Configs name activations by string (``activation: relu``); this module turns the name into a
module and rejects typos with a message that lists every valid name.
"""

from torch import nn

#: Activation name → ``nn.Module`` class (constructed with no arguments, torch defaults).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,  # the classic shallow nets' hidden layers
}


def make_activation(name: str) -> nn.Module:
    """Build a fresh activation module from its registry name.

    Args:
        name: a key of :data:`ACTIVATIONS`, e.g. ``"relu"``.

    Returns:
        A new instance (activations are stateless, but a fresh one per layer keeps
        ``print(model)`` and hooks unambiguous).

    Raises:
        ValueError: ``name`` is not registered; the message lists the valid names.
    """
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid names: {valid}") from None
