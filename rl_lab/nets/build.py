"""Config → network: registries of encoders and heads, and the Q-network they compose.

An encoder spec is a plain mapping (or an OmegaConf ``DictConfig``) naming a class and its
keyword arguments::

    {"type": "mlp", "hidden_sizes": [256, 256], "activation": "relu"}
    {"type": "nature_cnn", "features": 512}
    {"_target_": "my_pkg.MyEncoder", "width": 128}   # any nn.Module class by dotted path

The input size comes from the observation shape, never from the spec: the builder passes
``in_features=prod(obs_shape)`` or ``in_shape=obs_shape``, whichever the class accepts.
"""

import inspect
import math
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from torch import Tensor, nn

from rl_lab.config_dict import config_dict
from rl_lab.nets.conv import NatureCNN
from rl_lab.nets.dense import MLP
from rl_lab.nets.heads import DuelingQHead, QHead
from rl_lab.nets.init import init_output_layers, init_weights

#: Encoder name (the spec's ``type``) → class.
ENCODERS: dict[str, type[nn.Module]] = {"mlp": MLP, "nature_cnn": NatureCNN}

#: Head name (the spec's ``type``, or the spec itself as a string) → class.
HEADS: dict[str, type[nn.Module]] = {"q": QHead, "dueling": DuelingQHead}


class QNetwork(nn.Module):
    """Encoder followed by a Q head: observations → one Q-value per action.

    Args:
        encoder: maps ``(batch, *obs_shape)`` observations to ``(batch, features)``.
        head: maps ``(batch, features)`` to ``(batch, n_actions)``.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, obs: Tensor) -> Tensor:
        """Q-values ``(batch, n_actions)`` for a batch of observations ``(batch, *obs_shape)``."""
        return self.head(self.encoder(obs))


def _to_dict(spec: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, DictConfig):
        return config_dict(spec, resolve=True)
    return dict(spec)


def _resolve_class(
    kind: str, spec: dict[str, Any], registry: Mapping[str, type[nn.Module]]
) -> tuple[str, type[nn.Module]]:
    """Pop ``type`` or ``_target_`` from ``spec``; return a display name and the class."""
    if ("type" in spec) == ("_target_" in spec):
        raise ValueError(f"{kind} spec needs exactly one of 'type' or '_target_', got {spec}")
    if "type" in spec:
        name = spec.pop("type")
        if name not in registry:
            valid = ", ".join(sorted(registry))
            raise ValueError(f"unknown {kind} type {name!r}; valid types: {valid}")
        return name, registry[name]

    from hydra.utils import get_class  # hydra is slow to import; only `_target_` specs need it

    target = spec.pop("_target_")
    cls = get_class(target)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{kind} _target_ {target!r} is not an nn.Module class")
    return target, cls


def _construct(
    kind: str, name: str, cls: type[nn.Module], kwargs: dict[str, Any], inputs: dict[str, Any]
) -> nn.Module:
    """Call ``cls(**inputs, **kwargs)`` after checking every key against its signature."""
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in kwargs:
        if key in inputs:
            raise ValueError(
                f"{kind} {name!r}: {key!r} is derived from the observation/action space; "
                "remove it from the spec"
            )
        if not takes_any and key not in params:
            valid = ", ".join(k for k in params if k not in inputs)
            raise ValueError(f"{kind} {name!r} got unknown argument {key!r}; valid: {valid}")
    return cls(**inputs, **kwargs)


def build_encoder(spec: Mapping[str, Any], obs_shape: tuple[int, ...]) -> nn.Module:
    """Build an encoder from a config spec.

    Args:
        spec: mapping or ``DictConfig`` with ``type`` (a key of :data:`ENCODERS`) or
            ``_target_`` (dotted path to an ``nn.Module`` class), plus the class's keyword
            arguments except its input size.
        obs_shape: one observation's shape, e.g. ``(4,)`` or ``(4, 84, 84)``. The class gets
            ``in_features=prod(obs_shape)`` if it takes ``in_features``, else
            ``in_shape=obs_shape``.

    Returns:
        The encoder, with torch's default initialisation.

    Raises:
        ValueError: unknown ``type`` (lists the registry), an argument the class does not take
            (names the encoder and the key), or a class taking neither input keyword.
    """
    kwargs = _to_dict(spec)
    name, cls = _resolve_class("encoder", kwargs, ENCODERS)
    params = inspect.signature(cls).parameters
    if "in_features" in params:
        inputs: dict[str, Any] = {"in_features": math.prod(obs_shape)}
    elif "in_shape" in params:
        inputs = {"in_shape": tuple(obs_shape)}
    else:
        raise ValueError(f"encoder {name!r} takes neither 'in_features' nor 'in_shape'")
    return _construct("encoder", name, cls, kwargs, inputs)


def build_head(spec: str | Mapping[str, Any], in_features: int, n_actions: int) -> nn.Module:
    """Build a head from a registry name or a spec mapping.

    Args:
        spec: a key of :data:`HEADS` (``"q"``, ``"dueling"``), or a mapping / ``DictConfig``
            with ``type`` (or ``_target_``) and keyword arguments, e.g.
            ``{"type": "dueling", "hidden": 256}``.
        in_features: size of the encoder's output features.
        n_actions: number of discrete actions.

    Raises:
        ValueError: unknown type, or an argument the head does not take.
    """
    kwargs = {"type": spec} if isinstance(spec, str) else _to_dict(spec)
    name, cls = _resolve_class("head", kwargs, HEADS)
    inputs = {"in_features": in_features, "n_actions": n_actions}
    return _construct("head", name, cls, kwargs, inputs)


def build_q_network(
    encoder: Mapping[str, Any],
    head: str | Mapping[str, Any],
    obs_shape: tuple[int, ...],
    n_actions: int,
    init: str = "orthogonal",
) -> QNetwork:
    """Build and initialise a Q-network from config specs.

    Args:
        encoder: encoder spec, see :func:`build_encoder`. The encoder must have ``out_features``.
        head: head spec, see :func:`build_head`.
        obs_shape: one observation's shape.
        n_actions: number of discrete actions.
        init: scheme for :func:`rl_lab.nets.init.init_weights`. The encoder and head hidden
            layers get the scheme's default gain; the head's output layers get gain 1.0.

    Returns:
        A :class:`QNetwork` mapping ``(batch, *obs_shape)`` to ``(batch, n_actions)``.
    """
    enc = build_encoder(encoder, obs_shape)
    in_features = getattr(enc, "out_features", None)
    if in_features is None:
        raise ValueError(f"encoder {type(enc).__name__} must expose an 'out_features' attribute")
    q_head = build_head(head, in_features, n_actions)
    init_weights(enc, init)
    init_weights(q_head, init)
    if init != "default":  # "default" keeps torch's initialisation everywhere
        init_output_layers(q_head, init, gain=1.0)
    return QNetwork(enc, q_head)
