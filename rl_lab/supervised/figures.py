"""Figures of a supervised run: the confusion matrix and the LR range test's curve.

Matplotlib is imported lazily and every figure draws on its own ``Agg`` canvas, so training
never needs a display, runs that draw nothing do not pay for the import, and pyplot's backend
is left alone (a notebook that trains keeps plotting inline).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` on an ``Agg`` canvas of its own, outside pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``(num_classes, num_classes)`` int64 counts; row = true class, column = predicted."""
    flat = labels.to(torch.int64) * num_classes + predictions.to(torch.int64)
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def confusion_matrix_figure(matrix: Tensor, class_names: Sequence[Any], title: str) -> Any:
    """A matplotlib figure of ``matrix`` normalised per true class (rows sum to 1), with the
    counts written in the cells; for TensorBoard's ``add_figure`` (which closes it)."""
    counts = matrix.numpy()
    rates = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    n = len(class_names)
    size = max(4.0, 0.5 * n + 2)
    figure = _figure((size, size * 0.9))
    axes = figure.subplots()
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class")
    names = [str(name) for name in class_names]
    axes.set_xticks(range(n), names, rotation=45, ha="right")
    axes.set_yticks(range(n), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for row in range(n):
        for col in range(n):
            colour = "white" if rates[row, col] > 0.5 else "black"
            axes.text(
                col, row, str(counts[row, col]), ha="center", va="center", color=colour, fontsize=7
            )
    figure.tight_layout()
    return figure


def lr_find_figure(
    lrs: Sequence[float],
    losses: Sequence[float],
    suggested_lr: float | None,
    rule: str,
    path: Path,
    others: dict[str, float | None] | None = None,
) -> Path:
    """Save the LR range test's smoothed loss against the learning rate (log x axis) to
    ``path`` (PNG): the suggested learning rate as a dashed line, ``others`` (e.g. the lowest
    loss's and the steepest descent's learning rates) as labelled points on the curve."""
    figure = _figure((7, 4.5))
    axes = figure.subplots()
    axes.plot(lrs, losses, color="tab:blue", label="smoothed training loss")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("loss")
    if suggested_lr is not None:
        axes.axvline(
            suggested_lr,
            color="tab:red",
            linestyle="--",
            label=f"suggested {suggested_lr:.2g} ({rule})",
        )
    for (label, lr), marker in zip((others or {}).items(), "ov^s", strict=False):
        if lr is not None:
            index = min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr))
            axes.plot(lrs[index], losses[index], marker, color="black", label=f"{label} {lr:.2g}")
    finite = [loss for loss in losses if loss == loss]
    if finite:  # keep the interesting part in view: the explosion at the end can be huge
        low, first = min(finite), finite[0]
        axes.set_ylim(low - 0.05 * abs(low), max(first, low) * 1.5 + 1e-8)
    axes.set_title("LR range test")
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
