"""Classifiers from the zoo: shapes for 8x8 and 28x28 images, config checks, real learning."""

from __future__ import annotations

import pytest
import torch

from rl_lab.config_dict import group_option
from rl_lab.errors import ConfigError
from rl_lab.nets.conv import ConvStack
from rl_lab.nets.recurrent import LSTMEncoder
from rl_lab.supervised.classifier import ClassifierTrainer
from rl_lab.supervised.configs import MODEL_CONFIGS
from rl_lab.supervised.models import (
    ConvClassifier,
    MLPClassifier,
    RowLSTMClassifier,
    build_classifier,
    validate_model_config,
)


def model_cfg(name: str, **changes):
    """The ``model=<name>`` option as a run composes it (a typed config or conf/model/*.yaml
    on top of one), with ``changes``."""
    cfg = group_option("model", name, MODEL_CONFIGS)
    assert cfg is not None
    for key, value in changes.items():
        cfg[key] = value
    return cfg


@pytest.mark.parametrize("name", ["mlp", "cnn", "lenet", "lstm"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 12, 12)])
def test_every_model_file_builds_for_small_and_large_images(name, shape):
    model = build_classifier(model_cfg(name), shape, num_classes=7)
    model.train()
    logits = model(torch.rand(5, *shape))
    assert logits.shape == (5, 7)
    logits.sum().backward()  # every parameter takes part
    assert all(p.grad is not None for p in model.parameters())


def test_conv_stack_pools_only_while_the_map_is_large_enough():
    assert ConvStack((1, 8, 8), (8, 16, 32)).out_shape == (32, 2, 2)  # 8 -> 4 -> 2 -> 2
    assert ConvStack((1, 28, 28), (8, 16, 32)).out_shape == (32, 3, 3)  # 28 -> 14 -> 7 -> 3
    deep = ConvStack((1, 28, 28), (4,), convs_per_block=2, batch_norm=True)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in deep) == 2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in deep) == 2


def test_the_lstm_reads_rows_and_classifies_from_the_last_output():
    model = RowLSTMClassifier((1, 28, 28), 10, hidden_size=16)
    assert model.encoder.lstm.input_size == 28  # one row of 28 pixels per step
    images = torch.rand(3, 1, 28, 28)
    rows = images.squeeze(1)  # (batch, 28 steps, 28 features)
    out, _ = model.encoder.lstm(rows)
    assert torch.allclose(model.encoder(rows), out[:, -1])
    assert torch.allclose(model(images), model.output(out[:, -1]))


def test_a_bidirectional_encoder_joins_both_directions_final_states():
    encoder = LSTMEncoder(4, hidden_size=6, num_layers=2, bidirectional=True)
    assert encoder.out_features == 12
    x = torch.rand(2, 5, 4)
    out, _ = encoder.lstm(x)  # (batch, T, 2 * hidden): forward half, backward half
    expected = torch.cat((out[:, -1, :6], out[:, 0, 6:]), dim=1)
    assert torch.allclose(encoder(x), expected)


def test_mlp_options_and_xavier_init():
    model = build_classifier(
        model_cfg("mlp", hidden_sizes=[20, 10], batch_norm=True, dropout=0.5), (1, 8, 8), 10
    )
    assert isinstance(model, MLPClassifier)
    layers = [type(m).__name__ for m in model.body.layers]
    assert layers == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2
    assert torch.count_nonzero(model.output.bias) == 0  # Glorot uniform with zero biases
    assert model.output.weight.abs().max() <= (6 / (10 + 10)) ** 0.5


def test_lenet_is_a_conv_classifier_with_the_classic_widths():
    model = build_classifier(model_cfg("lenet"), (1, 28, 28), 10)
    assert isinstance(model, ConvClassifier)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [6, 16] and convs[0].kernel_size == (5, 5)
    assert model.features.out_features == 16 * 7 * 7
    assert [m.out_features for m in model.head.layers if isinstance(m, torch.nn.Linear)] == [
        120,
        84,
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "transformer"}, r"Unknown model type 'transformer'.*mlp, cnn, lstm"),
        ({"activation": "swish"}, r"model.activation='swish'.*relu"),
        ({"hidden_sizes": [64, 0]}, r"model.hidden_sizes=\[64, 0\]"),
        ({"widths": [3]}, r"unknown key `model.widths`"),
        ({"init": "zeros"}, r"model.init='zeros'"),
    ],
)
def test_bad_model_configs_are_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate_model_config(model_cfg("mlp", **changes))


def test_even_kernel_is_rejected():
    with pytest.raises(ConfigError, match="odd"):
        validate_model_config(model_cfg("cnn", kernel_size=4))


@pytest.mark.parametrize(
    ("name", "epochs", "overrides"),
    [
        ("mlp", 8, ["model.hidden_sizes=[64]"]),
        ("cnn", 3, ["model.channels=[16,32]", "model.hidden_sizes=[64]"]),
        ("lstm", 8, ["model.hidden_size=64", "trainer.optimizer.lr=0.005"]),
    ],
)
def test_a_short_training_beats_chance_by_far(supervised_cfg, digits, name, epochs, overrides):
    cfg = supervised_cfg(
        f"model={name}", f"trainer.epochs={epochs}", "trainer.batch_size=32", *overrides
    )
    torch.manual_seed(0)
    model = build_classifier(cfg.model, digits.image_shape, digits.num_classes)
    trainer = ClassifierTrainer(cfg, None, "cpu", model, digits)
    trainer.fit()
    assert trainer.evaluate_split("test").accuracy > 0.8  # chance is 0.1
