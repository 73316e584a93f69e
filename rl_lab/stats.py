"""Robust statistics for comparing RL runs across seeds.

Few seeds and heavy-tailed returns make a bare mean misleading, so reports pair it with a
percentile-bootstrap confidence interval and the interquartile mean (IQM), following
Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(https://arxiv.org/abs/2108.13264). Only numpy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike

# Upper bound on the elements of one (resamples, n) block, so a bootstrap over many values stays
# within a few tens of MB instead of allocating n_resamples * n at once.
_BLOCK_ELEMENTS = 1 << 20


def _as_1d(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        array = array.reshape(-1)
    return array


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _bootstrap_means(
    samples: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield blocks of bootstrap means of the rows of ``samples``.

    ``samples`` has shape (n, k): n independent units (seeds, episodes) and k statistics per unit
    (one for a scalar, one per grid point for a curve). Each resample draws n rows with
    replacement and averages them, so all k columns share the same draw: a curve is resampled as
    a whole run, never point by point. Yields arrays of shape (block, k).
    """
    n, k = samples.shape
    block = max(1, _BLOCK_ELEMENTS // max(n, k))
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        picks = rng.integers(0, n, size=(size, n))
        # counts[r, i] = how often row i was drawn in resample r; a matrix product then averages
        # every column at once without materialising (size, n, k).
        offsets = picks + (np.arange(size) * n)[:, None]
        counts = np.bincount(offsets.ravel(), minlength=size * n).reshape(size, n)
        yield counts @ samples / n
        done += size


def _percentile_interval(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - confidence
    low, high = np.percentile(means, [100.0 * alpha / 2, 100.0 * (1.0 - alpha / 2)], axis=0)
    return low, high


def bootstrap_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean.

    Args:
        values: Independent samples, e.g. the final return of each seed.
        confidence: Coverage of the interval, in (0, 1); 0.95 gives the 2.5th and 97.5th
            percentiles of the resampled means.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling generator; the same inputs and seed give the same interval.

    Returns:
        ``(low, high)``. A single value (or all-equal values) gives ``(v, v)``; no values give
        ``(nan, nan)``. NaNs in ``values`` propagate to the result.
    """
    _check_confidence(confidence)
    array = _as_1d(values)
    if array.size == 0:
        return math.nan, math.nan
    if np.all(array == array[0]):
        # Exact (v, v): summing equal floats in another order could drift by an ulp.
        return float(array[0]), float(array[0])
    rng = np.random.default_rng(seed)
    means = np.concatenate(list(_bootstrap_means(array[:, None], n_resamples, rng)))[:, 0]
    low, high = _percentile_interval(means, confidence)
    return float(low), float(high)


def interquartile_mean(values: ArrayLike) -> float:
    """Interquartile mean (IQM): the mean of the middle 50% of the values.

    Trimming rule: sort the n values and drop ``k = floor(n / 4)`` from each end, then average the
    remaining ``n - 2k``. This equals ``scipy.stats.trim_mean(values, 0.25)``, which is what
    rliable (Agarwal et al. 2021) uses. Consequences: fewer than 4 values are not trimmed (plain
    mean); for n = 8, values 3 to 6 of the sorted list are kept; for n = 5, the middle three.

    Returns:
        The IQM, or nan when ``values`` is empty.
    """
    array = np.sort(_as_1d(values))
    n = array.size
    if n == 0:
        return math.nan
    k = n // 4
    return float(np.mean(array[k : n - k]))


def success_rate(values: ArrayLike, threshold: float | None) -> float:
    """Fraction of ``values`` at or above ``threshold``.

    Returns:
        A number in [0, 1], or nan when ``threshold`` is None or ``values`` is empty (no
        threshold, or no runs, means no verdict rather than 0% success).
    """
    array = _as_1d(values)
    if threshold is None or array.size == 0:
        return math.nan
    return float(np.mean(array >= threshold))


def _clean_curve(curve: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Sort a curve by step, drop non-finite returns, keep the last value of a repeated step."""
    points = [(int(step), float(value)) for step, value in curve if math.isfinite(float(value))]
    if not points:
        return np.empty(0, dtype=np.int64), np.empty(0)
    steps = np.array([step for step, _ in points], dtype=np.int64)
    returns = np.array([value for _, value in points])
    order = np.argsort(steps, kind="stable")
    steps, returns = steps[order], returns[order]
    # A resumed run can evaluate the same step twice; the later evaluation wins.
    last_of_step = np.append(steps[1:] != steps[:-1], True)
    return steps[last_of_step], returns[last_of_step]


def aggregate_curves(
    curves: Sequence[Sequence[tuple[int, float]]],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Average learning curves of several seeds on a common env-step grid.

    Seeds may be evaluated at different steps (other eval interval, vectorised envs overshooting,
    a run stopped early). The rule:

    1. Each curve is a list of ``(env_steps, mean_return)``; points are sorted by step, points
       with a non-finite return are dropped, and a repeated step keeps its last value. Curves
       left empty are ignored.
    2. The grid is the union of all curves' steps inside the range covered by every curve,
       ``[max of first steps, min of last steps]``, so no curve is extrapolated; a curve that
       stops early therefore shortens the aggregate.
    3. Each curve is linearly interpolated onto the grid (``np.interp``).
    4. At every grid point: the mean over curves, and a percentile-bootstrap interval that
       resamples whole curves (seeds), with the same draws at every point.

    Args:
        curves: One curve per run.
        confidence: Coverage of the band, in (0, 1).
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling generator (deterministic for a given seed).

    Returns:
        ``(steps, mean, ci_low, ci_high)``: int64 steps and float arrays of the same length. All
        four are empty when there is no curve or the curves share no step range. A single curve
        gives its own points with ``ci_low == ci_high == mean``.
    """
    _check_confidence(confidence)
    cleaned = [c for c in (_clean_curve(curve) for curve in curves) if c[0].size > 0]
    empty = np.empty(0)
    if not cleaned:
        return np.empty(0, dtype=np.int64), empty, empty, empty
    start = max(int(steps[0]) for steps, _ in cleaned)
    stop = min(int(steps[-1]) for steps, _ in cleaned)
    if start > stop:
        return np.empty(0, dtype=np.int64), empty, empty, empty
    all_steps = np.unique(np.concatenate([steps for steps, _ in cleaned]))
    grid = all_steps[(all_steps >= start) & (all_steps <= stop)]
    # (n_curves, n_grid): one interpolated curve per row.
    on_grid = np.stack([np.interp(grid, steps, returns) for steps, returns in cleaned])
    mean = on_grid.mean(axis=0)
    if len(cleaned) == 1:
        return grid, mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    means = np.concatenate(list(_bootstrap_means(on_grid, n_resamples, rng)))
    low, high = _percentile_interval(means, confidence)
    # Where all seeds agree the resampled means can drift by an ulp; keep the band around the mean.
    return grid, mean, np.minimum(low, mean), np.maximum(high, mean)
