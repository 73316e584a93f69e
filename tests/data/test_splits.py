"""Seeded, stratified splits: deterministic, disjoint, complete, proportional."""

from __future__ import annotations

import numpy as np
import pytest

from rl_lab.data.splits import resolve_count, seeded_split, take


def _assert_partition(parts, total):
    joined = np.concatenate([parts.train, parts.val, parts.test])
    assert len(joined) == total and len(np.unique(joined)) == total  # disjoint and complete
    for part in (parts.train, parts.val, parts.test):
        assert np.all(np.diff(part) > 0)  # sorted


@pytest.mark.parametrize("stratified", [False, True])
def test_same_seed_same_split_different_seed_different(stratified):
    labels = np.arange(500) % 7 if stratified else None
    a = seeded_split(500, 50, 100, seed=3, labels=labels)
    b = seeded_split(500, 50, 100, seed=3, labels=labels)
    c = seeded_split(500, 50, 100, seed=4, labels=labels)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    _assert_partition(a, 500)
    assert (len(a.train), len(a.val), len(a.test)) == (350, 50, 100)


def test_stratified_keeps_class_shares():
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])  # 200 rows, unbalanced
    parts = seeded_split(200, 20, 40, seed=0, labels=labels)
    # 40 test rows = 20% of every class exactly; 20 val rows = 12.5% of the remaining 160.
    np.testing.assert_array_equal(np.bincount(labels[parts.test]), [20, 10, 6, 4])
    np.testing.assert_array_equal(np.bincount(labels[parts.val]), [10, 5, 3, 2])


def test_stratified_rounding_with_tiny_classes():
    labels = np.array([0] * 9 + [1] + [2] * 3)  # a class with one member
    taken, rest = take(np.arange(13), 5, np.random.default_rng(0), labels)
    assert len(taken) == 5 and len(rest) == 8
    assert set(taken).isdisjoint(rest)


def test_empty_parts():
    parts = seeded_split(10, 0, 0, seed=0)
    assert len(parts.train) == 10 and len(parts.val) == 0 and len(parts.test) == 0


@pytest.mark.parametrize(
    ("size", "total", "count"), [(0.1, 1797, 180), (0.2, 1797, 359), (5000, 60000, 5000), (0, 9, 0)]
)
def test_resolve_count(size, total, count):
    assert resolve_count(size, total) == count
