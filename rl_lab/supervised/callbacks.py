"""Callbacks of the epoch loop: LR schedules, early stopping, best/last checkpoints.

A callback sees the trainer once before training (:meth:`Callback.setup`), after every epoch
(:meth:`Callback.on_epoch_end`, with the epoch's record ``{"epoch", "train/loss", "val/loss",
...}``) and once at the end (:meth:`Callback.on_fit_end`). Its :meth:`Callback.state_dict` goes
into ``last.pt`` under :attr:`Callback.name`, so a resumed run continues with the same patience
counters, best values and scheduler state.

Callbacks run in list order; :func:`default_callbacks` puts :class:`Checkpoint` last, so the
``last.pt`` it writes holds every other callback's state after this epoch.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from omegaconf import DictConfig
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau, StepLR

from rl_lab.errors import ConfigError

if TYPE_CHECKING:
    from rl_lab.supervised.trainer import Trainer

log = logging.getLogger(__name__)


class Callback:
    """Base class: every hook does nothing; override what you need."""

    #: key of this callback's state in ``last.pt`` (unique among a trainer's callbacks)
    name: str = "callback"

    def setup(self, trainer: Trainer) -> None:
        """Called once by :meth:`Trainer.fit` before training (and before a resume restores
        state): build what depends on the trainer's optimizers or networks."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        """Called after each epoch's training and evaluation with the epoch's record."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once when training ends (all epochs done or a stop requested)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""


def monitored(record: dict[str, float], key: str, who: str) -> float:
    """``record[key]``, or a ConfigError naming the metrics that exist."""
    try:
        return record[key]
    except KeyError:
        available = ", ".join(k for k in record if "/" in k and not k.startswith("time/"))
        raise ConfigError(
            f"{who} monitors `{key}`, which this run does not compute. Available metrics: "
            f"{available}. Set trainer.monitor (or the callback's own monitor) to one of them."
        ) from None


class Best:
    """The best value of a monitored metric so far (``mode``: ``min`` or ``max``)."""

    def __init__(self, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.min_delta = min_delta
        self.value: float | None = None
        self.epoch: int | None = None

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` if it improves on the best by more than ``min_delta``."""
        if value != value:  # NaN never improves
            return False
        improved = (
            self.value is None
            or (self.mode == "min" and value < self.value - self.min_delta)
            or (self.mode == "max" and value > self.value + self.min_delta)
        )
        if improved:
            self.value, self.epoch = value, epoch
        return improved

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.epoch = state["value"], state["epoch"]


class LRSchedule(Callback):
    """Per-epoch learning-rate schedule, one scheduler per optimizer of the trainer.

    Args:
        name: ``constant``; ``step`` (multiply by ``gamma`` every ``step_size`` epochs);
            ``cosine`` (cosine annealing from the optimizer's lr to ``min_lr`` over ``epochs``,
            Loshchilov & Hutter 2017); ``plateau`` (multiply by ``factor`` when ``monitor`` has
            not improved for ``patience`` epochs, down to ``min_lr``).
        epochs: the run's length in epochs (cosine's period).
        step_size, gamma: ``step``'s period (epochs) and factor.
        min_lr: floor of ``cosine`` and ``plateau``.
        factor, patience: ``plateau``'s factor and patience (epochs).
        monitor, mode: ``plateau``'s metric and whether lower (``min``) or higher is better.
    """

    name = "lr_schedule"

    @classmethod
    def from_config(
        cls, trainer_cfg: DictConfig, monitor: str = "val/loss", mode: Literal["min", "max"] = "min"
    ) -> LRSchedule:
        """The schedule ``trainer_cfg.schedule`` names, over ``trainer_cfg.epochs`` epochs
        (``plateau``'s factor and patience where the trainer has them: the GAN trainer has not)."""
        schedule = trainer_cfg.schedule
        plateau: dict[str, Any] = {}
        if "factor" in schedule:
            plateau["factor"] = float(schedule.factor)
        if "patience" in schedule:
            plateau["patience"] = int(schedule.patience)
        return cls(
            schedule.name,
            epochs=int(trainer_cfg.epochs),
            step_size=int(schedule.step_size),
            gamma=float(schedule.gamma),
            min_lr=float(schedule.min_lr),
            monitor=monitor,
            mode=mode,
            **plateau,
        )

    def __init__(
        self,
        name: str = "constant",
        epochs: int = 1,
        step_size: int = 10,
        gamma: float = 0.1,
        min_lr: float = 0.0,
        factor: float = 0.1,
        patience: int = 5,
        monitor: str = "val/loss",
        mode: Literal["min", "max"] = "min",
    ) -> None:
        if name not in ("constant", "step", "cosine", "plateau"):
            raise ValueError(f"unknown schedule {name!r}; valid: constant, step, cosine, plateau")
        self.schedule = name
        self.epochs = epochs
        self.step_size, self.gamma = step_size, gamma
        self.min_lr = min_lr
        self.factor, self.patience = factor, patience
        self.monitor, self.mode = monitor, mode
        self.schedulers: dict[str, LRScheduler | ReduceLROnPlateau] = {}

    def _make(self, optimizer: Optimizer) -> LRScheduler | ReduceLROnPlateau | None:
        if self.schedule == "step":
            return StepLR(optimizer, step_size=self.step_size, gamma=self.gamma)
        if self.schedule == "cosine":
            return CosineAnnealingLR(optimizer, T_max=self.epochs, eta_min=self.min_lr)
        if self.schedule == "plateau":
            return ReduceLROnPlateau(
                optimizer,
                mode=self.mode,
                factor=self.factor,
                patience=self.patience,
                min_lr=self.min_lr,
            )
        return None

    def setup(self, trainer: Trainer) -> None:
        self.schedulers = {}
        for opt_name, optimizer in trainer.optimizers().items():
            scheduler = self._make(optimizer)
            if scheduler is not None:
                self.schedulers[opt_name] = scheduler

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        for scheduler in self.schedulers.values():
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(monitored(record, self.monitor, "The plateau LR schedule"))
            else:
                scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, scheduler in self.schedulers.items():
            if name in state:
                scheduler.load_state_dict(state[name])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best``, the networks get the best epoch's weights back when training ends
    (stopped early or not), so the model the run evaluates and returns is the best one by
    ``monitor``. The best weights are kept in memory (and in ``last.pt`` for resumption).
    """

    name = "early_stopping"

    def __init__(
        self,
        monitor: str = "val/loss",
        mode: str = "min",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        self.monitor = monitor
        self.patience = patience
        self.restore_best = restore_best
        self.best = Best(mode, min_delta)
        self.wait = 0  # epochs since the last improvement
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, dict[str, Any]] | None = None

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        value = monitored(record, self.monitor, "Early stopping")
        epoch = int(record["epoch"])
        if self.best.update(value, epoch):
            self.wait = 0
            if self.restore_best:
                self.best_weights = {
                    name: copy.deepcopy(net.state_dict())
                    for name, net in trainer.networks().items()
                }
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.request_stop(
                f"early stopping: {self.monitor} has not improved for {self.patience} epochs "
                f"(best {self.best.value:.4g} at epoch {self.best.epoch})"
            )
            log.info("Early stopping at epoch %d: %s", epoch, trainer.state.stop_reason)

    def on_fit_end(self, trainer: Trainer) -> None:
        if not self.restore_best or self.best_weights is None:
            return
        if self.best.epoch == trainer.state.epoch:
            return  # the last epoch is the best: nothing to restore
        for name, network in trainer.networks().items():
            network.load_state_dict(self.best_weights[name])
        log.info(
            "Restored the weights of epoch %d (best %s %.4g)",
            self.best.epoch,
            self.monitor,
            self.best.value,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best.state_dict(),
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best.load_state_dict(state["best"])
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_weights = state["best_weights"]


class Checkpoint(Callback):
    """``best.pt`` whenever ``monitor`` improves; ``last.pt`` every ``every`` epochs and at the
    last epoch (``every=0``: only then). Both are written atomically by
    :func:`rl_lab.checkpoint.save`; ``last.pt`` holds everything a resumed run needs."""

    name = "checkpoint"

    def __init__(
        self, every: int = 1, save_best: bool = True, monitor: str = "val/loss", mode: str = "min"
    ) -> None:
        self.every = every
        self.save_best = save_best
        self.monitor = monitor
        self.best = Best(mode)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        epoch = int(record["epoch"])
        if self.save_best and self.best.update(
            monitored(record, self.monitor, "The best checkpoint"), epoch
        ):
            trainer.save_checkpoint("best.pt")
        final = epoch >= trainer.epochs or trainer.state.stop_reason is not None
        if final or (self.every > 0 and epoch % self.every == 0):
            trainer.save_checkpoint("last.pt")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best.load_state_dict(state["best"])


class StopAt(Callback):
    """Stop after the first epoch whose ``monitor`` reaches ``value``: at least it (``mode``
    max) or at most it (min). Epochs that do not measure ``monitor`` (a GAN measures its sample
    quality every few epochs) are passed over."""

    name = "stop_at"

    def __init__(self, monitor: str, value: float, mode: str) -> None:
        self.monitor, self.value, self.mode = monitor, value, mode

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        if self.monitor not in record:
            return
        value = record[self.monitor]
        if value >= self.value if self.mode == "max" else value <= self.value:
            trainer.request_stop(
                f"stop_at: {self.monitor} = {value:.4g} reached {self.value:g} at epoch "
                f"{int(record['epoch'])}"
            )
            log.info("Stopping: %s", trainer.state.stop_reason)


def default_callbacks(trainer_cfg: DictConfig, run_dir: Path | None) -> list[Callback]:
    """The callbacks ``cfg.trainer`` asks for: the LR schedule, early stopping (when enabled)
    and, when the run has a directory, checkpoints (last)."""
    monitor, mode = trainer_cfg.monitor, trainer_cfg.monitor_mode
    callbacks: list[Callback] = [LRSchedule.from_config(trainer_cfg, monitor, mode)]
    stopping = trainer_cfg.early_stopping
    if stopping.enabled:
        callbacks.append(
            EarlyStopping(
                stopping.get("monitor") or monitor,
                stopping.get("mode") or mode,
                patience=int(stopping.patience),
                min_delta=float(stopping.min_delta),
                restore_best=bool(stopping.restore_best),
            )
        )
    if run_dir is not None:
        saving = trainer_cfg.checkpoint
        callbacks.append(Checkpoint(int(saving.every), bool(saving.best), monitor, mode))
    return callbacks
