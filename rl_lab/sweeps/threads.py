"""Per-job thread limits for parallel sweeps (a Hydra callback).

Two jobs that each start one OpenMP/MKL thread per core on a 2-core machine run slower together
than one after the other. :class:`JobThreads` runs at the start of every job of a multirun (in
the job's own process, wherever the launcher put it) and limits the job to its share of the
cores: ``max(1, cores // parallel_jobs)`` for the joblib launcher, the CPUs Ray reserves for the
task for the Ray launcher. It sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/
``OPENBLAS_NUM_THREADS`` (inherited by subprocesses such as async vector envs) and
``torch.set_num_threads``. An explicit ``torch_threads`` in the run's config is applied after it
by the app and wins; a value larger than the share is reported as oversubscription.

Registered for every run in ``conf/config.yaml`` (``hydra.callbacks.job_threads``); single runs
and the sequential basic launcher are left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rl_lab.config_dict import config_dict

log = logging.getLogger(__name__)

#: Environment variables read by the OpenMP, MKL and OpenBLAS thread pools when they start.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def joblib_parallel_jobs(n_jobs: int, cores: int) -> int:
    """Jobs joblib runs at once for ``n_jobs`` (negative: ``cores + 1 + n_jobs``, as joblib)."""
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return max(1, n_jobs)


def job_cpus(launcher: Mapping[str, Any], cores: int) -> int:
    """Cores one job of a sweep may use, from the ``hydra.launcher`` config.

    Args:
        launcher: The resolved ``hydra.launcher`` node.
        cores: Cores of the machine that runs the job.

    Returns:
        joblib: ``max(1, cores // parallel jobs)``; Ray: the task's ``num_cpus`` (1 when unset,
        as Ray reserves); submitit: ``cpus_per_task``; any other (sequential) launcher: ``cores``.
    """
    if "n_jobs" in launcher:  # hydra-joblib-launcher
        return max(1, cores // joblib_parallel_jobs(int(launcher["n_jobs"]), cores))
    ray = launcher.get("ray")
    if isinstance(ray, Mapping):  # hydra-ray-launcher
        remote = ray.get("remote") or {}
        return max(1, int(remote.get("num_cpus") or 1))
    if launcher.get("cpus_per_task"):  # hydra-submitit-launcher
        return max(1, int(launcher["cpus_per_task"]))
    return cores


def limit_threads(threads: int) -> None:
    """Limit this process (and the processes it starts) to ``threads`` compute threads."""
    import torch  # the job imports it anyway; importing here keeps the callback cheap to build

    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)


class JobThreads(Callback):
    """Hydra callback: each job of a parallel multirun gets its share of the cores."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Set the thread limits of this job before the app runs (multirun only)."""
        mode = OmegaConf.select(config, "hydra.mode")
        if getattr(mode, "name", mode) != RunMode.MULTIRUN.name:  # enum, or its name as text
            return
        launcher = config_dict(config.hydra.launcher, resolve=True)
        cores = available_cores()
        threads = job_cpus(launcher, cores)
        limit_threads(threads)
        requested = OmegaConf.select(config, "torch_threads")
        if requested is not None and requested > threads:
            log.warning(
                "torch_threads=%d but this job's share of the %d cores is %d thread(s): parallel "
                "jobs will compete for cores. Use torch_threads=null to take the share.",
                requested,
                cores,
                threads,
            )
        log.info("Job threads: %d (this job's share of %d cores)", threads, cores)
