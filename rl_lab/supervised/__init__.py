"""Supervised learning on image datasets: classifiers from the zoo, the epoch-loop trainer.

Map:

- :mod:`~rl_lab.supervised.trainer` — :class:`Trainer`: the epoch loop over in-memory tensors,
  extended by the classifier and the GAN trainer.
- :mod:`~rl_lab.supervised.configs` — the trainer's settings as one typed config class
  (``trainer=default``), from which its defaults and validation rules derive.
- :mod:`~rl_lab.supervised.classifier` — :class:`ClassifierTrainer` and its losses.
- :mod:`~rl_lab.supervised.optimizers` — the optimizers by name (``trainer.optimizer.name``).
- :mod:`~rl_lab.supervised.callbacks` — LR schedules, early stopping, best/last checkpoints.
- :mod:`~rl_lab.supervised.models` — MLP, CNN (LeNet-style or deep) and row-by-row LSTM
  classifiers built from ``cfg.model``.
- :mod:`~rl_lab.supervised.lr_finder` — the LR range test (``mode=lr_find``).
- :mod:`~rl_lab.supervised.augment` — random flips and shifts of training batches.
- :mod:`~rl_lab.supervised.figures` — confusion matrix and LR-finder plots.
- :mod:`~rl_lab.supervised.progress` — the live progress bar of an epoch.
- :mod:`~rl_lab.supervised.task` — ``task=supervised``: train, eval and lr_find modes.
"""
