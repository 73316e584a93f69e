"""Generative adversarial networks on image datasets: DCGAN, conditional DCGAN, sample quality.

Map:

- :mod:`~rl_lab.gan.models` — :class:`Generator`, :class:`Discriminator` (DCGAN, optionally
  conditioned on a label), :func:`init_dcgan_weights`, :func:`build_gan` from ``cfg.model``.
- :mod:`~rl_lab.gan.trainer` — :class:`AdversarialTrainer` on the supervised trainer's epoch
  loop (alternating updates, label smoothing, instance noise), the collapse guard and the
  best-by-Fréchet-distance checkpoint.
- :mod:`~rl_lab.gan.metrics` — Fréchet distance, mean pairwise distance, label entropy,
  mode-collapse warnings (pure computations on feature vectors).
- :mod:`~rl_lab.gan.feature_classifier` — the cached classifier whose penultimate layer is the
  feature space of the metrics.
- :mod:`~rl_lab.gan.quality` — :class:`SampleQuality`: a generator's metrics against held-out
  real images.
- :mod:`~rl_lab.gan.sampling` — noise, image grids, PNG/NPZ output, latent interpolation.
- :mod:`~rl_lab.gan.task` — ``task=gan``: train, eval and sample modes.
"""
