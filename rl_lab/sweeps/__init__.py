"""Sweeps at scale: what rl_lab adds to Hydra's launchers and sweepers.

- :mod:`rl_lab.sweeps.threads`: a Hydra callback that gives every job of a parallel sweep its
  share of the cores (OMP/MKL/torch threads), so jobs do not oversubscribe the machine.
- :mod:`rl_lab.sweeps.failed_trials`: a failed job is a failed Optuna trial, not the end of the
  search.
- :mod:`rl_lab.sweeps.best_preset`: after an Optuna search, writes the best trial as a
  ready-to-run ``experiment=<name>`` preset (a Hydra callback, and ``python -m
  rl_lab.sweeps.best_preset SWEEP_DIR``).
- :mod:`rl_lab.sweeps.search`: search spaces (``tune.search_space``), samplers and pruners of
  ``python -m rl_lab.tune`` (:mod:`rl_lab.tune`), and the callback that points
  ``python -m rl_lab experiment=*_search`` at that command.

The configs live in ``conf/hydra/launcher`` (ray), ``conf/hparams_search`` (search spaces) and
``conf/experiment/*_search.yaml``; ``python -m rl_lab.summarize`` reads the results (the
trials of an Optuna sweep ranked, one TensorBoard HPARAMS view for the whole sweep: see
:mod:`rl_lab.reports`).
"""
