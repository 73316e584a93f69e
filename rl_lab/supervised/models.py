"""Image classifiers built from the network zoo: ``cfg.model`` → ``nn.Module`` (logits out).

=========  ================================================================================
``mlp``    flatten → :class:`~rl_lab.nets.dense.MLP` (widths, activation, batch norm, dropout)
           → Linear
``cnn``    :class:`~rl_lab.nets.conv.ConvStack` (conv/pool blocks adapting to 8x8 or 28x28)
           → MLP → Linear; ``model=cnn`` is a deep net with batch norm,
           ``model=lenet`` (conf/model/lenet.yaml) a LeNet-5-style one
``lstm``   the image's rows as a sequence (``H`` steps of ``C*W`` features) →
           :class:`~rl_lab.nets.recurrent.LSTMEncoder` (last output) → Linear
=========  ================================================================================

The input shape and the number of classes come from the dataset, never from the config. Every
classifier outputs logits ``(batch, num_classes)``; the quadratic cost squashes them itself
(see :func:`rl_lab.supervised.classifier.classification_loss`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig
from torch import Tensor, nn

from rl_lab.config import build_config, rules_of
from rl_lab.config_dict import config_dict
from rl_lab.errors import ConfigError
from rl_lab.nets.conv import ConvStack
from rl_lab.nets.dense import MLP
from rl_lab.nets.init import init_weights
from rl_lab.nets.recurrent import LSTMEncoder
from rl_lab.supervised.configs import (
    COMMON_MODEL_KEYS,
    CNNModelConfig,
    LSTMModelConfig,
    MLPModelConfig,
)


class MLPClassifier(nn.Module):
    """Flatten → hidden layers → Linear(num_classes).

    Args:
        in_shape: one image's shape ``(C, H, W)``.
        num_classes: number of outputs.
        hidden_sizes: width of each hidden layer.
        activation: hidden activation (``relu``, ``sigmoid``, ...).
        batch_norm: BatchNorm1d after each hidden Linear.
        dropout: drop probability after each hidden activation.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        hidden_sizes: list[int] | tuple[int, ...] = (300, 100),
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.body = MLP(
            math.prod(in_shape),
            hidden_sizes,
            activation,
            norm="batch" if batch_norm else None,
            dropout=dropout,
        )
        self.output = nn.Linear(self.body.out_features, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """``(batch, C, H, W)`` images → ``(batch, num_classes)`` logits."""
        return self.output(self.body(images))


class ConvClassifier(nn.Module):
    """Conv blocks → hidden Linear layers → Linear(num_classes).

    Args:
        in_shape: one image's shape ``(C, H, W)``.
        num_classes: number of outputs.
        channels, kernel_size, convs_per_block, pool, batch_norm, activation: the
            :class:`~rl_lab.nets.conv.ConvStack`.
        conv_dropout: dropout after each conv block.
        hidden_sizes: widths of the dense layers after the conv blocks.
        dropout: dropout after each dense hidden layer.

    The defaults are ``model=cnn``'s (:class:`~rl_lab.supervised.configs.CNNModelConfig`; a test
    keeps the two equal).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        channels: list[int] | tuple[int, ...] = (16, 32),
        kernel_size: int = 3,
        convs_per_block: int = 2,
        pool: str = "max",
        batch_norm: bool = True,
        activation: str = "relu",
        conv_dropout: float = 0.0,
        hidden_sizes: list[int] | tuple[int, ...] = (256,),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.features = ConvStack(
            in_shape,
            tuple(channels),
            kernel_size,
            convs_per_block,
            pool,
            batch_norm,
            activation,
            conv_dropout,
        )
        self.head = MLP(
            self.features.out_features,
            hidden_sizes,
            activation,
            norm="batch" if batch_norm else None,
            dropout=dropout,
        )
        self.output = nn.Linear(self.head.out_features, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """``(batch, C, H, W)`` images → ``(batch, num_classes)`` logits."""
        return self.output(self.head(self.features(images)))


class RowLSTMClassifier(nn.Module):
    """Reads an image row by row with an LSTM and classifies from its last output.

    ``(batch, C, H, W)`` → ``H`` steps of ``C*W`` features → LSTM → Linear(num_classes).

    Args:
        in_shape: one image's shape ``(C, H, W)``.
        num_classes: number of outputs.
        hidden_size, num_layers, bidirectional, dropout: the
            :class:`~rl_lab.nets.recurrent.LSTMEncoder`.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, _, width = in_shape
        self.encoder = LSTMEncoder(
            channels * width, hidden_size, num_layers, bidirectional, dropout
        )
        self.output = nn.Linear(self.encoder.out_features, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """``(batch, C, H, W)`` images → ``(batch, num_classes)`` logits."""
        batch, channels, height, width = images.shape
        rows = images.permute(0, 2, 1, 3).reshape(batch, height, channels * width)  # (B, H, C*W)
        return self.output(self.encoder(rows))


#: ``model.type`` → (the classifier class, its config class: the ``cfg.model`` keys it takes).
MODEL_TYPES: dict[str, tuple[Callable[..., nn.Module], type]] = {
    "mlp": (MLPClassifier, MLPModelConfig),
    "cnn": (ConvClassifier, CNNModelConfig),
    "lstm": (RowLSTMClassifier, LSTMModelConfig),
}


def _model_dict(cfg: Mapping[str, Any] | DictConfig) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return config_dict(cfg, resolve=True)
    return dict(cfg)


def validate_model_config(cfg: Mapping[str, Any] | DictConfig) -> None:
    """Check ``cfg.model``: a known ``type``, its keys and their values (one ConfigError)."""
    spec = _model_dict(cfg)
    kind = spec.get("type")
    if kind not in MODEL_TYPES:
        raise ConfigError(
            f"Unknown model type {kind!r} (model={spec.get('name')}). Available types: "
            f"{', '.join(MODEL_TYPES)}. Choose a model with `model=mlp|lenet|cnn|lstm` "
            "or set model.type."
        )
    _, config_cls = MODEL_TYPES[kind]
    known = {f.name for f in dataclasses.fields(config_cls)}
    problems = [f"unknown key `model.{key}`" for key in spec if key not in known]
    for rule in rules_of(config_cls, ""):
        if rule.key not in spec:  # a config written before the key existed: its default
            continue
        ok, _ = rule.check(spec[rule.key])
        if not ok:
            problems.append(
                f"`model.{rule.key}={spec.get(rule.key)!r}` (expected {rule.allowed()})"
            )
    for key in ("hidden_sizes", "channels"):
        values = spec.get(key)
        if isinstance(values, list) and not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
        ):
            problems.append(f"`model.{key}={values!r}` (expected a list of integers >= 1)")
    if kind == "cnn" and spec.get("kernel_size", 1) % 2 == 0:
        problems.append(f"`model.kernel_size={spec['kernel_size']}` (expected an odd size)")
    if problems:
        valid = ", ".join(sorted(known))
        raise ConfigError(
            f"Invalid model configuration (model={spec.get('name')}, type {kind}): "
            + "; ".join(problems)
            + f". Keys of this type: {valid}. Fix them on the command line (e.g. "
            "`model.hidden_sizes=[300,100]`); `python -m rl_lab.schema model=<type>` lists "
            "each key."
        )


def build_classifier(
    cfg: Mapping[str, Any] | DictConfig, in_shape: tuple[int, int, int], num_classes: int
) -> nn.Module:
    """Build and initialise the classifier ``cfg.model`` describes.

    Args:
        cfg: the ``model`` node: ``type`` (``mlp``, ``cnn``, ``lstm``), ``init`` (a scheme of
            :func:`rl_lab.nets.init.init_weights`: ``xavier`` = Keras' Glorot uniform with zero
            biases, ``kaiming``, ``orthogonal``, ``default`` = torch's), and the type's keys.
        in_shape: one image's shape ``(C, H, W)``.
        num_classes: number of classes (output logits).
    """
    validate_model_config(cfg)
    spec = _model_dict(cfg)
    cls, config_cls = MODEL_TYPES[spec["type"]]
    config: Any = build_config(config_cls, spec)
    kwargs = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.name not in COMMON_MODEL_KEYS
    }
    model = cls(tuple(in_shape), num_classes, **kwargs)
    init_weights(model, config.init)
    return model
