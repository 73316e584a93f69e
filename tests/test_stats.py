"""Tests for rl_lab.stats: bootstrap CI, IQM, success rate, curve aggregation."""

import math

import numpy as np
import pytest

from rl_lab.stats import aggregate_curves, bootstrap_ci, interquartile_mean, success_rate


def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    values = [3.0, 7.5, 1.0, 9.0, 4.2]
    first = bootstrap_ci(values, seed=123)
    assert bootstrap_ci(values, seed=123) == first
    # With few resamples the percentiles depend visibly on the draws, hence on the seed.
    assert bootstrap_ci(values, n_resamples=200, seed=1) != bootstrap_ci(
        values, n_resamples=200, seed=2
    )
    low, high = first
    assert min(values) <= low < np.mean(values) < high <= max(values)


def test_bootstrap_ci_matches_the_exact_resampling_distribution():
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 2.5th and
    # 97.5th percentiles are exactly 0 and 1.
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_ci_width_matches_normal_theory_for_many_values():
    # Mean of 100 Bernoulli(0.5) samples: standard error 0.05, so a 95% CI of about +-0.098.
    values = [0.0] * 50 + [1.0] * 50
    low, high = bootstrap_ci(values, n_resamples=20_000)
    assert low == pytest.approx(0.5 - 0.098, abs=0.015)
    assert high == pytest.approx(0.5 + 0.098, abs=0.015)
    narrow_low, narrow_high = bootstrap_ci(values, confidence=0.5)
    assert low < narrow_low < narrow_high < high


def test_bootstrap_ci_edge_cases():
    assert bootstrap_ci([4.2]) == (4.2, 4.2)
    assert bootstrap_ci([0.1, 0.1, 0.1]) == (0.1, 0.1)
    low, high = bootstrap_ci([])
    assert math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_interquartile_mean_trims_floor_quarter_each_side():
    assert interquartile_mean([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # keeps 3, 4, 5, 6
    assert interquartile_mean([1, 2, 3, 4, 100]) == 3.0  # drops 1 and 100
    assert interquartile_mean([1, 2, 30]) == 11.0  # n < 4: nothing trimmed
    assert math.isnan(interquartile_mean([]))


def test_success_rate_counts_values_at_or_above_threshold():
    assert success_rate([1, 2, 3, 4], 3) == 0.5
    assert success_rate([500.0, 474.9], 475.0) == 0.5
    assert math.isnan(success_rate([1, 2], None))
    assert math.isnan(success_rate([], 1.0))


def test_aggregate_curves_interpolates_onto_the_common_range():
    curves = [
        [(0, 0.0), (1000, 100.0), (2000, 200.0)],
        [(2000, 300.0), (0, 100.0), (1500, 250.0)],  # unsorted on purpose
        [(0, 50.0), (500, 50.0), (1800, 50.0)],  # stops early: caps the grid at 1800
    ]
    steps, mean, low, high = aggregate_curves(curves)
    np.testing.assert_array_equal(steps, [0, 500, 1000, 1500, 1800])
    # At 1000: curve 1 = 100, curve 2 = 100 + 150 * 1000 / 1500 = 200, curve 3 = 50.
    assert mean[2] == pytest.approx((100.0 + 200.0 + 50.0) / 3)
    assert np.all(low <= mean) and np.all(mean <= high)
    assert np.all(high - low > 0)
    again = aggregate_curves(curves)
    for a, b in zip((steps, mean, low, high), again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_aggregate_curves_single_duplicate_and_disjoint():
    steps, mean, low, high = aggregate_curves([[(0, 1.0), (10, 2.0), (10, 5.0)]])
    np.testing.assert_array_equal(steps, [0, 10])
    np.testing.assert_array_equal(mean, [1.0, 5.0])  # the later evaluation of step 10 wins
    np.testing.assert_array_equal(low, mean)
    np.testing.assert_array_equal(high, mean)

    disjoint = aggregate_curves([[(0, 1.0), (10, 1.0)], [(20, 1.0), (30, 1.0)]])
    assert all(part.size == 0 for part in disjoint)
    assert all(part.size == 0 for part in aggregate_curves([]))
