"""``python -m rl_lab.schema agent=<name>``: every key of an agent, its default, what values
it takes and what it means, read from the agent's config class (:mod:`rl_lab.rl.configs`).

Without an argument it lists the agents. ``--markdown`` prints a Markdown table instead of the
aligned text one. The values a run actually uses (its preset applied) are printed by
``python -m rl_lab agent=<name> env=<id> --cfg job``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rl_lab.config import describe
from rl_lab.rl.configs import AGENT_CONFIGS


def table(name: str, markdown: bool = False) -> str:
    """The table of ``agent=<name>``'s keys (``KeyError`` for an unknown agent)."""
    rows = describe(AGENT_CONFIGS[name], "agent")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.schema",
        description="The keys of an agent's config: default, allowed values, meaning.",
    )
    parser.add_argument("agent", nargs="?", help="agent=<name> (or just the name)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ns = parser.parse_args(argv)
    agents = ", ".join(AGENT_CONFIGS)
    if ns.agent is None:
        print(f"Agents: {agents}. Run `python -m rl_lab.schema agent=<name>` for its keys.")
        return 0
    name = ns.agent.removeprefix("agent=")
    if name not in AGENT_CONFIGS:
        print(
            f"Unknown agent '{name}'. Available agents: {agents}. Run e.g. "
            "`python -m rl_lab.schema agent=dqn`.",
            file=sys.stderr,
        )
        return 2
    print(table(name, ns.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
