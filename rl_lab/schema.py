"""``python -m rl_lab.schema agent=<name>`` (or ``trainer=default|gan``,
``model=mlp|cnn|lstm|dcgan``, ``env=default|atari``, ``dataset=<name>``,
``task=rl|supervised|gan``): every key of a typed config, its default, what values it takes
and what it means, read from its config class (:mod:`rl_lab.rl.configs`,
:mod:`rl_lab.supervised.configs`, :mod:`rl_lab.gan.configs`, :mod:`rl_lab.data.configs`).
A task's table starts with the keys every task shares (:class:`rl_lab.config.CommonConfig`).

Without an argument it lists what it can describe. ``--markdown`` prints a Markdown table
instead of the aligned text one. The values a run actually uses (its preset applied) are printed
by ``python -m rl_lab agent=<name> env=<id> --cfg job``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rl_lab.config import CommonConfig, describe
from rl_lab.gan.configs import GANRunConfig
from rl_lab.hydra_env_source import TYPED_OPTIONS
from rl_lab.rl.configs import AtariEnvConfig, EnvConfig, RLRunConfig
from rl_lab.supervised.configs import SupervisedRunConfig

#: group → its typed options (config classes by name).
GROUPS: dict[str, dict[str, type]] = {
    **TYPED_OPTIONS,
    "env": {"default": EnvConfig, "atari": AtariEnvConfig},
    "task": {"rl": RLRunConfig, "supervised": SupervisedRunConfig, "gan": GANRunConfig},
}

#: The key prefix of each group's settings (a task's are top-level keys).
PREFIXES: dict[str, str] = {
    "agent": "agent",
    "trainer": "trainer",
    "model": "model",
    "env": "env",
    "dataset": "dataset",
    "task": "",
}


def table(name: str, markdown: bool = False, group: str = "agent") -> str:
    """The table of ``<group>=<name>``'s keys (``KeyError`` for an unknown name)."""
    rows = describe(GROUPS[group][name], PREFIXES[group])
    if group == "task":
        rows = describe(CommonConfig, "") + rows
    header = ("key", "default", "allowed", "meaning")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join((f"`{r[0]}`", *r[1:])) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)


def _choices() -> str:
    return "; ".join(f"{group}={'|'.join(options)}" for group, options in GROUPS.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.schema",
        description="The keys of a typed config (an agent, a trainer, a model, a task): "
        "default, allowed values, meaning.",
    )
    parser.add_argument(
        "config",
        nargs="?",
        help="agent=<name> (or just the agent's name), trainer=default|gan, "
        "model=mlp|cnn|lstm|dcgan, env=default|atari (every other id: default), "
        "dataset=<name> or "
        "task=rl|supervised|gan",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ns = parser.parse_args(argv)
    if ns.config is None:
        print(f"Typed configs: {_choices()}. Run e.g. `python -m rl_lab.schema agent=dqn`.")
        return 0
    group, _, name = ns.config.rpartition("=")
    group = group or "agent"
    if name not in GROUPS.get(group, {}):
        print(
            f"Unknown config '{ns.config}'. Available: {_choices()}. Run e.g. "
            "`python -m rl_lab.schema agent=dqn`.",
            file=sys.stderr,
        )
        return 2
    print(table(name, ns.markdown, group))
    return 0


if __name__ == "__main__":
    sys.exit(main())
