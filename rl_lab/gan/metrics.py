"""Sample-quality numbers computed on feature vectors: Fréchet distance and diversity.

The features come from the penultimate layer of a classifier trained on the same dataset
(:mod:`rl_lab.gan.feature_classifier`), not from Inception-v3: its weights cannot be downloaded
here, so these Fréchet distances are comparable between rl_lab runs on the same dataset and
image size only, never with published FID values.

Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017,
https://arxiv.org/abs/1706.08500)::

    FD = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

Lower is better; 0 for identical distributions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def feature_statistics(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (unbiased) of ``(n, d)`` features, in float64."""
    x = _as_float64(features)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"feature_statistics needs (n >= 2, d) features, got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    # round-off makes tiny eigenvalues of a PSD matrix slightly negative
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``tr((S_1 S_2)^(1/2))`` is computed as ``tr((A S_2 A)^(1/2))`` with ``A = S_1^(1/2)``: the
    matrix under the root is then symmetric PSD, so two symmetric eigen-decompositions give it
    without the complex round-off a general ``sqrtm(S_1 @ S_2)`` produces for singular
    covariances (fewer samples than feature dimensions).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"shapes differ: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def frechet_distance_between(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``(n, d)`` and ``b``."""
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def mean_pairwise_distance(features: np.ndarray | Tensor, max_samples: int = 1000) -> float:
    """Mean Euclidean distance between distinct rows of ``(n, d)`` features.

    A generator that has collapsed onto a few modes gives a much smaller value than the real
    data does. At most ``max_samples`` rows (the first ones) are used: the cost is quadratic.
    """
    x = torch.as_tensor(_as_float64(features)[:max_samples])
    n = x.shape[0]
    if n < 2:
        raise ValueError("mean_pairwise_distance needs at least 2 samples")
    distances = torch.cdist(x, x)  # (n, n), zero diagonal
    return float(distances.sum() / (n * (n - 1)))


def label_entropy(predicted: np.ndarray | Tensor, num_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted labels ``(n,)``; ``log(num_classes)`` is
    the most (every class equally often), 0 means every sample got the same label."""
    counts = np.bincount(np.asarray(predicted, dtype=np.int64), minlength=num_classes)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: no -0.0 for a single class


def diversity_warnings(
    fake_distance: float,
    real_distance: float,
    fake_entropy: float | None,
    num_classes: int | None,
    min_distance_ratio: float = 0.5,
    min_entropy_ratio: float = 0.5,
) -> list[str]:
    """Messages about likely mode collapse (empty when the samples look diverse).

    Args:
        fake_distance, real_distance: :func:`mean_pairwise_distance` of generated and real
            features.
        fake_entropy: :func:`label_entropy` of the classifier's predictions on generated
            samples (``None`` when the dataset has no labels).
        num_classes: the classifier's number of classes.
        min_distance_ratio: warn when ``fake_distance < ratio * real_distance``.
        min_entropy_ratio: warn when ``fake_entropy < ratio * log(num_classes)``.
    """
    warnings = []
    if real_distance > 0 and fake_distance < min_distance_ratio * real_distance:
        warnings.append(
            f"possible mode collapse: generated samples are close together (mean pairwise "
            f"feature distance {fake_distance:.3g}, real data {real_distance:.3g})"
        )
    if fake_entropy is not None and num_classes and num_classes > 1:
        most = math.log(num_classes)
        if fake_entropy < min_entropy_ratio * most:
            warnings.append(
                f"possible mode collapse: the classifier sees few classes among generated "
                f"samples (label entropy {fake_entropy:.2f} nats of at most {most:.2f})"
            )
    return warnings


def _as_float64(features: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(features, Tensor):
        features = features.detach().cpu().numpy()
    return np.asarray(features, dtype=np.float64)
