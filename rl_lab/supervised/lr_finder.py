"""The learning-rate range test (``mode=lr_find``).

Géron's recipe (*Hands-On Machine Learning*, ch. 10/11, after Smith 2015,
https://arxiv.org/abs/1506.01186): train for a few hundred iterations (500 by default) while
the learning rate grows exponentially from ``lr_min`` to ``lr_max``, record the loss at each
learning rate, and pick one about 10 times lower than where the loss is lowest (just before it
starts to climb). The loss is an exponential moving average with bias correction (fastai's
smoothing, ``beta = 0.98``); the test stops early once it exceeds ``divergence`` times its best
value.

It trains a throw-away copy of the model: nothing is saved or restored, and the suggestion is
only a starting point for ``trainer.optimizer.lr``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from rl_lab.supervised.configs import SUGGESTIONS


def exponential_lrs(lr_min: float, lr_max: float, iterations: int) -> list[float]:
    """``iterations`` learning rates from ``lr_min`` to ``lr_max``, equally spaced in log."""
    if iterations < 2:
        return [lr_min]
    ratio = math.log(lr_max / lr_min) / (iterations - 1)
    return [lr_min * math.exp(ratio * i) for i in range(iterations)]


@dataclass
class LRFindResult:
    """The outcome of :func:`lr_range_test`.

    Attributes:
        lrs: learning rate of each iteration done.
        losses: smoothed (bias-corrected moving average) training loss after each iteration.
        raw_losses: the mini-batch losses themselves.
        stopped_early: whether the loss exploded before the last iteration.
        suggested_lr: the learning rate picked by ``rule`` (``None`` if too few points).
        rule: the key of :data:`SUGGESTIONS` used.
        min_loss_lr: learning rate of the lowest smoothed loss.
        steepest_lr: learning rate of the steepest descent of the smoothed loss.
    """

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    raw_losses: list[float] = field(default_factory=list)
    stopped_early: bool = False
    suggested_lr: float | None = None
    rule: str = "min_loss_div10"
    min_loss_lr: float | None = None
    steepest_lr: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (lr_find.json)."""
        return {**asdict(self), "rule_description": SUGGESTIONS[self.rule]}


def suggest(lrs: list[float], losses: list[float]) -> tuple[float | None, float | None]:
    """``(min_loss_lr, steepest_lr)`` of a smoothed loss curve.

    The steepest descent is the most negative slope of the loss against ``log(lr)``, searched
    before the lowest point (after it the loss only climbs); the first and last 5% of the curve
    are skipped, where the smoothing is still warming up or the loss is exploding.
    """
    finite = {i for i, loss in enumerate(losses) if math.isfinite(loss)}
    if len(finite) < 3:
        return None, None
    best = min(finite, key=lambda i: losses[i])
    skip = max(1, len(lrs) // 20)
    slopes = [  # central differences of the loss against log(lr)
        ((losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1]), i)
        for i in range(skip, min(best, len(lrs) - skip) + 1)
        if {i - 1, i, i + 1} <= finite
    ]
    steepest = lrs[min(slopes)[1]] if slopes else None
    return lrs[best], steepest


def lr_range_test(
    model: nn.Module,
    optimizer: Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batches: Iterator[tuple[Tensor, Tensor]],
    lr_min: float = 1e-5,
    lr_max: float = 10.0,
    iterations: int = 500,
    smoothing: float = 0.98,
    divergence: float = 4.0,
    rule: str = "min_loss_div10",
    on_step: Callable[[int, float, float], None] | None = None,
) -> LRFindResult:
    """Train ``model`` while raising the learning rate exponentially; record the loss curve.

    Args:
        model: the network (trained in place: pass a copy you do not need).
        optimizer: its optimizer; every parameter group's ``lr`` is overwritten each iteration.
        loss_fn: ``loss(logits, labels)``.
        batches: an endless iterator of ``(inputs, labels)`` mini-batches.
        lr_min, lr_max: the first and last learning rate.
        iterations: number of mini-batches (the last one uses ``lr_max``).
        smoothing: ``beta`` of the moving average of the loss (0 = no smoothing).
        divergence: stop once the smoothed loss exceeds ``divergence`` x its lowest value
            (or is not finite).
        rule: key of :data:`SUGGESTIONS` for ``suggested_lr``.
        on_step: called as ``on_step(iteration, lr, smoothed_loss)`` after each iteration.
    """
    result = LRFindResult(rule=rule)
    average, best = 0.0, math.inf
    model.train()
    for i, lr in enumerate(exponential_lrs(lr_min, lr_max, iterations)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, labels = next(batches)
        loss = loss_fn(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        raw = loss.item()
        average = smoothing * average + (1.0 - smoothing) * raw
        smoothed = average / (1.0 - smoothing ** (i + 1))  # bias correction of the zero start
        result.lrs.append(lr)
        result.losses.append(smoothed)
        result.raw_losses.append(raw)
        if on_step is not None:
            on_step(i, lr, smoothed)
        if not math.isfinite(smoothed) or smoothed > divergence * best:
            result.stopped_early = i < iterations - 1
            break
        best = min(best, smoothed)
    result.min_loss_lr, result.steepest_lr = suggest(result.lrs, result.losses)
    if rule == "steepest":
        result.suggested_lr = result.steepest_lr
    elif result.min_loss_lr is not None:
        result.suggested_lr = result.min_loss_lr / 10.0
    return result


def endless_batches(
    images: Tensor, labels: Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[Tensor, Tensor]]:
    """Mini-batches of ``(images, labels)`` in a fresh seeded order each pass, forever."""
    n = images.shape[0]
    while True:
        order = torch.randperm(n, generator=generator).to(images.device)
        for start in range(0, n - 1, batch_size):  # no single-sample batch (BatchNorm)
            rows = order[start : start + batch_size]
            yield images[rows], labels[rows]
