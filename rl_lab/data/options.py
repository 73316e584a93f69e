"""The ``dataset`` config node as plain options, and the checks every dataset shares.

Each dataset declares a :class:`DatasetKind`: its defaults (the keys its
``conf/dataset/<name>.yaml`` documents), typed :class:`~rl_lab.config.Rule` s for its own keys,
a fast ``check_data`` (files present, headers, sizes against the data) and ``load``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from rl_lab.config import Rule
from rl_lab.config_dict import config_dict
from rl_lab.data.splits import resolve_count
from rl_lab.errors import ConfigError

if TYPE_CHECKING:
    from rl_lab.data.dataset import ImageDataset

Options = dict[str, Any]

#: Keys every dataset has (the shared interface of the ``dataset`` config group).
COMMON_RULES: tuple[Rule, ...] = (
    Rule("name", str),
    Rule("image_size", int, low=1, high=1024, nullable=True),
    Rule("split_seed", int, low=0),
)

#: Keys holding a split size: a fraction in [0, 1) or a count.
SIZE_KEYS = ("val_size", "test_size")


@dataclass(frozen=True)
class DatasetKind:
    """How one ``dataset.name`` is configured, checked and loaded.

    Attributes:
        description: one line for listings (``"scikit-learn's 8x8 digits, offline"``).
        defaults: every accepted key with its default value.
        rules: typed checks of the kind's own keys (``name``, ``image_size``, ``split_seed``
            and the size keys are checked for every kind).
        check_data: fast checks against the data itself (files found, headers, sizes);
            raises ConfigError or DatasetError.
        load: builds the dataset at its native image size (resizing is done by the caller).
    """

    description: str
    defaults: Mapping[str, Any]
    rules: tuple[Rule, ...]
    check_data: Callable[[Options], None]
    load: Callable[[Options], ImageDataset]


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
    unknown = sorted(set(options) - set(kind.defaults))
    if unknown:
        problems.append(
            f"unknown key(s) {', '.join(f'`dataset.{k}`' for k in unknown)} for "
            f"dataset={options['name']} (its keys: {', '.join(kind.defaults)})"
        )
    for rule in (*COMMON_RULES, *kind.rules):
        value = options.get(rule.key)
        ok, normalised = rule.check(value)
        if ok:
            options[rule.key] = normalised
        else:
            problems.append(f"`dataset.{rule.key}={value!r}` is invalid: expected {rule.allowed()}")
    for key in SIZE_KEYS:
        if key in kind.defaults:
            problem = size_problem(key, options[key])
            if problem:
                problems.append(problem)
            elif isinstance(options[key], float) and options[key] >= 1:
                options[key] = int(options[key])
    if problems:
        raise ConfigError(
            "Invalid dataset configuration: "
            + "; ".join(problems)
            + ". Fix the value(s) on the command line (e.g. `dataset.val_size=0.1`) or in "
            f"conf/dataset/{options['name']}.yaml."
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
