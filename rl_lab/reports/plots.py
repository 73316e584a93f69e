"""Learning curves of a summarised sweep: all groups in one plot, and one plot per group.

A curve is a group's mean evaluation return against env steps with its bootstrap band over
seeds (see :class:`rl_lab.reports.aggregate.GroupSummary`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rl_lab.reports.aggregate import CONFIDENCE, GroupSummary


def _short(label: str, limit: int = 60) -> str:
    # Legends and titles: long override lists (a search's trials) would squeeze the plot away.
    return label if len(label) <= limit else label[: limit - 3] + "..."


def plot_learning_curves(groups: Sequence[GroupSummary], path: Path) -> None:
    """Plot each group's mean eval return against env steps with its CI band."""
    # The object-oriented API with an explicit Agg canvas leaves pyplot's global backend alone,
    # so this works headless and inside programs that use another backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    plotted = False
    for group in groups:
        if group.curve_steps.size == 0:
            continue
        (line,) = axes.plot(
            group.curve_steps,
            group.curve_mean,
            marker="o" if group.curve_steps.size == 1 else None,
            label=f"{_short(group.label)} (n={group.n_completed})",
        )
        axes.fill_between(
            group.curve_steps, group.curve_low, group.curve_high, color=line.get_color(), alpha=0.2
        )
        plotted = True
    for threshold in sorted({g.threshold for g in groups if g.threshold is not None}):
        axes.axhline(
            threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}"
        )
    if not plotted:
        axes.text(
            0.5, 0.5, "no eval history in completed runs", ha="center", transform=axes.transAxes
        )
    axes.set_xlabel("env steps")
    axes.set_ylabel("mean eval return")
    axes.set_title(f"Learning curves (mean, {CONFIDENCE:.0%} bootstrap CI over seeds)")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def _slug(text: str, limit: int = 80) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:limit] or "group"


def plot_group_curves(group: GroupSummary, path: Path) -> None:
    """One group's learning curve: every completed seed (thin) and the mean with its CI band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A fixed layout: constrained layout doubles the drawing time, and a search has many groups.
    figure = Figure(figsize=(7, 4.5))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.87, bottom=0.11)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, history in enumerate(h for h in group.histories if h):
        steps, values = zip(*history, strict=True)
        label = "each seed" if index == 0 else None
        axes.plot(steps, values, color="C0", alpha=0.3, linewidth=0.8, label=label)
    if group.curve_steps.size:
        axes.plot(group.curve_steps, group.curve_mean, color="C0", linewidth=2, label="mean")
        axes.fill_between(
            group.curve_steps, group.curve_low, group.curve_high, color="C0", alpha=0.2
        )
    else:
        axes.text(0.5, 0.5, "no eval history yet", ha="center", transform=axes.transAxes)
    if group.threshold is not None:
        axes.axhline(group.threshold, color="black", linestyle="--", linewidth=1)
    axes.set_xlabel("env steps")
    axes.set_ylabel("mean eval return")
    title = _short(group.label, 90)
    axes.set_title(
        f"{title}\n{group.n_completed}/{group.n_total} runs, mean and "
        f"{CONFIDENCE:.0%} bootstrap CI",
        fontsize="small",
    )
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=90)


def write_group_curves(groups: Sequence[GroupSummary], folder: Path) -> list[Path]:
    """``folder/NN_<group>.png`` for every group; older plots in ``folder`` are replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    paths = []
    for index, group in enumerate(groups):
        path = folder / f"{index:02d}_{_slug(group.label)}.png"
        plot_group_curves(group, path)
        paths.append(path)
    return paths
