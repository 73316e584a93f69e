"""The optimizer registry: each name builds its torch optimizer with the configured options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rl_lab.supervised.optimizers import build_optimizer


@pytest.mark.parametrize(
    ("spec", "cls", "expected"),
    [
        ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
         {"momentum": 0.9, "nesterov": True}),
        ({"name": "adam", "lr": 1e-3, "betas": [0.8, 0.99], "weight_decay": 0.0}, torch.optim.Adam,
         {"betas": (0.8, 0.99)}),
        ({"name": "rmsprop", "lr": 1e-3, "alpha": 0.9, "weight_decay": 1e-4, "momentum": 0.0},
         torch.optim.RMSprop, {"alpha": 0.9, "weight_decay": 1e-4}),
    ],
)  # fmt: skip
def test_build_optimizer(spec, cls, expected):
    optimizer = build_optimizer(nn.Linear(2, 2).parameters(), spec)
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert group["lr"] == spec["lr"]
    assert {key: group[key] for key in expected} == expected
