import math

import numpy as np
import pytest
import scipy.linalg

from rl_lab.gan.metrics import (
    diversity_warnings,
    feature_statistics,
    frechet_distance,
    frechet_distance_between,
    label_entropy,
    mean_pairwise_distance,
)


def test_identical_sets_have_near_zero_distance() -> None:
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance_between(x, x) == pytest.approx(0.0, abs=1e-8)


def test_singular_covariances_fewer_samples_than_dimensions() -> None:
    x = np.random.default_rng(0).normal(size=(10, 64))
    assert frechet_distance_between(x, x) == pytest.approx(0.0, abs=1e-8)
    y = x + 1.0
    assert frechet_distance_between(x, y) == pytest.approx(64.0, rel=1e-6)


def test_shifted_and_scaled_gaussians_match_the_analytic_value() -> None:
    rng = np.random.default_rng(1)
    d, n = 4, 200_000
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    scale = np.array([1.0, 2.0, 0.5, 1.0])
    a = rng.normal(size=(n, d))
    b = rng.normal(size=(n, d)) * scale + shift
    # N(0, I) vs N(m, diag(s^2)): |m|^2 + sum (1 - s)^2
    analytic = float(shift @ shift + ((1 - scale) ** 2).sum())
    assert frechet_distance_between(a, b) == pytest.approx(analytic, rel=0.02)


def test_exact_statistics_against_scipy_sqrtm() -> None:
    rng = np.random.default_rng(2)
    m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(6), m2 @ m2.T + 0.1 * np.eye(6)  # do not commute
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    reference = (
        (mu1 - mu2) @ (mu1 - mu2)
        + np.trace(s1 + s2)
        - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    )
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-9)


def test_feature_statistics_and_shape_errors() -> None:
    mu, sigma = feature_statistics(np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_allclose(mu, [1.0, 2.0])
    np.testing.assert_allclose(sigma, [[2.0, 2.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="n >= 2"):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_diversity_measures_flag_a_collapsed_set() -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 8))
    collapsed = real[:1] + 0.1 * rng.normal(size=(300, 8))  # one mode
    real_distance = mean_pairwise_distance(real)
    assert real_distance == pytest.approx(4.0, rel=0.1)  # E|x - y| for N(0, I_8): ~sqrt(16)
    assert mean_pairwise_distance(collapsed) < 0.2 * real_distance
    assert label_entropy(np.arange(100) % 10, 10) == pytest.approx(math.log(10))
    assert label_entropy(np.full(100, 3), 10) == 0.0
    assert diversity_warnings(real_distance, real_distance, math.log(10), 10) == []
    warnings = diversity_warnings(0.1, real_distance, 0.0, 10)
    assert len(warnings) == 2 and all("mode collapse" in w for w in warnings)
