"""The supervised run's figures draw on their own canvas and leave pyplot's backend alone."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from rl_lab.supervised.figures import confusion_matrix_figure, lr_find_figure


@pytest.fixture
def pdf_backend():
    """pyplot set to another non-interactive backend than Agg, as a notebook sets its own."""
    previous = matplotlib.get_backend()
    matplotlib.use("pdf")
    yield
    matplotlib.use(previous)


def test_drawing_leaves_the_callers_backend_alone(pdf_backend, tmp_path) -> None:
    figure = confusion_matrix_figure(torch.eye(3, dtype=torch.int64) * 4, ["a", "b", "c"], "val")
    figure.canvas.draw()  # its own Agg canvas renders without pyplot
    width, height = figure.canvas.get_width_height()
    assert width > 100 and height > 100
    path = lr_find_figure([1e-4, 1e-3, 1e-2], [1.0, 0.5, 2.0], 1e-3, "steepest", tmp_path / "l.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == "pdf"
