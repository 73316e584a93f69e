"""The pieces of an Optuna search that ``python -m rl_lab.tune`` is built from.

- :func:`parse_space`: a ``tune.search_space`` mapping (conf/hparams_search/) as
  :class:`Param` objects, each of which samples its value from an Optuna trial and writes it
  as a Hydra override (:func:`override_value`);
- :func:`make_sampler` and :func:`make_pruner`: the ``sampler=`` and ``pruner=`` choices;
- :class:`TuneCommandOnly`: the Hydra callback that answers ``python -m rl_lab
  experiment=*_search`` with the tune command to use instead.

A search space maps dotted config keys to one of::

    agent.learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}  # step: optional
    agent.n_epochs: {type: int, low: 3, high: 20}                              # log, step too
    agent.n_steps: {type: categorical, choices: [16, 32, 64]}

A nested mapping (``agent: {gamma: {type: ...}}``, which a ``tune.search_space.agent.gamma=``
override writes) means the same as the dotted key. Optuna is imported only by the functions that
build its objects, so the callback costs nothing where Optuna is not installed.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError

#: ``sampler=`` choices.
SAMPLERS = ("tpe", "random", "cmaes")
#: ``pruner=`` choices; ``halving`` is asynchronous successive halving, ``hyperband`` runs
#: several halving brackets.
PRUNERS = ("none", "median", "hyperband", "halving")
#: ``type:`` of a parameter.
PARAM_TYPES = ("float", "int", "categorical")

_SCALAR = (bool, int, float, str, type(None))


class SearchSpaceError(ConfigError):
    """A search space, sampler or pruner setting that cannot be used."""


@dataclass(frozen=True)
class Param:
    """One searched config key and the distribution its values are drawn from.

    Attributes:
        name: the dotted config key, e.g. ``agent.learning_rate`` (also the Optuna param name).
        type: ``float``, ``int`` or ``categorical``.
        low, high: the inclusive range of a numeric parameter.
        log: draw a numeric parameter uniformly in log space (needs ``low > 0``).
        step: the grid of a numeric parameter (``low, low + step, ...``); ``None``: continuous
            floats, or every integer.
        choices: the values of a categorical parameter (scalars).
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def numeric(self) -> bool:
        """Whether the parameter is a number range (CMA-ES can search only those)."""
        return self.type != "categorical"

    def suggest(self, trial: Any) -> Any:
        """The value of this parameter for ``trial`` (an ``optuna.Trial``)."""
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            assert self.low is not None and self.high is not None  # parse_space requires them
            step = 1 if self.step is None else int(self.step)
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), log=self.log, step=step
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def as_dict(self) -> dict[str, Any]:
        """The parameter as written in a search space file (JSON-safe)."""
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        entry: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        if self.log:
            entry["log"] = True
        if self.step is not None:
            entry["step"] = self.step
        return entry


def _is_param(node: Any) -> bool:
    """A search-space entry (it names its ``type``), not a group of entries."""
    return "type" in node


def _number(name: str, entry: Mapping[str, Any], key: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchSpaceError(
            f"Search space: {name} needs a finite number `{key}:` (it has {value!r}); e.g. "
            f"`{name}: {{type: float, low: 1.0e-4, high: 3.0e-3, log: true}}`."
        )
    return value


def parse_param(name: str, entry: Any) -> Param:
    """Check one ``name: {type: ..., ...}`` entry of a search space.

    Raises:
        SearchSpaceError: an unknown type or key, a missing bound, an empty range, ``log`` with
            ``low <= 0``, or non-scalar choices.
    """
    if not isinstance(entry, Mapping) or entry.get("type") not in PARAM_TYPES:
        raise SearchSpaceError(
            f"Search space: {name} is {dict(entry) if isinstance(entry, Mapping) else entry!r}, "
            f"which is not a parameter. Give it a type ({', '.join(PARAM_TYPES)}), e.g. "
            f"`{name}: {{type: float, low: 1.0e-4, high: 3.0e-3, log: true}}` or "
            f"`{name}: {{type: categorical, choices: [16, 32, 64]}}`."
        )
    kind = entry["type"]
    allowed = (
        {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log", "step"}
    )
    extra = sorted(set(entry) - allowed)
    if extra:
        raise SearchSpaceError(
            f"Search space: {name} ({kind}) does not take {', '.join(extra)}; a {kind} parameter "
            f"takes {', '.join(sorted(allowed - {'type'}))}."
        )
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise SearchSpaceError(
                f"Search space: {name} is categorical but has no `choices: [...]` list."
            )
        if not all(isinstance(c, _SCALAR) for c in choices):
            raise SearchSpaceError(
                f"Search space: the choices of {name} must be numbers, strings, booleans or "
                f"null (Optuna stores them as such); it has {list(choices)!r}."
            )
        return Param(name, kind, choices=tuple(choices))
    low, high = _number(name, entry, "low"), _number(name, entry, "high")
    log = bool(entry.get("log", False))
    step = entry.get("step")
    if step is not None:
        step = _number(name, entry, "step")
    if low > high or (log and low <= 0):
        raise SearchSpaceError(
            f"Search space: {name} has low={low:g}, high={high:g}{', log' if log else ''}: the "
            "range must have low <= high" + (" and low > 0 on a log scale." if log else ".")
        )
    if log and step is not None:
        raise SearchSpaceError(f"Search space: {name} cannot have both `log: true` and a step.")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise SearchSpaceError(
            f"Search space: {name} is an int parameter: low, high and step must be whole numbers."
        )
    return Param(name, kind, low=low, high=high, log=log, step=step)


def parse_space(space: Mapping[str, Any] | None) -> list[Param]:
    """The parameters of a ``tune.search_space`` mapping (dotted or nested keys).

    Raises:
        SearchSpaceError: the space is empty or one of its entries is not a parameter.
    """
    if not space:
        raise SearchSpaceError(
            "The search space is empty: the config has no `tune.search_space`. Choose a search "
            "experiment (experiment=dqn_cartpole_search or ppo_cartpole_search) or a space with "
            "+hparams_search=<name> (conf/hparams_search/)."
        )
    return [parse_param(name, entry) for name, entry in flatten(space, is_leaf=_is_param).items()]


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def override_value(value: Any) -> str:
    """``value`` in Hydra's override grammar: numbers and booleans as they are, strings quoted
    where they would read as something else (``'1e-3'``, ``'true'``), ``None`` as ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in ("true", "false", "null", "nan", "inf"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_sampler(
    name: str, seed: int, space: list[Param], settings: Mapping[str, Any] | None = None
) -> Any:
    """The ``optuna.samplers`` object for ``sampler=<name>``, seeded with ``seed``.

    ``tpe`` is multivariate TPE (its ``n_startup_trials`` from ``settings``); ``cmaes`` needs a
    numeric space and starts from TPE-free random trials (``n_startup_trials``).

    Raises:
        SearchSpaceError: an unknown sampler, or CMA-ES on a space with categorical parameters.
    """
    import warnings

    import optuna

    settings = dict(settings or {})
    startup = int(settings.get("n_startup_trials", 10))
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate TPE is marked experimental, and it works
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, n_startup_trials=startup
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        categorical = [p.name for p in space if not p.numeric]
        if categorical:
            raise SearchSpaceError(
                f"sampler=cmaes searches number ranges only, and this space has categorical "
                f"parameters ({', '.join(categorical)}). Use sampler=tpe (or random), or a "
                "space of float/int parameters."
            )
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=startup)
    raise SearchSpaceError(f"sampler={name} is not a sampler; use one of {', '.join(SAMPLERS)}.")


def make_pruner(
    name: str, settings: Mapping[str, Any] | None, min_resource: int, max_resource: int
) -> Any:
    """The ``optuna.pruners`` object for ``pruner=<name>``.

    Args:
        name: one of :data:`PRUNERS`.
        settings: ``median``: ``n_startup_trials`` (trials that always finish first, 5) and
            ``n_warmup_steps`` (env steps before a trial may be pruned, 0); ``hyperband`` and
            ``halving``: ``reduction_factor`` (3).
        min_resource: env steps of the first evaluation (``eval.freq``): the earliest rung.
        max_resource: env steps of a full trial (``total_steps``).

    Raises:
        SearchSpaceError: an unknown pruner.
    """
    import optuna

    settings = dict(settings or {})
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=int(settings.get("n_startup_trials", 5)),
            n_warmup_steps=int(settings.get("n_warmup_steps", 0)),
        )
    reduction = int(settings.get("reduction_factor", 3))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, min_resource),
            max_resource=max(max_resource, min_resource, 1),
            reduction_factor=reduction,
        )
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=max(1, min_resource), reduction_factor=reduction
        )
    raise SearchSpaceError(f"pruner={name} is not a pruner; use one of {', '.join(PRUNERS)}.")


class TuneCommandOnly(Callback):
    """Hydra callback of the ``*_search`` experiments: ``python -m rl_lab`` (single run or
    ``-m``) is refused with the ``python -m rl_lab.tune`` command that runs the search.

    Args:
        experiment: the search experiment's name, for the message.
    """

    def __init__(self, experiment: str) -> None:
        self.experiment = experiment

    def _refuse(self) -> None:
        print(
            f"Error: experiment={self.experiment} is a hyperparameter search; run it with "
            f"`python -m rl_lab.tune experiment={self.experiment} n_trials=20` (Optuna: "
            "pruning on the periodic evaluations, a study kept in outputs/tune/<study>/study.db "
            "that resume=true continues, workers=N processes). `python -m rl_lab` runs one "
            "config, and Hydra's sweepers never hand the trial to the run, so they could not "
            "prune it.",
            file=sys.stderr,
        )
        sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Refuse a single run of the search experiment."""
        self._refuse()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Refuse a multirun of the search experiment."""
        self._refuse()
