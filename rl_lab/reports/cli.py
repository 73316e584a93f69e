"""The command line of the sweep summary: ``python -m rl_lab.summarize DIR``.

::

    python -m rl_lab.summarize DIR [--out OUTDIR] [--threshold X]

Summarises every run directory under DIR (what it writes: :mod:`rl_lab.reports.summary`),
prints the table, the failed and incomplete runs, an Optuna sweep's trials and where the files
went. Exit status 0, or 2 when DIR is missing or holds no run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from rl_lab.reports.aggregate import GroupSummary
from rl_lab.reports.summary import SummaryError, SweepReport, build_report
from rl_lab.reports.tables import render_failures, render_table, render_trials


def print_report(
    groups: Sequence[GroupSummary],
    run_root: Path,
    out_dir: Path,
    console: Console,
    report: SweepReport | None = None,
) -> None:
    """Print the table, the failed and incomplete runs, the trials and where the files went."""
    console.print(render_table(groups))
    failed = render_failures(groups, run_root)
    if failed is not None:
        console.print(failed)
    n_incomplete = sum(len(g.incomplete_paths) for g in groups)
    if n_incomplete:
        console.print(f"{n_incomplete} incomplete run(s) (in progress, interrupted or partial).")
    if report is not None and report.search is not None:
        console.print(render_trials(report.trials, report.search))
    files = report.files if report is not None else [out_dir / "summary.csv"]
    written = ", ".join(str(path) for path in files)
    console.print(f"Wrote {written}", soft_wrap=True)
    if report is not None:
        console.print(f"HPARAMS view: tensorboard --logdir {out_dir / 'hparams'}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 when DIR has nothing to summarise)."""
    parser = argparse.ArgumentParser(
        prog="python -m rl_lab.summarize",
        description="Summarise a sweep of runs (every run directory under DIR, finished or "
        "not), grouped by overrides without the seed.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="multirun or runs folder")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="OUTDIR", help="output folder (default: DIR)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="X",
        help="return counted as success (default: each env's reward_threshold)",
    )
    args = parser.parse_args(argv)
    try:
        report = build_report(args.dir, out_dir=args.out, threshold=args.threshold)
    except SummaryError as error:
        print(f"rl_lab.summarize: error: {error}", file=sys.stderr)
        return 2
    print_report(report.groups, args.dir, report.out_dir, Console(), report)
    return 0
