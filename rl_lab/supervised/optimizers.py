"""The optimizers of the epoch trainers, by name: ``cfg.trainer.optimizer`` (supervised) and
``trainer.generator_optimizer`` / ``trainer.discriminator_optimizer`` (GAN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig
from torch.optim import Optimizer

from rl_lab.config_dict import config_dict

#: Optimizer name → ``(class, the cfg.trainer.optimizer keys it takes besides lr)``.
OPTIMIZERS: dict[str, tuple[Callable[..., Optimizer], tuple[str, ...]]] = {
    "sgd": (torch.optim.SGD, ("momentum", "nesterov", "weight_decay")),
    "adam": (torch.optim.Adam, ("betas", "eps", "weight_decay")),
    "adamw": (torch.optim.AdamW, ("betas", "eps", "weight_decay")),
    "rmsprop": (torch.optim.RMSprop, ("alpha", "eps", "momentum", "weight_decay")),
}


def build_optimizer(params: Any, spec: DictConfig | dict[str, Any]) -> Optimizer:
    """The optimizer ``spec.name`` (``sgd``, ``adam``, ``adamw``, ``rmsprop``) over ``params``.

    Args:
        params: parameters (or parameter groups) to optimise.
        spec: ``cfg.trainer.optimizer``: ``name``, ``lr`` and the keys the optimizer takes
            (SGD: ``momentum``, ``nesterov``, ``weight_decay``; Adam/AdamW: ``betas``, ``eps``,
            ``weight_decay``; RMSprop: ``alpha``, ``eps``, ``momentum``, ``weight_decay``);
            keys another optimizer would take are ignored.
    """
    spec = config_dict(spec, resolve=True) if isinstance(spec, DictConfig) else spec
    cls, keys = OPTIMIZERS[spec["name"]]
    kwargs = {key: spec[key] for key in keys if key in spec}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if kwargs.get("nesterov") and kwargs.get("momentum", 0.0) == 0.0:
        kwargs["nesterov"] = False  # torch rejects Nesterov without momentum; validated earlier
    return cls(params, lr=spec["lr"], **kwargs)
