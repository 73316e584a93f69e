"""The epoch loop over in-memory tensors, shared by every kind of learning from a dataset.

:class:`Trainer` owns time: epochs and mini-batches (a seeded ``randperm`` per epoch over tensors
that already live on the device: no ``DataLoader``), the per-epoch evaluation, callbacks (LR
schedules, early stopping, best/last checkpoints), TensorBoard, the progress bar, the epoch log
line, SIGINT/SIGTERM handling and exact resumption. What is learned, and how, is the subclass's
business. :class:`~rl_lab.supervised.classifier.ClassifierTrainer` is the supervised one
(cross-entropy or quadratic cost). Seeding, RNG state, the divergence guard and the interruption
message come from the training core (:mod:`rl_lab.training`), shared with the RL loops.

How to extend it (the GAN trainer does this with two networks and two optimizers)::

    class MyTrainer(Trainer):
        kind = "gan"                                  # checkpoint kind, checked on load

        def __init__(self, cfg, run_dir, device, nets, data, tracker=None):
            super().__init__(cfg, run_dir, device, tracker)
            self.gen, self.disc = nets                # already on `device`
            self.opt_g, self.opt_d = ..., ...
            self.images = data.to(device)             # moved to the device once

        def networks(self):   return {"generator": self.gen, "discriminator": self.disc}
        def optimizers(self): return {"generator": self.opt_g, "discriminator": self.opt_d}
        def train_tensors(self): return (self.images,)  # indexed together, batch by batch

        def train_step(self, batch):                  # one mini-batch: a tuple like train_tensors
            (real,) = batch
            ...                                       # zero_grad / backward / step, both nets
            return {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()}

        def evaluate(self):                           # once per epoch, after training
            return {"val/fid_proxy": ...}             # plain floats, full TensorBoard tags

        def log_epoch_extras(self, epoch, final):     # images, figures (optional)
            self.tracker.writer.add_image("samples", grid, epoch)

        def extra_state(self, for_resume):            # what else goes into checkpoints
            return {"fixed_noise": self.fixed_noise}
        def load_extra_state(self, payload): self.fixed_noise = payload["fixed_noise"]

    trainer = MyTrainer(cfg, run_dir, device, nets, data, tracker)
    state = trainer.fit(resume_from=checkpoint.load(last_pt, kind="gan") if resume else None)

The contract, hook by hook:

- :meth:`Trainer.train_step` returns *batch means* as 0-d tensors keyed by their TensorBoard tag
  (``train/...``); the loop weights them by the batch size and reports epoch means (a tag some
  batches leave out is averaged over those that report it). Return detached tensors, not
  floats: a ``.item()`` per batch costs a device sync.
- :meth:`Trainer.evaluate` returns the epoch's evaluation metrics (``val/...``) as floats. The
  monitored metric of the callbacks (``trainer.monitor``, e.g. ``val/loss``) must be among them
  or among the epoch's training metrics.
- :meth:`Trainer.networks` / :meth:`Trainer.optimizers` name every module and optimizer; their
  state dicts go into checkpoints under those names, LR schedules apply to every optimizer,
  histograms are drawn for every network, and early stopping restores every network.
- :meth:`Trainer.extra_state` / :meth:`Trainer.load_extra_state` add anything else.
- :attr:`Trainer.state_type`: a :class:`TrainState` subclass, for counters and flags that the
  subclass's callbacks share (saved with the state, so they resume too).
- Gradient clipping: call :meth:`Trainer.clip_gradients` between ``backward()`` and ``step()``.

Each epoch ends with the record ``{"epoch", "train/...", "val/...", "charts/learning_rate",
"time/train_s", "time/epoch_s"}``: logged to TensorBoard at step ``epoch`` (1-based), appended to
``state.history``, printed as one line, then handed to the callbacks in order (schedules, early
stopping, checkpoints last, so ``last.pt`` holds everybody's updated state).

Config keys the base class reads (``cfg.trainer``, declared by
:class:`~rl_lab.supervised.configs.TrainerConfig`): ``epochs``, ``batch_size``,
``grad_clip_norm``, ``tensorboard.{histograms_every, figures_every, graph}`` and, through
:func:`rl_lab.supervised.callbacks.default_callbacks`, ``schedule``, ``early_stopping``,
``checkpoint``, ``monitor``, ``monitor_mode``; plus the run's ``seed`` and ``progress``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.optim import Optimizer

from rl_lab import checkpoint
from rl_lab.signals import GracefulStop
from rl_lab.supervised.callbacks import Callback, default_callbacks
from rl_lab.supervised.progress import EpochProgress
from rl_lab.tracking import Tracker
from rl_lab.training import capture_rng, check_finite, interruption, restore_rng

log = logging.getLogger(__name__)

#: Advice of the divergence error (:func:`~rl_lab.training.check_finite`).
DIVERGENCE_ADVICE = (
    "Lower trainer.optimizer.lr (`python -m rl_lab task=supervised mode=lr_find ...` "
    "suggests one), set trainer.grad_clip_norm, or check the data for NaN values."
)

# ----------------------------------------------------------------------------- state


@dataclass
class TrainState:
    """Counters and history of a training run; saved in every checkpoint."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current, unfinished epoch (0 between epochs)
    steps: int = 0  # optimisation steps (mini-batches) so far
    wall_time_s: float = 0.0  # time inside fit(), summed over resumed sessions
    stop_reason: str | None = None  # set by a callback (early stopping) to end fit()
    history: list[dict[str, float]] = field(default_factory=list)  # one record per epoch


def epoch_line(record: dict[str, float]) -> str:
    """The metrics of an epoch record as one short log line, grouped by prefix:
    ``train loss 0.4044 accuracy 0.9324 | val loss 0.3215 accuracy 0.9222 | lr 0.001``
    (a GAN's ``losses/*`` make a ``losses`` group)."""
    groups: dict[str, list[str]] = {}
    for tag, value in record.items():
        prefix, _, name = tag.partition("/")
        if prefix in ("train", "val", "losses"):
            groups.setdefault(prefix, []).append(f"{name} {value:.4g}")
        elif prefix == "charts" and name.startswith("learning_rate"):
            groups.setdefault("lr", []).append(f"{value:.3g}")
    return " | ".join(f"{prefix} {' '.join(parts)}" for prefix, parts in groups.items())


# ----------------------------------------------------------------------------- the loop


class Trainer:
    """Base of the trainers: the epoch loop over in-memory tensors (see the module docstring).

    Args:
        cfg: the run config; reads ``cfg.trainer``, ``cfg.seed`` and ``cfg.progress``.
        run_dir: the run directory (checkpoints go to ``run_dir/checkpoints``); ``None`` trains
            without writing checkpoints (benchmarks, tests).
        device: where the networks and tensors live (``cpu``, ``cuda``, ...).
        tracker: TensorBoard writer of the run, or ``None``.
        callbacks: the callbacks, in the order they run at each epoch end; ``None`` builds
            them from ``cfg.trainer`` (:func:`~rl_lab.supervised.callbacks.default_callbacks`).
    """

    #: ``kind`` of this trainer's checkpoints (``checkpoint.load(path, kind=...)`` checks it).
    kind: ClassVar[str] = "supervised"
    #: The class of :attr:`state`; a subclass whose callbacks share more state extends it.
    state_type: ClassVar[type[TrainState]] = TrainState

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path | None,
        device: str,
        tracker: Tracker | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.ckpt_dir = run_dir / "checkpoints" if run_dir is not None else None
        self.device = torch.device(device)
        self.tracker = tracker
        self.state = self.state_type()
        # plain values: read on every batch, and DictConfig access costs microseconds
        self.epochs = int(cfg.trainer.epochs)
        self.batch_size = int(cfg.trainer.batch_size)
        clip = cfg.trainer.get("grad_clip_norm")
        self.grad_clip_norm = float(clip) if clip is not None else None
        board = cfg.trainer.tensorboard
        self.histograms_every = int(board.histograms_every)
        self.figures_every = int(board.figures_every)
        self.log_graph = bool(board.graph)
        # the epoch shuffler has its own generator so model code drawing random numbers
        # (dropout) does not change the order of the data
        self.shuffle_rng = torch.Generator().manual_seed(int(cfg.seed))
        self.callbacks: list[Callback] = (
            list(callbacks) if callbacks is not None else default_callbacks(cfg.trainer, run_dir)
        )
        self.resumed = False
        # the unfinished epoch (saved on interrupt): its sample order, the batch metrics not yet
        # summed, the per-tag sums and sample counts, and its training time
        self._order: Tensor | None = None
        self._pending: list[dict[str, Tensor]] = []
        self._pending_counts: list[int] = []
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._train_time = 0.0
        self._session_start, self._wall_before = time.perf_counter(), 0.0

    # ----------------------------------------------------------------- to override
    def networks(self) -> dict[str, nn.Module]:
        """Every network trained, by name (checkpoint keys, histogram tags)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, Optimizer]:
        """Every optimizer, by name; LR schedules apply to each."""
        raise NotImplementedError

    def train_tensors(self) -> tuple[Tensor, ...]:
        """The training data as tensors on the device, first dimension = samples."""
        raise NotImplementedError

    def train_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """One optimisation step on a mini-batch; returns detached 0-d batch means by tag."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """The per-epoch evaluation (``val/...`` metrics), run after each training pass."""
        return {}

    def example_input(self) -> Tensor | tuple[Tensor, ...] | None:
        """An input for ``add_graph`` of the first network (``None``: no graph)."""
        return None

    def log_epoch_extras(self, epoch: int, final: bool) -> None:
        """Figures/images for TensorBoard every ``figures_every`` epochs and once at the end
        (``final``, after early stopping restored the best weights); never when it is 0, nor
        without a tracker."""

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        """Subclass-specific checkpoint content (added at the top level of the payload)."""
        return {}

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    # ----------------------------------------------------------------- helpers for subclasses
    def clip_gradients(self, module: nn.Module) -> None:
        """Clip ``module``'s global gradient norm to ``trainer.grad_clip_norm`` (if set)."""
        if self.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip_norm)

    def learning_rates(self) -> dict[str, float]:
        """Current learning rate of each optimizer (its first parameter group)."""
        return {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers().items()}

    def request_stop(self, reason: str) -> None:
        """End :meth:`fit` after the current epoch (used by early stopping)."""
        self.state.stop_reason = reason

    # ----------------------------------------------------------------- the loop
    def fit(self, resume_from: dict[str, Any] | None = None) -> TrainState:
        """Train until ``trainer.epochs`` epochs are done or a callback stops the run.

        Args:
            resume_from: a loaded ``last.pt`` payload of this run to continue from exactly
                (mid-epoch too, when it was written by an interrupt).

        Raises:
            InterruptedRunError: SIGINT/SIGTERM; ``last.pt`` was written first.
            TrainingDivergedError: a training metric became NaN/infinite; the last good
                checkpoint is kept.
        """
        for callback in self.callbacks:
            callback.setup(self)
        if resume_from is not None:
            self.restore(resume_from)
        elif self.tracker is not None and self.log_graph:
            self._log_graph()
        n_samples = self.train_tensors()[0].shape[0]
        n_batches = math.ceil(n_samples / self.batch_size)
        self._session_start = time.perf_counter()
        self._wall_before = self.state.wall_time_s
        progress = EpochProgress(self.epochs, n_batches, enabled=bool(self.cfg.get("progress")))
        with GracefulStop() as stop, progress:
            while self.state.epoch < self.epochs and self.state.stop_reason is None:
                epoch_start = time.perf_counter()
                progress.start_epoch(self.state.epoch + 1, self.state.batch)
                train_metrics = self._train_epoch(stop, progress)
                self.state.epoch += 1
                self.state.batch = 0
                val_metrics = self.evaluate()
                record: dict[str, float] = {"epoch": self.state.epoch, **train_metrics}
                record.update(val_metrics)
                record.update(self._lr_record())
                record["time/train_s"] = self._train_time
                record["time/epoch_s"] = time.perf_counter() - epoch_start
                self._update_wall_time()
                self.state.history.append(record)
                self._log_epoch(record)
                for callback in self.callbacks:
                    callback.on_epoch_end(self, record)
                if stop.requested:
                    self.interrupt(stop.requested)
        for callback in self.callbacks:
            callback.on_fit_end(self)
        self._update_wall_time()
        if self.tracker is not None and self.figures_every:
            self.log_epoch_extras(self.state.epoch, final=True)
        return self.state

    def _update_wall_time(self) -> None:
        self.state.wall_time_s = self._wall_before + time.perf_counter() - self._session_start

    def _train_epoch(self, stop: GracefulStop, progress: EpochProgress) -> dict[str, float]:
        """One pass over the training tensors in a fresh random order; returns epoch means."""
        tensors = self.train_tensors()
        n_samples = tensors[0].shape[0]
        size = self.batch_size
        if self.state.batch == 0:  # a new epoch (else: continue an interrupted one)
            self._order = torch.randperm(n_samples, generator=self.shuffle_rng).to(self.device)
            self._pending, self._pending_counts, self._sums, self._counts = [], [], {}, {}
            self._train_time = 0.0
        for network in self.networks().values():
            network.train()
        order, pending, pending_counts = self._order, self._pending, self._pending_counts
        assert order is not None  # drawn above, or restored with an interrupted epoch
        n_batches = math.ceil(n_samples / size)
        refresh = max(1, n_batches // 50)  # progress/NaN checks: ~50 per epoch, one sync each
        started = time.perf_counter()
        for index in range(self.state.batch, n_batches):
            rows = order[index * size : (index + 1) * size]
            count = min(size, n_samples - index * size)
            # a trailing batch of one sample is skipped: BatchNorm cannot train on it
            if count > 1 or n_samples == 1:
                # kept as is and summed every `refresh` batches: one stack per tag is cheaper
                # than tensor arithmetic on every batch
                pending.append(self.train_step(tuple(t[rows] for t in tensors)))
                pending_counts.append(count)
                self.state.steps += 1
            self.state.batch = index + 1
            if stop.requested:
                self._train_time += time.perf_counter() - started
                self.interrupt(stop.requested)
            if self.state.batch % refresh == 0 or self.state.batch == n_batches:
                self._flush_pending()
                means = self._means()
                self._check_finite(means)
                progress.update(self.state.batch, means)
        self._train_time += time.perf_counter() - started
        return self._means()

    def _flush_pending(self) -> None:
        """Add the pending batch means, weighted by batch size, to the epoch's per-tag sums (a
        tag some batches do not report is averaged over the batches that do)."""
        pending, counts = self._pending, self._pending_counts
        for tag in dict.fromkeys(tag for metrics in pending for tag in metrics):
            reported = [(m[tag], n) for m, n in zip(pending, counts, strict=True) if tag in m]
            values = torch.stack([value for value, _ in reported])
            weights = torch.tensor([n for _, n in reported], dtype=values.dtype).to(values.device)
            total = (values * weights).sum()
            self._sums[tag] = self._sums[tag] + total if tag in self._sums else total
            self._counts[tag] = self._counts.get(tag, 0) + sum(n for _, n in reported)
        pending.clear()
        counts.clear()

    def _means(self) -> dict[str, float]:
        return {tag: (total / self._counts[tag]).item() for tag, total in self._sums.items()}

    def _check_finite(self, means: dict[str, float]) -> None:
        check_finite(
            means,
            f"in epoch {self.state.epoch + 1} (step {self.state.steps:,})",
            self.ckpt_dir / "last.pt" if self.ckpt_dir is not None else None,
            DIVERGENCE_ADVICE,
        )

    def _lr_record(self) -> dict[str, float]:
        rates = self.learning_rates()
        if len(rates) == 1:
            return {"charts/learning_rate": next(iter(rates.values()))}
        return {f"charts/learning_rate_{name}": lr for name, lr in rates.items()}

    # ----------------------------------------------------------------- logging
    def _log_epoch(self, record: dict[str, float]) -> None:
        epoch = self.state.epoch
        log.info(
            "epoch %d/%d  %s  (%.1f s)",
            epoch,
            self.epochs,
            epoch_line(record),
            record["time/epoch_s"],
        )
        if self.tracker is None:
            return
        self.tracker.scalars({k: v for k, v in record.items() if k != "epoch"}, epoch)
        if self.histograms_every and epoch % self.histograms_every == 0:
            self._log_histograms(epoch)
        if self.figures_every and epoch % self.figures_every == 0 and epoch < self.epochs:
            self.log_epoch_extras(epoch, final=False)

    def _log_histograms(self, epoch: int) -> None:
        assert self.tracker is not None  # called from _log_epoch, which has a tracker
        writer = self.tracker.writer
        for net_name, network in self.networks().items():
            for name, param in network.named_parameters():
                writer.add_histogram(f"weights/{net_name}/{name}", param.detach(), epoch)
                if param.grad is not None:  # the last mini-batch's gradients
                    writer.add_histogram(f"gradients/{net_name}/{name}", param.grad, epoch)

    def _log_graph(self) -> None:
        tracker = self.tracker
        assert tracker is not None  # fit logs the graph only with a tracker
        example = self.example_input()
        if example is None:
            return
        network = next(iter(self.networks().values()))
        was_training = network.training
        network.eval()
        try:
            with warnings.catch_warnings():  # tracing warns about every Python-side shape check
                warnings.simplefilter("ignore")
                tracker.writer.add_graph(network, example)
        except Exception as exc:  # tracing is best effort: some modules cannot be traced
            log.warning("TensorBoard graph not written (%s: %s)", type(exc).__name__, exc)
        finally:
            network.train(was_training)

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_payload(self, for_resume: bool) -> dict[str, Any]:
        """What a checkpoint holds: always the config, the networks and the counters; for
        ``last.pt`` (``for_resume``) also optimizers, callbacks, RNG states and, when written
        mid-epoch, the unfinished epoch."""
        state = asdict(self.state)
        payload: dict[str, Any] = {
            "kind": self.kind,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "networks": {name: net.state_dict() for name, net in self.networks().items()},
            "state": state,
            **self.extra_state(for_resume),
        }
        if for_resume:
            payload["optimizers"] = {n: o.state_dict() for n, o in self.optimizers().items()}
            payload["callbacks"] = {cb.name: cb.state_dict() for cb in self.callbacks}
            payload["rng"] = capture_rng(self._generators())
            if self.state.batch > 0:
                assert self._order is not None  # an epoch is under way
                payload["partial_epoch"] = {
                    "order": self._order.cpu(),
                    "pending": [
                        {tag: value.detach().cpu() for tag, value in metrics.items()}
                        for metrics in self._pending
                    ],
                    "pending_counts": list(self._pending_counts),
                    "sums": {tag: value.detach().cpu() for tag, value in self._sums.items()},
                    "counts": dict(self._counts),
                    "train_time_s": self._train_time,
                }
        return payload

    def save_checkpoint(self, name: str = "last.pt") -> Path | None:
        """Write ``checkpoints/<name>`` atomically (``last.pt``: everything resume needs)."""
        if self.ckpt_dir is None:
            return None
        return checkpoint.save(self.checkpoint_payload(name == "last.pt"), self.ckpt_dir / name)

    def _generators(self) -> dict[str, torch.Generator]:
        # the trainer's own generators, by their key in the checkpoint's "rng"
        return {"shuffle": self.shuffle_rng}

    def restore(self, payload: dict[str, Any]) -> None:
        """Load a ``last.pt`` payload: networks, optimizers, callbacks, counters, RNG states."""
        for name, network in self.networks().items():
            network.load_state_dict(payload["networks"][name])
        for name, optimizer in self.optimizers().items():
            optimizer.load_state_dict(payload["optimizers"][name])
        saved_callbacks = payload.get("callbacks", {})
        for callback in self.callbacks:
            if callback.name in saved_callbacks:
                callback.load_state_dict(saved_callbacks[callback.name])
        self.state = self.state_type(**payload["state"])
        partial = payload.get("partial_epoch")
        if partial is not None:
            self._order = partial["order"].to(self.device)
            self._pending = [
                {tag: value.to(self.device) for tag, value in metrics.items()}
                for metrics in partial["pending"]
            ]
            self._pending_counts = [int(n) for n in partial["pending_counts"]]
            self._sums = {tag: value.to(self.device) for tag, value in partial["sums"].items()}
            self._counts = {tag: int(n) for tag, n in partial["counts"].items()}
            self._train_time = float(partial["train_time_s"])
        self.load_extra_state(payload)
        restore_rng(payload["rng"], self._generators())
        self.resumed = True

    def interrupt(self, signal_name: str) -> None:
        """Save ``last.pt`` and raise the error that tells the user how to resume."""
        self._update_wall_time()
        path = self.save_checkpoint()
        where = f"in epoch {self.state.epoch + 1}, batch {self.state.batch}"
        raise interruption(signal_name, where, path, self.cfg.task.name, self.run_dir)
