"""Sample quality of a generator against held-out real images, in a classifier's feature space.

:class:`SampleQuality` draws ``samples`` images from a fixed noise seed (a conditional GAN's
labels cycle through the classes), passes them and the real reference images through the
:class:`~rl_lab.gan.feature_classifier.FeatureClassifier`, and returns (TensorBoard tags):

- ``val/frechet_distance``: Fréchet distance between the generated and the real features
  (lower is better; the run's ``objective``);
- ``val/label_accuracy`` (conditional GAN): the classifier's accuracy on generated samples
  against the labels they were asked for;
- ``val/mean_pairwise_distance``: mean feature distance between generated samples (the real
  reference's value is ``real_pairwise_distance``);
- ``val/label_entropy``: entropy (nats) of the classifier's predicted labels on generated
  samples.

The last two warn about mode collapse (:func:`~rl_lab.gan.metrics.diversity_warnings`). A
dataset without labels has no classifier: raw pixels are the features then (a much weaker
measure, reported as ``feature_space: pixels``).

The Fréchet distance estimate depends on the number of samples: compare runs at the same
``metrics.samples``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from torch import Tensor

from rl_lab.gan.feature_classifier import FeatureClassifier
from rl_lab.gan.metrics import (
    diversity_warnings,
    feature_statistics,
    frechet_distance,
    label_entropy,
    mean_pairwise_distance,
)
from rl_lab.gan.sampling import cycled_labels, generate, noise
from rl_lab.supervised.classifier import exact_accuracy

log = logging.getLogger(__name__)


class SampleQuality:
    """Scores generators against one set of real reference images.

    Args:
        classifier: the feature classifier, or ``None`` to use raw pixels as features.
        reference: ``(N, C, H, W)`` real images in ``[0, 1]`` (the held-out test split).
        samples: generated images per evaluation.
        seed: seed of the evaluation noise (the same every evaluation, so epochs compare).
        num_classes: the dataset's classes (``None``: unlabelled).
    """

    def __init__(
        self,
        classifier: FeatureClassifier | None,
        reference: Tensor,
        samples: int = 2000,
        seed: int = 12345,
        num_classes: int | None = None,
    ) -> None:
        self.classifier = classifier
        self.samples = samples
        self.seed = seed
        self.num_classes = num_classes
        self.feature_space = "classifier" if classifier is not None else "pixels"
        real_features, _ = self.features(reference)
        self.real_mu, self.real_sigma = feature_statistics(real_features)
        self.real_pairwise_distance = mean_pairwise_distance(real_features)
        self.warnings: list[str] = []  # mode-collapse warnings of the last evaluation

    def features(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Features ``(N, d)`` and predicted labels ``(N,)`` (``None`` in pixel space)."""
        if self.classifier is None:
            return images.flatten(start_dim=1).float(), None
        return self.classifier(images)

    def frechet_distance_to(self, images: Tensor) -> float:
        """Fréchet distance between ``images`` ``(N, C, H, W)`` in ``[0, 1]`` and the
        reference (used for the real-vs-real floor of the benchmark)."""
        features, _ = self.features(images)
        return frechet_distance(*feature_statistics(features), self.real_mu, self.real_sigma)

    def evaluate(self, generator: Any) -> dict[str, float]:
        """The metrics of the module docstring for ``generator`` (left in its mode)."""
        labels = None
        if generator.num_classes:
            labels = cycled_labels(self.samples, generator.num_classes)
        images = generate(generator, noise(self.samples, generator.latent_dim, self.seed), labels)
        features, predicted = self.features(images)
        fake_mu, fake_sigma = feature_statistics(features)
        results = {
            "val/frechet_distance": frechet_distance(
                fake_mu, fake_sigma, self.real_mu, self.real_sigma
            ),
            "val/mean_pairwise_distance": mean_pairwise_distance(features),
        }
        entropy = None
        if predicted is not None:
            assert self.num_classes is not None  # a classifier exists only for labelled data
            entropy = label_entropy(predicted.numpy(), self.num_classes)
            results["val/label_entropy"] = entropy
            if labels is not None:
                results["val/label_accuracy"] = exact_accuracy(predicted, labels)
        if not np.isfinite(results["val/frechet_distance"]):
            results["val/frechet_distance"] = float("inf")
        self.warnings = diversity_warnings(
            results["val/mean_pairwise_distance"],
            self.real_pairwise_distance,
            entropy,
            self.num_classes,
        )
        for warning in self.warnings:
            log.warning("%s", warning)
        return results


def build_quality(cfg: Any, dataset: Any, device: str) -> SampleQuality:
    """The :class:`SampleQuality` of a run: the cached classifier (trained first if needed)
    and the test split (else validation, else training) as the real reference."""
    from rl_lab.gan.feature_classifier import load_or_train

    classifier = load_or_train(cfg, dataset, device) if dataset.num_classes else None
    if classifier is None:
        log.warning(
            "%s has no labels: sample quality is measured in pixel space (no classifier can "
            "be trained), which is a much weaker measure than classifier features.",
            dataset.name,
        )
    reference = next(
        split.images for split in (dataset.test, dataset.val, dataset.train) if len(split) > 1
    )
    return SampleQuality(
        classifier,
        reference,
        samples=int(cfg.metrics.samples),
        seed=int(cfg.metrics.seed),
        num_classes=dataset.num_classes,
    )
