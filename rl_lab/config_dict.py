"""OmegaConf mappings, typed as the mappings they are.

``OmegaConf.load`` returns a ``DictConfig`` or a ``ListConfig``, and ``OmegaConf.to_container``
a dict, a list, a string or ``None``, depending on what they are given. For a node or a file
that must be a mapping (a config, one of its groups, a run's ``config.yaml``),
:func:`load_mapping` and :func:`config_dict` check that it is one and say so in their types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, ListConfig, OmegaConf


def load_mapping(path: str | Path) -> DictConfig:
    """The YAML file at ``path``, which must hold a mapping.

    Raises:
        TypeError: the file's top level is a list.
    """
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{path} holds a list, not a mapping of config keys")
    return cfg


def config_dict(cfg: DictConfig | ListConfig, *, resolve: bool) -> dict[str, Any]:
    """``cfg`` as nested plain dicts and lists; interpolations resolved when ``resolve``.

    Raises:
        TypeError: ``cfg`` is a list (e.g. a YAML file whose top level is a sequence).
    """
    container = OmegaConf.to_container(cfg, resolve=resolve)
    if not isinstance(container, dict):
        raise TypeError(f"expected a mapping, got a {type(container).__name__}")
    return cast(dict[str, Any], container)  # config keys are strings


def flatten(
    node: Any, prefix: str = "", *, is_leaf: Callable[[Any], bool] | None = None
) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``: every leaf of nested mappings by its dotted path.
    Lists are leaves, and so is any mapping for which ``is_leaf`` returns true."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping | DictConfig) and not (is_leaf and is_leaf(value)):
            flat.update(flatten(value, path + ".", is_leaf=is_leaf))
        else:
            flat[path] = value
    return flat
