"""A job that failed is a failed Optuna trial, not the end of the search (a Hydra callback).

In a multirun the app records a failed job (bad sampled value, diverging loss, ...) as
``status: failed`` in its results.json and returns NaN, so that the other jobs go on. Hydra's
Optuna sweeper (hydra-optuna-sweeper 1.3 with optuna 2.10) then stops the whole search: it tells
Optuna the NaN, Optuna refuses it (``Trial N failed, because the objective function returned
nan``), and the sweeper's own error handling tells the trial a second time, which raises
``Values cannot be specified when state is TrialState.PRUNED or TrialState.FAIL``.

:class:`NanAsFailedTrial` runs at the end of every job, where the job ran, and marks a NaN
return as a failed job carrying the job's error message. The sweeper then records a failed trial
and goes on, up to its ``max_failure_rate``. Sweeps with other sweepers are left alone: there a
failed job would stop the sweep, which is what the NaN avoids.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rl_lab.reports.runs import read_results

log = logging.getLogger(__name__)


class FailedTrialError(RuntimeError):
    """The job of an Optuna trial failed; the message is the job's own error."""


def is_optuna_sweep(config: DictConfig) -> bool:
    """Whether ``config`` (with its ``hydra`` node) is a job of Hydra's Optuna sweeper."""
    target = OmegaConf.select(config, "hydra.sweeper._target_", default="") or ""
    return "optuna" in str(target).lower()


def job_error(run_dir: Path) -> str:
    """The first line of the error recorded in ``run_dir/results.json`` (or a generic text)."""
    results = read_results(run_dir)
    error = results.error_line if results is not None else ""
    return error or f"the job returned NaN (see {run_dir / 'run.log'})"


class NanAsFailedTrial(Callback):
    """Hydra callback: in an Optuna sweep, a job that returned NaN is reported as failed."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Turn a NaN objective into a failed job whose error is the run's error message."""
        if job_return.status != JobStatus.COMPLETED or not is_optuna_sweep(config):
            return
        value = job_return.return_value
        if not (isinstance(value, float) and math.isnan(value)):
            return
        run_dir = Path(str(OmegaConf.select(config, "hydra.runtime.output_dir")))
        job_return.status = JobStatus.FAILED
        job_return.return_value = FailedTrialError(f"{run_dir.name}: {job_error(run_dir)}")
