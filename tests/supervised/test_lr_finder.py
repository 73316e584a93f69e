"""The LR range test: exponential schedule, early stop on divergence, suggestion, outputs."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from rl_lab import app
from rl_lab.supervised.lr_finder import endless_batches, exponential_lrs, lr_range_test, suggest
from rl_lab.supervised.models import build_classifier


def test_exponential_schedule_from_lr_min_to_lr_max():
    lrs = exponential_lrs(1e-5, 10.0, 500)
    assert len(lrs) == 500
    assert lrs[0] == pytest.approx(1e-5) and lrs[-1] == pytest.approx(10.0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    # Géron's factor: exp(log(10^6) / 500) per iteration (over 499 steps here, to end at 10)
    assert ratios == pytest.approx([math.exp(math.log(1e6) / 499)] * 499)


def _range_test(cfg, digits, **kwargs):
    torch.manual_seed(0)
    model = build_classifier(cfg.model, digits.image_shape, digits.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batches = endless_batches(
        digits.train.images, digits.train.labels, 32, torch.Generator().manual_seed(0)
    )
    seen = []
    result = lr_range_test(
        model, optimizer, F.cross_entropy, batches,
        on_step=lambda i, lr, loss: seen.append((lr, optimizer.param_groups[0]["lr"])),
        **kwargs,
    )  # fmt: skip
    return result, seen


def test_the_range_test_sets_each_iterations_lr_and_suggests_one(supervised_cfg, small_digits):
    result, seen = _range_test(
        supervised_cfg(), small_digits, lr_min=1e-4, lr_max=0.5, iterations=60, divergence=1e9
    )
    assert not result.stopped_early and len(result.lrs) == 60
    assert result.lrs == pytest.approx(exponential_lrs(1e-4, 0.5, 60))
    assert all(lr == used for lr, used in seen)  # the optimizer trained with that lr
    assert result.losses[-1] < result.losses[0]  # small lrs up to 0.5 learn the digits
    assert result.suggested_lr == pytest.approx(result.min_loss_lr / 10)
    assert result.rule == "min_loss_div10"


def test_the_range_test_stops_when_the_loss_explodes(supervised_cfg, small_digits):
    result, _ = _range_test(supervised_cfg(), small_digits, lr_min=1e-3, lr_max=1e6, iterations=200)
    assert result.stopped_early and len(result.lrs) < 200
    finite_best = min(result.losses[:-1])
    last = result.losses[-1]
    assert not math.isfinite(last) or last > 4 * finite_best
    assert result.suggested_lr is not None and result.suggested_lr < result.lrs[-1]


def test_suggestions_on_a_known_curve():
    lrs = exponential_lrs(1e-4, 1.0, 41)  # 10 points per decade
    # falls fastest around lr = 1e-2 (index 20), lowest at 1e-1 (index 30), then explodes
    losses = [2.0 - math.tanh((i - 20) / 3) if i <= 30 else 1.0 + (i - 30) for i in range(41)]
    min_lr, steepest = suggest(lrs, losses)
    assert min_lr == pytest.approx(lrs[30])
    assert steepest == pytest.approx(lrs[20])


def test_mode_lr_find_writes_the_plot_and_the_json(supervised_cfg, tmp_path):
    overrides = ["mode=lr_find", "lr_find.iterations=40", "lr_find.suggestion=steepest"]
    results = app.run(supervised_cfg(*overrides), tmp_path, overrides)
    assert results["mode"] == "lr_find" and results["iterations_run"] <= 40
    assert results["rule"] == "steepest" and results["suggested_lr"] == results["steepest_lr"]
    assert results["objective"] == results["suggested_lr"] > 0
    assert (tmp_path / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "lr_find.json").read_text())
    assert len(data["lrs"]) == len(data["losses"]) == results["iterations_run"]
    assert data["lrs"][0] == pytest.approx(1e-5)
    assert not (tmp_path / "checkpoints").exists()  # nothing trained for use
