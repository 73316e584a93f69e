"""Deterministic train/val/test splits, seeded by ``dataset.split_seed`` only.

A split never depends on the run's seed, so runs with different seeds are scored on the same
test images. With labels, splits are stratified: each class keeps its share in every part
(largest-remainder rounding), which matters for small sets such as the 1797 digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SplitIndices:
    """Sorted, disjoint row indices of each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def resolve_count(size: int | float, total: int) -> int:
    """A ``val_size``/``test_size`` as a number of examples.

    Args:
        size: a fraction of ``total`` when ``0 <= size < 1`` (rounded to the nearest integer),
            otherwise a count (an integral number).
        total: the number of examples the fraction refers to.
    """
    if isinstance(size, float) and size < 1:
        return int(round(size * total))
    return int(size)


def take(
    indices: np.ndarray,
    count: int,
    rng: np.random.Generator,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``count`` of ``indices`` at random: ``(taken, rest)``, both sorted.

    Args:
        indices: candidate row indices, ``(M,)`` int.
        count: how many to take, ``0 <= count <= M``.
        rng: the generator that makes the choice.
        labels: ``(N,)`` labels of all rows; when given, the choice is stratified by class.
    """
    if count == 0:
        return indices[:0], np.sort(indices)
    if labels is None:
        chosen = rng.permutation(indices)[:count]
    else:
        classes, inverse = np.unique(labels[indices], return_inverse=True)
        class_sizes = np.bincount(inverse, minlength=len(classes))
        exact = count * class_sizes / len(indices)
        quota = np.floor(exact).astype(np.int64)
        # Largest remainder: the fractional parts sum to the missing count and each is < 1,
        # so no class is asked for more members than it has. Stable sort breaks ties by class.
        missing = count - int(quota.sum())
        quota[np.argsort(-(exact - quota), kind="stable")[:missing]] += 1
        chosen = np.concatenate(
            [rng.permutation(indices[inverse == c])[: quota[c]] for c in range(len(classes))]
        )
    taken = np.sort(chosen)
    keep = np.ones(len(indices), dtype=bool)
    keep[np.searchsorted(np.sort(indices), taken)] = False
    return taken, np.sort(indices)[keep]


def seeded_split(
    total: int,
    val_count: int,
    test_count: int,
    seed: int,
    labels: np.ndarray | None = None,
) -> SplitIndices:
    """Split ``range(total)`` into train/val/test: test first, then val from the rest.

    Args:
        total: number of examples.
        val_count, test_count: sizes of val and test; train gets the remainder.
        seed: ``dataset.split_seed``.
        labels: ``(total,)`` labels to stratify by, or ``None`` for a plain random split.
    """
    rng = np.random.default_rng(seed)
    test, rest = take(np.arange(total), test_count, rng, labels)
    val, train = take(rest, val_count, rng, labels)
    return SplitIndices(train=train, val=val, test=test)
