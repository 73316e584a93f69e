"""OmegaConf mappings, typed as the mappings they are.

``OmegaConf.load`` returns a ``DictConfig`` or a ``ListConfig``, and ``OmegaConf.to_container``
a dict, a list, a string or ``None``, depending on what they are given. For a node or a file
that must be a mapping (a config, one of its groups, a run's ``config.yaml``),
:func:`load_mapping` and :func:`config_dict` check that it is one and say so in their types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, ListConfig, OmegaConf

#: rl_lab's config directory (the repository's conf/).
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


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


def group_option(group: str, name: str, typed: Mapping[str, type]) -> DictConfig | None:
    """The option ``<group>=<name>`` as Hydra composes it, outside a Hydra run: the defaults
    of the config class ``typed[name]``, or conf/<group>/<name>.yaml merged onto the options
    its defaults list names (``_self_`` last); ``None`` when neither exists."""
    if name in typed:
        return OmegaConf.create(dataclasses.asdict(typed[name]()))
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        return None
    node = load_mapping(path)
    bases = []
    for entry in node.pop("defaults", None) or []:
        if entry == "_self_":
            continue
        base = group_option(group, str(entry), typed)
        if base is None:
            raise TypeError(f"{path} extends {entry}, which is no option of {group}")
        bases.append(base)
    return cast(DictConfig, OmegaConf.merge(*bases, node))


def group_options(group: str, typed: Mapping[str, type]) -> list[str]:
    """The names of the options of ``group``: its config classes and conf/<group>/*.yaml."""
    return sorted({*typed, *(p.stem for p in (CONF_DIR / group).glob("*.yaml"))})
