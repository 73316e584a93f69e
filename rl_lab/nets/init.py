"""Weight initialisation schemes, applied to every Linear, Conv and ConvTranspose layer.

Other layers (LSTM, norms) keep torch's defaults.
"""

import math
from collections.abc import Callable

from torch import Tensor, nn

#: Layer types whose ``weight`` and ``bias`` :func:`init_weights` sets.
INIT_LAYER_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

RELU_GAIN = math.sqrt(2.0)


def _orthogonal(weight: Tensor, gain: float | None) -> None:
    # sqrt(2) keeps activation variance roughly constant through ReLU layers.
    nn.init.orthogonal_(weight, gain=RELU_GAIN if gain is None else gain)


def _kaiming(weight: Tensor, gain: float | None) -> None:
    # He normal: std = sqrt(2) / sqrt(fan_in). A given gain replaces sqrt(2) in that formula.
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
    if gain is not None:
        weight.mul_(gain / RELU_GAIN)


def _xavier(weight: Tensor, gain: float | None) -> None:
    nn.init.xavier_uniform_(weight, gain=1.0 if gain is None else gain)


#: Scheme name → function(weight, gain) that fills the weight in place; ``None`` = torch default.
INIT_SCHEMES: dict[str, Callable[[Tensor, float | None], None] | None] = {
    "orthogonal": _orthogonal,
    "kaiming": _kaiming,
    "xavier": _xavier,
    "default": None,
}


def _scheme(name: str) -> Callable[[Tensor, float | None], None] | None:
    if name not in INIT_SCHEMES:
        valid = ", ".join(sorted(INIT_SCHEMES))
        raise ValueError(f"unknown init scheme {name!r}; valid schemes: {valid}")
    return INIT_SCHEMES[name]


def init_weights(module: nn.Module, scheme: str = "orthogonal", gain: float | None = None) -> None:
    """Initialise every Linear/Conv/ConvTranspose layer in ``module`` (itself included), in place.

    Weights follow ``scheme``; biases are set to zero.

    Args:
        module: a layer or any network containing layers.
        scheme: ``"orthogonal"`` (gain default sqrt(2), Saxe et al. 2014), ``"kaiming"`` (He
            normal, fan_in, for ReLU: std = gain / sqrt(fan_in), gain default sqrt(2)),
            ``"xavier"`` (Glorot uniform, gain default 1) or ``"default"`` (leave torch's
            initialisation, biases included).
        gain: weight scale; ``None`` uses the scheme's default. Not allowed with ``"default"``.

    Raises:
        ValueError: unknown scheme (the message lists the valid ones), or a gain with
            ``"default"``.
    """
    fill = _scheme(scheme)
    if fill is None:
        if gain is not None:
            raise ValueError("init scheme 'default' keeps torch's initialisation; it takes no gain")
        return
    for layer in module.modules():
        if isinstance(layer, INIT_LAYER_TYPES):
            fill(layer.weight.data, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def output_layers(module: nn.Module) -> list[nn.Module]:
    """The layers producing ``module``'s output.

    Uses ``module.output_layers()`` when the module defines it (every head in
    :mod:`rl_lab.nets.heads` does), otherwise the last Linear/Conv/ConvTranspose layer in
    registration order.
    """
    own_output_layers = getattr(module, "output_layers", None)
    if own_output_layers is not None:
        return list(own_output_layers())
    layers = [layer for layer in module.modules() if isinstance(layer, INIT_LAYER_TYPES)]
    if not layers:
        raise ValueError(f"{type(module).__name__} has no Linear/Conv layer to initialise")
    return [layers[-1]]


def init_output_layers(module: nn.Module, scheme: str = "orthogonal", gain: float = 0.01) -> None:
    """Re-initialise only the output layers of a head, typically with a small gain.

    A small gain (0.01) makes a policy's initial action distribution near uniform; value and Q
    outputs usually take gain 1.0.

    Args:
        module: a head (or any network); see :func:`output_layers` for which layers are touched.
        scheme: as in :func:`init_weights`, except ``"default"``.
        gain: weight scale of the output layers.
    """
    for layer in output_layers(module):
        init_weights(layer, scheme, gain=gain)
