"""The ``dataset`` config node as plain options, and the checks every dataset shares.

Each dataset declares a :class:`DatasetKind`: its config class (:mod:`rl_lab.data.configs`:
every key, its default and its rule), a fast ``check_data`` (files present, headers, sizes
against the data) and ``load``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from rl_lab.config import Rule, rules_of, schema
from rl_lab.config_dict import config_dict
from rl_lab.data.configs import SIZE_KEYS
from rl_lab.data.splits import resolve_count
from rl_lab.errors import ConfigError

if TYPE_CHECKING:
    from rl_lab.data.dataset import ImageDataset

Options = dict[str, Any]


@dataclass(frozen=True)
class DatasetKind:
    """How one ``dataset.name`` is configured, checked and loaded.

    Attributes:
        description: one line for listings (``"scikit-learn's 8x8 digits, offline"``).
        config: its config class (:data:`rl_lab.data.configs.DATASET_CONFIGS`).
        check_data: fast checks against the data itself (files found, headers, sizes);
            raises ConfigError or DatasetError.
        load: builds the dataset at its native image size (resizing is done by the caller).
    """

    description: str
    config: type
    check_data: Callable[[Options], None]
    load: Callable[[Options], ImageDataset]

    @property
    def defaults(self) -> Options:
        """Every accepted key with its default value (``data_dir``'s interpolation resolved:
        ``$RL_LAB_DATA_DIR``, else ``data``)."""
        return config_dict(OmegaConf.create(schema(self.config)), resolve=True)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Typed checks of every key but the split sizes (:func:`size_problem`)."""
        return rules_of(self.config, "")


def as_options(cfg: Mapping[str, Any] | DictConfig, defaults: Mapping[str, Any]) -> Options:
    """``cfg`` resolved to a plain dict, with ``defaults`` for the keys it leaves out."""
    if isinstance(cfg, DictConfig):
        given = config_dict(cfg, resolve=True)
    else:
        plain = cast(Mapping[str, Any], cfg)  # mypy keeps DictConfig in the union here
        given = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in dict(plain).items()
        }
    return {**defaults, **given}


def size_problem(key: str, value: object) -> str | None:
    """Why ``value`` is not a valid split size, or ``None``."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value >= 0
        and (value < 1 or float(value).is_integer())
    )
    if ok:
        return None
    return (
        f"`dataset.{key}={value!r}` is invalid: expected a fraction in [0, 1) (e.g. 0.1) or a "
        "count of examples (an integer >= 1)"
    )


def check_options(options: Options, kind: DatasetKind) -> None:
    """Unknown keys, types and ranges; raises one ConfigError listing every problem."""
    problems = []
    defaults = kind.defaults
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        problems.append(
            f"unknown key(s) {', '.join(f'`dataset.{k}`' for k in unknown)} for "
            f"dataset={options['name']} (its keys: {', '.join(defaults)})"
        )
    for rule in kind.rules:
        value = options.get(rule.key)
        ok, normalised = rule.check(value)
        if ok:
            options[rule.key] = normalised
        else:
            problems.append(f"`dataset.{rule.key}={value!r}` is invalid: expected {rule.allowed()}")
    for key in SIZE_KEYS:
        if key in defaults:
            problem = size_problem(key, options[key])
            if problem:
                problems.append(problem)
            elif isinstance(options[key], float) and options[key] >= 1:
                options[key] = int(options[key])
    if problems:
        raise ConfigError(
            "Invalid dataset configuration: "
            + "; ".join(problems)
            + ". Fix the value(s) on the command line (e.g. `dataset.val_size=0.1`); "
            f"`python -m rl_lab.schema dataset={options['name']}` lists every key."
        )


def check_split_sizes(options: Options, total: int, what: str, has_test_key: bool) -> None:
    """Check that the requested val (and test) sizes leave at least one training example.

    Args:
        options: checked options.
        total: number of examples the sizes are carved from.
        what: how to name those examples in the message (``"the 1797 digits"``).
        has_test_key: whether ``test_size`` is carved from ``total`` too.
    """
    val = resolve_count(options["val_size"], total)
    test = resolve_count(options["test_size"], total) if has_test_key else 0
    if val + test >= total:
        sizes = f"val_size={options['val_size']}" + (
            f", test_size={options['test_size']}" if has_test_key else ""
        )
        raise ConfigError(
            f"dataset={options['name']}: {sizes} take {val + test} of {what}, leaving no "
            "training examples. Use smaller sizes, e.g. `dataset.val_size=0.1`."
        )
