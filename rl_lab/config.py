"""Validation of the composed config, before any long work starts.

Each check is a :class:`Rule` on one dotted key. :func:`validate` checks every rule, collects all
problems and raises one :class:`~rl_lab.errors.ConfigError` that names each bad key, its value,
what is allowed, and how to fix it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf, open_dict

from rl_lab.errors import ConfigError

_MISSING = object()


@dataclass(frozen=True)
class Rule:
    """A constraint on one config value.

    Args:
        key: dotted path, e.g. ``"agent.batch_size"``.
        kind: ``int``, ``float``, ``bool``, ``str`` or ``list``. Integral floats given to an
            ``int`` key (``total_steps=5e4``) are accepted and converted.
        low, high: inclusive bounds for numbers (``None`` = unbounded).
        low_open: when true the lower bound is exclusive (``learning_rate > 0``).
        choices: the allowed values for strings.
        nullable: whether ``null`` is allowed.
        pattern: a regular expression a string must match in full (``choices`` is then only
            shown in the message as examples).
    """

    key: str
    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: Sequence[object] | None = None
    nullable: bool = False
    pattern: str | None = None

    def allowed(self) -> str:
        """Human description of the allowed values."""
        if self.choices is not None:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        elif self.kind is bool:
            text = "true or false"
        else:
            noun = {int: "an integer", float: "a number", str: "a string", list: "a list"}[
                self.kind
            ]
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
            if self.high is not None:
                bounds.append(f"<= {self.high:g}")
            text = noun + (" " + " and ".join(bounds) if bounds else "")
        return text + (" (or null)" if self.nullable else "")

    def check(self, value: object) -> tuple[bool, object]:
        """Return ``(ok, normalised_value)``."""
        if value is None:
            return self.nullable, value
        if self.kind is bool:
            return isinstance(value, bool), value
        if self.kind is int:
            if isinstance(value, bool):
                return False, value
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                return False, value
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, value
            if not math.isfinite(value):
                return False, value
            value = float(value)
        elif self.kind is str:
            if not isinstance(value, str):
                return False, value
            if self.pattern is not None:
                return re.fullmatch(self.pattern, value) is not None, value
            if self.choices is not None:
                return value in self.choices, value
            return True, value
        elif self.kind is list:
            return isinstance(value, (list, tuple)), value
        number = cast(float, value)  # int or float here: the other kinds returned above
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            return False, value
        if self.high is not None and number > self.high:
            return False, value
        return True, value


def validate(cfg: DictConfig, rules: Iterable[Rule], where: str = "the command line") -> None:
    """Check ``cfg`` against ``rules``; normalise integral floats; raise one ConfigError.

    Args:
        cfg: the composed config (modified in place where values are normalised).
        rules: the constraints to check.
        where: where the user can fix the values, quoted in the message.
    """
    problems = []
    for rule in rules:
        value = OmegaConf.select(cfg, rule.key, default=_MISSING)
        if value is _MISSING:
            problems.append(f"`{rule.key}` is missing (expected {rule.allowed()})")
            continue
        if isinstance(value, DictConfig):
            problems.append(f"`{rule.key}` is a mapping, expected {rule.allowed()}")
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value)
        ok, normalised = rule.check(value)
        if not ok:
            problems.append(f"`{rule.key}={value!r}` is invalid: expected {rule.allowed()}")
        elif type(normalised) is not type(value):
            OmegaConf.update(cfg, rule.key, normalised)
    if problems:
        raise ConfigError(
            "Invalid configuration: "
            + "; ".join(problems)
            + f". Fix the value(s) on {where} (e.g. `python -m rl_lab agent.batch_size=64`) "
            "or in the matching file under conf/."
        )


def require(condition: bool, message: str) -> None:
    """Raise a ConfigError with ``message`` unless ``condition`` holds (cross-field checks)."""
    if not condition:
        raise ConfigError(message)


DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?|mps"

#: Names of the network zoo that configs choose from, kept torch-free here (tests keep them
#: equal to ``rl_lab.nets.init.INIT_SCHEMES`` and ``rl_lab.nets.activations.ACTIVATIONS``).
INIT_CHOICES: tuple[str, ...] = ("orthogonal", "kaiming", "xavier", "default")
ACTIVATION_CHOICES: tuple[str, ...] = (
    "elu",
    "gelu",
    "identity",
    "leaky_relu",
    "relu",
    "sigmoid",
    "silu",
    "tanh",
)

#: Formats of ``mode=export`` (:data:`rl_lab.exporting.FORMATS` maps each to its file suffix; a
#: test keeps the two equal).
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript")

#: Mappings whose keys are the user's own (passed through to another library), so any key is
#: known: ``gymnasium.make`` keyword arguments, Hydra's node.
FREE_FORM: tuple[str, ...] = ("env.kwargs", "hydra")


def _paths(node: object, prefix: str = "") -> list[str]:
    """Every dotted key path of a mapping (mappings are entered, lists are leaves)."""
    if not isinstance(node, DictConfig):
        return []
    paths = []
    for key in node:
        path = f"{prefix}{key!s}"
        paths.append(path)
        if path not in FREE_FORM:
            paths.extend(_paths(node._get_node(key), path + "."))  # no interpolation resolved
    return paths


def unknown_keys(cfg: DictConfig, reference: DictConfig) -> list[str]:
    """Key paths of ``cfg`` that ``reference`` (the same config composed without the user's
    ``+key=value`` additions) does not have; a mapping that is unknown is named once."""
    known = set(_paths(reference))
    unknown: list[str] = []
    for path in _paths(cfg):
        if path not in known and not any(path.startswith(u + ".") for u in unknown):
            unknown.append(path)
    return unknown


def unknown_keys_message(unknown: Sequence[str], reference: DictConfig, context: str) -> str:
    """One paragraph naming each unknown key with its close matches among the known ones."""
    known = _paths(reference)
    parts = []
    for path in unknown:
        parent, _, leaf = path.rpartition(".")
        siblings = [k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == parent]
        close = [f"{parent}.{s}" if parent else s for s in get_close_matches(leaf, siblings, 3)]
        if not close:
            close = get_close_matches(path, known, 3, cutoff=0.75)
        hint = f" (did you mean {', '.join(f'`{c}`' for c in close)}?)" if close else ""
        parts.append(f"`{path}`{hint}")
    return (
        f"Unknown config key{'s' if len(parts) > 1 else ''} for {context}: {'; '.join(parts)}. "
        "rl_lab refuses keys it does not know rather than ignore them: fix the spelling (a key "
        "the config has is set without `+`) or drop the override; `python -m rl_lab --cfg job` "
        "with your other overrides lists every key."
    )


# ------------------------------------------------------------------------- typed configs
# A config class is a frozen dataclass whose fields are declared with :func:`setting`: the type
# annotation, the default, the bounds or choices and the one-line meaning of a key, in one
# place. :func:`rules_of` derives the :class:`Rule` of every field, :func:`schema` the defaults
# that Hydra composes from (registered with its ConfigStore), and :func:`build_config` the
# instance a component receives from the validated config.


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: Sequence[object] | None = None,
    pattern: str | None = None,
) -> Any:
    """A field of a config class: its default (``factory`` for a list or mapping), its meaning
    (``help``, shown by ``python -m rl_lab.schema``) and the bounds of :class:`Rule`."""
    metadata = {
        "help": help,
        "low": low,
        "high": high,
        "low_open": low_open,
        "choices": tuple(choices) if choices is not None else None,
        "pattern": pattern,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _leaf_kind(hint: Any) -> tuple[type | None, bool]:
    """The :class:`Rule` kind of a field's type and whether it is nullable; kind ``None`` for
    types that no rule checks (free-form mappings, unions checked by the component)."""
    nullable = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(args) < len(get_args(hint))
        if len(args) != 1:
            return None, nullable
        hint = args[0]
    if hint in (int, float, bool, str):
        return hint, nullable
    if hint is list or get_origin(hint) in (list, tuple):
        return list, nullable
    return None, nullable


def _nested(hint: Any) -> type | None:
    """The config class of a nested field (``network: DQNNetwork``), else ``None``."""
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _fields(cls: type, prefix: str) -> Iterator[tuple[str, dataclasses.Field, Any, type | None]]:
    """``(dotted key, field, type hint, nested config class or None)`` of each field of config
    class ``cls``, the key prefixed with ``prefix.`` (no prefix when it is empty)."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        yield key, f, hints[f.name], _nested(hints[f.name])


def unknown_fields(cls: type, data: Mapping[str, Any], prefix: str) -> list[str]:
    """Dotted keys of ``data`` (``prefix.<key>``) that are no field of config class ``cls``,
    looking into the nested config classes; a free-form mapping (an encoder spec) is not
    looked into."""
    fields = {key.rpartition(".")[2]: nested for key, _, _, nested in _fields(cls, prefix)}
    unknown = []
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            unknown.append(key)
        elif fields[name] is not None and isinstance(value, Mapping):
            unknown += unknown_fields(fields[name], value, key)  # type: ignore[arg-type]
    return unknown


def rules_of(cls: type, prefix: str) -> tuple[Rule, ...]:
    """The :class:`Rule` of every field of config class ``cls``, at ``prefix.<field>``; the
    fields of nested config classes at ``prefix.<field>.<subfield>``."""
    rules: list[Rule] = []
    for key, f, hint, nested in _fields(cls, prefix):
        if nested is not None:
            rules.extend(rules_of(nested, key))
            continue
        kind, nullable = _leaf_kind(hint)
        if kind is None:
            continue
        meta = f.metadata
        rules.append(
            Rule(
                key,
                kind,
                low=meta.get("low"),
                high=meta.get("high"),
                low_open=bool(meta.get("low_open")),
                choices=meta.get("choices"),
                nullable=nullable,
                pattern=meta.get("pattern"),
            )
        )
    return tuple(rules)


def schema(cls: type) -> dict[str, Any]:
    """The defaults of config class ``cls`` as nested plain dicts (what Hydra composes from)."""
    return dataclasses.asdict(cls())


_C = TypeVar("_C")


def _field_hints(cls: type, keys: Iterable[str]) -> dict[str, Any]:
    """The type hints of config class ``cls``'s fields, after checking that every key in
    ``keys`` is one of them (``TypeError`` naming the others and the fields)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(keys) - names)
    if unknown:
        raise TypeError(
            f"{cls.__name__} has no field(s) {', '.join(unknown)}; its fields: "
            f"{', '.join(sorted(names))}"
        )
    return get_type_hints(cls)


def register_configs(group: str, configs: Mapping[str, type]) -> None:
    """Store each config class's defaults with Hydra's ConfigStore as ``group=<name>``
    (idempotent). They are stored as plain mappings, not typed nodes: rl_lab's own check
    (:func:`rules_of`) says in one paragraph what a bad value should be, where OmegaConf's typed
    nodes would refuse ``agent.batch_size=5e4`` with Hydra's bare "Error merging override"."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, cls in configs.items():
        store.store(group=group, name=name, node=schema(cls), provider="rl_lab")


def build_config(cls: type[_C], data: Mapping[str, Any]) -> _C:
    """An instance of config class ``cls`` from a mapping of its fields (a validated
    ``cfg.agent``, resolved); missing fields keep their defaults, nested mappings become the
    nested config classes.

    Raises:
        TypeError: a key that is no field of ``cls``.
    """
    if isinstance(data, DictConfig):
        data = OmegaConf.to_container(data, resolve=True)  # type: ignore[assignment]
    hints = _field_hints(cls, data)
    kwargs = {}
    for name, value in data.items():
        nested = _nested(hints[name])
        kwargs[name] = build_config(nested, value) if nested is not None else value
    return cls(**kwargs)


def with_overrides(config: _C, overrides: Mapping[str, Any]) -> _C:
    """``config`` with ``overrides`` applied: a mapping given for a nested config class
    changes only the fields it names; any other value replaces the field (a free-form mapping
    such as an encoder spec is replaced whole).

    Raises:
        TypeError: a key that is no field of ``config``'s class.
    """
    if not overrides:
        return config
    hints = _field_hints(type(config), overrides)
    changes = {}
    for name, value in overrides.items():
        nested = _nested(hints[name])
        if nested is not None and isinstance(value, Mapping):
            value = with_overrides(getattr(config, name), value)
        changes[name] = value
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def missing_settings(cls: type, node: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of config class ``cls``'s fields that ``node`` (a saved config) lacks:
    nested config classes are entered, a free-form mapping (an encoder spec) is one value."""
    missing = []
    for path, f, _, nested in _fields(cls, prefix):
        if f.name not in node:
            missing.append(path)
        elif nested is not None and isinstance(node[f.name], Mapping | DictConfig):
            missing.extend(missing_settings(nested, node[f.name], path))
    return missing


def add_missing_settings(cfg: DictConfig, key: str, cls: type) -> list[str]:
    """Give ``cfg[key]`` (a saved config's node of config class ``cls``) the settings ``cls``
    gained since it was written, at their defaults, which keep the behaviour of the runs before
    them; saved values stay. Returns the dotted keys added (none for a config composed now)."""
    node = OmegaConf.select(cfg, key)
    if not isinstance(node, DictConfig):
        return []
    missing = missing_settings(cls, node)
    if missing:
        defaults = OmegaConf.create(schema(cls))
        with open_dict(cfg):
            for path in missing:
                OmegaConf.update(node, path, OmegaConf.select(defaults, path), force_add=True)
    return missing


def describe(cls: type, prefix: str) -> list[tuple[str, str, str, str]]:
    """``(key, default, allowed, meaning)`` of every field of config class ``cls`` (nested
    fields dotted), for ``python -m rl_lab.schema``."""
    rows = []
    rules = {rule.key: rule for rule in rules_of(cls, prefix)}
    defaults = cls()
    for key, f, _, nested in _fields(cls, prefix):
        if nested is not None:
            rows.extend(describe(nested, key))
            continue
        rule = rules.get(key)
        value = getattr(defaults, f.name)
        if isinstance(value, Mapping):  # a free-form spec: one row per key of its default
            rows.append((key, "", "a mapping", f.metadata.get("help", "")))
            rows.extend((f"{key}.{k}", _shown(v), "", "") for k, v in value.items())
            continue
        allowed = rule.allowed() if rule is not None else "see the meaning"
        rows.append((key, _shown(value), allowed, f.metadata.get("help", "")))
    return rows


def _shown(value: Any) -> str:
    """A default as YAML spells it."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


# ------------------------------------------------------------------------- the shared keys
@dataclass(frozen=True)
class CommonConfig:
    """The top-level keys every task shares (conf/config.yaml lists them as
    ``common_settings``); each task checks ``mode`` against its own modes."""

    seed: int = setting(0, "seeds torch, numpy, the envs and the data order", low=0)
    mode: str = setting(
        "train", "train | eval | export (every task); lr_find (supervised); sample (gan)"
    )
    device: str = setting(
        "auto",
        "auto | cpu | cuda | cuda:N (auto picks CUDA when present)",
        pattern=DEVICE_PATTERN,
        choices=("auto", "cpu", "cuda", "cuda:N"),
    )
    torch_threads: int | None = setting(
        1,
        "intra-op threads; 1 is fastest for small MLPs on CPU (the Atari presets use every "
        "core); null = torch's default",
        low=1,
    )
    reuse_freed_memory: bool = setting(
        True,
        "glibc: keep freed buffers (<= 32 MiB) for reuse instead of page-faulting them in again "
        "every step (rl_lab/allocator.py)",
    )
    resume: bool = setting(False, "continue the run in hydra.run.dir from checkpoints/last.pt")
    checkpoint: str | None = setting(
        None, "mode=eval, sample and export: path of the checkpoint to use"
    )
    format: str = setting(
        "onnx", "mode=export: onnx | torchscript (rl_lab/exporting.py)", choices=EXPORT_FORMATS
    )
    progress: bool = setting(True, "live progress bar")


#: Validation of the keys every task shares (:class:`CommonConfig`).
COMMON_RULES: tuple[Rule, ...] = rules_of(CommonConfig, "")

#: The name under which :func:`register_common` stores :class:`CommonConfig`.
COMMON_NODE = "common_settings"


def register_settings(name: str, cls: type, package: str = "_global_") -> None:
    """Store config class ``cls``'s defaults with Hydra's ConfigStore as the group-less node
    ``name``, at the root of the config (a task's own keys) or at ``package``; a defaults list
    names it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=name, node=schema(cls), package=package, provider="rl_lab")


def register_common() -> None:
    """Register :class:`CommonConfig` as ``common_settings`` (conf/config.yaml's defaults)."""
    register_settings(COMMON_NODE, CommonConfig)
