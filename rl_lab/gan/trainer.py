"""The adversarial trainer: two networks, two optimizers, on the supervised trainer's epoch loop.

:class:`AdversarialTrainer` subclasses :class:`rl_lab.supervised.trainer.Trainer`, which owns
time (epochs, shuffled mini-batches of in-memory tensors, the progress bar, TensorBoard, NaN
checks, SIGINT/SIGTERM, exact resumption). What is GAN-specific is here:

- :meth:`AdversarialTrainer.train_step`: one discriminator update per mini-batch and one
  generator update every ``trainer.d_steps`` mini-batches (k discriminator steps per generator
  step, each on a fresh real batch);
- the losses (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661), with logits and
  ``BCEWithLogits`` for numerical stability::

      L_D = BCE(D(x), r) + BCE(D(G(z)), 0)       r = trainer.real_label (0.9: one-sided
                                                     label smoothing, Salimans et al. 2016)
      L_G = BCE(D(G(z)), 1)                      the non-saturating generator loss

- instance noise (Sønderby et al. 2017): Gaussian noise of std ``trainer.instance_noise.std``
  added to every discriminator input, annealed linearly to 0 over
  ``instance_noise.anneal_epochs`` epochs;
- per-network optimizers with Keras-style options: ``decay`` (``lr / (1 + decay * updates)``)
  and ``clip_value`` (clip each gradient element to ``[-v, v]``);
- the callbacks: :class:`CollapseGuard` stops a run whose discriminator has won outright, and
  :class:`SampleQualityCheckpoint` writes ``best.pt`` at the best Fréchet distance;
- TensorBoard: ``losses/discriminator``, ``losses/generator``, ``losses/D(x)``,
  ``losses/D(G(z))`` (epoch means), ``val/...`` sample-quality metrics, ``charts/...``
  learning rates and instance noise, and ``samples/fixed_noise``: a grid from the same noise
  every epoch (a conditional GAN: one row per class, one noise vector per column).

Images enter training scaled to ``[-1, 1]`` (the generator's tanh range).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.optim import Optimizer

from rl_lab.errors import TrainingDivergedError
from rl_lab.gan.configs import STOP_AT_MONITORS
from rl_lab.gan.models import Discriminator, Generator
from rl_lab.gan.sampling import enlarge, generate, image_grid, noise, png_scale, to_signed
from rl_lab.supervised.callbacks import Callback, Checkpoint, LRSchedule, StopAt
from rl_lab.supervised.optimizers import build_optimizer
from rl_lab.supervised.trainer import Trainer, TrainState
from rl_lab.tracking import Tracker

log = logging.getLogger(__name__)

#: The monitored metric of ``best.pt`` (lower is better).
MONITOR = "val/frechet_distance"


def binary_entropy(p: float) -> float:
    """``-(p ln p + (1-p) ln(1-p))`` in nats: the least BCE a target ``p`` allows."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1.0 - p) * math.log(1.0 - p))


@dataclass
class AdversarialState(TrainState):
    """:class:`~rl_lab.supervised.trainer.TrainState` plus what the GAN callbacks share."""

    # set by CollapseGuard during a suspicious streak; SampleQualityCheckpoint then keeps
    # last.pt at the last good epoch
    hold_last_checkpoint: bool = False


class CollapseGuard(Callback):
    """Stops a run whose discriminator has won outright: the generator then gets no useful
    gradient and never recovers.

    An epoch is *suspicious* when the discriminator's epoch-mean loss is within ``d_loss`` of
    its floor (0 with hard labels, ``binary_entropy(real_label)`` with smoothing) while the
    generator's exceeds ``g_loss`` (8 nats: ``D(G(z)) < 3e-4``). During a suspicious streak the
    trainer holds ``last.pt`` at the last good epoch (``trainer.state.hold_last_checkpoint``,
    read by :class:`SampleQualityCheckpoint`);
    ``patience`` suspicious epochs in a row raise :class:`~rl_lab.errors.TrainingDivergedError`.
    """

    name = "collapse_guard"

    def __init__(self, patience: int, d_loss: float, g_loss: float, real_label: float) -> None:
        self.patience = patience
        self.d_loss = d_loss
        self.g_loss = g_loss
        self.floor = binary_entropy(real_label)
        self.streak = 0
        self.last_good_epoch = 0

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        state = trainer.state
        assert isinstance(state, AdversarialState)  # the state of an AdversarialTrainer
        d_loss, g_loss = record["losses/discriminator"], record["losses/generator"]
        epoch = int(record["epoch"])
        if d_loss < self.floor + self.d_loss and g_loss > self.g_loss:
            self.streak += 1
            log.warning(
                "Epoch %d: the discriminator is winning outright (D loss %.4g, G loss %.4g); "
                "%d more such epoch(s) stop the run. checkpoints/last.pt stays at epoch %d.",
                epoch,
                d_loss,
                g_loss,
                self.patience - self.streak,
                self.last_good_epoch,
            )
        else:
            self.streak = 0
            self.last_good_epoch = epoch
        state.hold_last_checkpoint = self.streak > 0
        if self.streak >= self.patience:
            last = trainer.ckpt_dir / "last.pt" if trainer.ckpt_dir is not None else None
            kept = (
                f"{last} (epoch {self.last_good_epoch}) is kept"
                if last is not None and last.exists()
                else "no checkpoint had been written"
            )
            raise TrainingDivergedError(
                f"The discriminator collapsed the game: for {self.streak} epochs its loss stayed "
                f"at its floor (last {d_loss:.3g}) while the generator's loss exploded (last "
                f"{g_loss:.3g}), so the generator gets no useful gradient. Training stopped at "
                f"epoch {epoch}; the last good checkpoint {kept}. Try a smaller "
                "discriminator learning rate (trainer.discriminator_optimizer.lr), one-sided "
                "label smoothing (trainer.real_label=0.9), instance noise "
                "(trainer.instance_noise.std=0.1) or dropout in the discriminator "
                "(model.discriminator.dropout=0.4)."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak, "last_good_epoch": self.last_good_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak, self.last_good_epoch = state["streak"], state["last_good_epoch"]


class SampleQualityCheckpoint(Checkpoint):
    """:class:`~rl_lab.supervised.callbacks.Checkpoint` for metrics measured every few epochs:
    ``best.pt`` when a measured Fréchet distance improves (epochs without a measurement are
    skipped), and ``last.pt`` unless :class:`CollapseGuard` holds it (the last epoch always
    writes it)."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        state = trainer.state
        assert isinstance(state, AdversarialState)  # the state of an AdversarialTrainer
        epoch = int(record["epoch"])
        if (
            self.save_best
            and self.monitor in record
            and self.best.update(record[self.monitor], epoch)
        ):
            trainer.save_checkpoint("best.pt")
        final = epoch >= trainer.epochs or state.stop_reason is not None
        periodic = self.every > 0 and epoch % self.every == 0
        if final or (periodic and not state.hold_last_checkpoint):
            trainer.save_checkpoint("last.pt")


def gan_callbacks(trainer_cfg: DictConfig, run_dir: Path | None) -> list[Callback]:
    """LR schedule (per epoch), the collapse guard, the quality target (``trainer.stop_at``),
    then checkpoints (last, so ``last.pt`` holds every other callback's state and is written
    on the epoch that stops the run)."""
    callbacks: list[Callback] = [
        LRSchedule.from_config(trainer_cfg),
        CollapseGuard(
            int(trainer_cfg.collapse.patience),
            float(trainer_cfg.collapse.d_loss),
            float(trainer_cfg.collapse.g_loss),
            float(trainer_cfg.real_label),
        ),
    ]
    stop_at = trainer_cfg.get("stop_at")
    if stop_at is not None and stop_at.value is not None:
        higher_is_better = STOP_AT_MONITORS[stop_at.monitor]
        callbacks.append(
            StopAt(stop_at.monitor, float(stop_at.value), "max" if higher_is_better else "min")
        )
    if run_dir is not None:
        saving = trainer_cfg.checkpoint
        callbacks.append(SampleQualityCheckpoint(int(saving.every), bool(saving.best), MONITOR))
    return callbacks


def fixed_batch(
    latent_dim: int, num_classes: int | None, seed: int, columns: int = 8
) -> tuple[Tensor, Tensor | None]:
    """The noise (and labels) of the TensorBoard sample grid, the same every epoch.

    Unconditional: ``columns**2`` noise vectors. Conditional: ``num_classes`` rows of
    ``columns`` images; row ``c`` has label ``c`` and column ``j`` the same noise in every row,
    so a column shows one "style" drawn as every class.
    """
    if not num_classes:
        return noise(columns * columns, latent_dim, seed), None
    z = noise(columns, latent_dim, seed).repeat(num_classes, 1)  # (classes * columns, latent)
    labels = torch.arange(num_classes).repeat_interleave(columns)
    return z, labels


class AdversarialTrainer(Trainer):
    """Trains a generator against a discriminator on a dataset's training split.

    Args:
        cfg: the run config: ``trainer`` (:class:`~rl_lab.gan.configs.GANTrainerConfig`),
            ``seed``, ``progress``, ``task.name``.
        run_dir: the run directory (checkpoints), or ``None`` for none (tests, benchmarks).
        device: where the networks and data live.
        generator, discriminator: :class:`~rl_lab.gan.models.Generator` and
            :class:`~rl_lab.gan.models.Discriminator`; moved to ``device`` here.
        images: ``(N, C, H, W)`` training images in ``[0, 1]`` (scaled to ``[-1, 1]`` here).
        labels: ``(N,)`` int64 labels; required by a conditional generator, else ignored.
        tracker: TensorBoard writer, or ``None``.
        quality: an object with ``evaluate(generator) -> dict[str, float]`` (``val/...``
            metrics, :class:`~rl_lab.gan.quality.SampleQuality`), or ``None`` for none.
        metrics_every: epochs between quality evaluations (the last epoch always has one);
            0 = only at the end.
        callbacks: ``None`` builds :func:`gan_callbacks` from ``cfg.trainer``.
        model_spec: what rebuilding the networks needs besides the config (stored in
            checkpoints for ``mode=sample``).
    """

    kind = "gan"
    state_type = AdversarialState
    state: AdversarialState

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path | None,
        device: str,
        generator: Generator,
        discriminator: Discriminator,
        images: Tensor,
        labels: Tensor | None = None,
        tracker: Tracker | None = None,
        quality: Any | None = None,
        metrics_every: int = 0,
        callbacks: Sequence[Callback] | None = None,
        model_spec: dict[str, Any] | None = None,
    ) -> None:
        if callbacks is None:
            callbacks = gan_callbacks(cfg.trainer, run_dir)
        super().__init__(cfg, run_dir, device, tracker, callbacks)
        settings = cfg.trainer
        # `gen`/`disc`: the base class's `generator` is its torch.Generator for shuffling
        self.gen = generator.to(self.device)
        self.disc = discriminator.to(self.device)
        self.opt_g = build_optimizer(self.gen.parameters(), settings.generator_optimizer)
        self.opt_d = build_optimizer(self.disc.parameters(), settings.discriminator_optimizer)
        # Keras-style options of each optimizer: lr / (1 + decay * updates), element clipping
        self._decay = {
            "generator": float(settings.generator_optimizer.decay),
            "discriminator": float(settings.discriminator_optimizer.decay),
        }
        self._base_lr = {
            "generator": float(settings.generator_optimizer.lr),
            "discriminator": float(settings.discriminator_optimizer.lr),
        }
        self._clip_value = {
            "generator": settings.generator_optimizer.clip_value,
            "discriminator": settings.discriminator_optimizer.clip_value,
        }
        self.d_steps = int(settings.d_steps)
        self.real_label = float(settings.real_label)
        self.noise_std = float(settings.instance_noise.std)
        anneal = settings.instance_noise.anneal_epochs
        self.noise_anneal_epochs = int(anneal) if anneal is not None else self.epochs
        self.latent_dim = int(self.gen.latent_dim)
        self.num_classes = self.gen.num_classes
        if self.num_classes and labels is None:
            raise ValueError("a conditional generator needs the training labels")
        train = [to_signed(images).to(self.device)]  # (N, C, H, W) in [-1, 1]
        if self.num_classes and labels is not None:  # labels is not None: checked above
            train.append(labels.to(self.device))
        self._train = tuple(train)
        self.quality = quality
        self.metrics_every = metrics_every
        self.model_spec = dict(model_spec or {})
        self.fixed_z, self.fixed_labels = fixed_batch(self.latent_dim, self.num_classes, cfg.seed)
        self.d_updates = 0
        self.g_updates = 0
        self.last_quality: dict[str, float] = {}

    # ----------------------------------------------------------------- the Trainer contract
    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.gen, "discriminator": self.disc}

    def optimizers(self) -> dict[str, Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def train_tensors(self) -> tuple[Tensor, ...]:
        return self._train

    def train_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """One discriminator update; a generator update every ``d_steps`` batches.

        Every batch reports ``losses/generator`` (so its epoch mean weighs batches alike): the
        generator update's loss, or on other batches the same loss on the discriminator
        update's fakes.
        """
        real = batch[0]
        labels = batch[1] if len(batch) > 1 else None
        metrics = self.discriminator_step(real, labels)
        if self.d_updates % self.d_steps == 0:
            metrics.update(self.generator_step(real.shape[0], labels))
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Sample-quality metrics every ``metrics_every`` epochs and at the last epoch."""
        epoch = self.state.epoch
        due = epoch >= self.epochs or (self.metrics_every > 0 and epoch % self.metrics_every == 0)
        if self.quality is None or not due:
            return {"charts/instance_noise_std": self.current_noise_std()}
        self.last_quality = self.quality.evaluate(self.gen)
        return {**self.last_quality, "charts/instance_noise_std": self.current_noise_std()}

    def log_epoch_extras(self, epoch: int, final: bool) -> None:
        images = generate(self.gen, self.fixed_z, self.fixed_labels)
        ncol = len(self.fixed_z) // self.num_classes if self.num_classes else 8
        grid = enlarge(image_grid(images, ncol), png_scale(images.shape[-1]))
        assert self.tracker is not None  # log_epoch_extras is called only with a tracker
        self.tracker.writer.add_image("samples/fixed_noise", grid, epoch)

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        state: dict[str, Any] = {
            "model_spec": self.model_spec,
            "fixed_noise": {"z": self.fixed_z, "labels": self.fixed_labels},
            "updates": {"discriminator": self.d_updates, "generator": self.g_updates},
            "quality": dict(self.last_quality),
        }
        return state

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        self.fixed_z = payload["fixed_noise"]["z"]
        self.fixed_labels = payload["fixed_noise"]["labels"]
        self.d_updates = int(payload["updates"]["discriminator"])
        self.g_updates = int(payload["updates"]["generator"])
        self.last_quality = dict(payload.get("quality", {}))

    # ----------------------------------------------------------------- the two updates
    def current_noise_std(self) -> float:
        """Instance-noise std now: linear from ``std`` to 0 over ``anneal_epochs``."""
        if self.noise_std == 0.0:
            return 0.0
        n_batches = max(1, math.ceil(self._train[0].shape[0] / self.batch_size))
        progress = (self.state.epoch + self.state.batch / n_batches) / self.noise_anneal_epochs
        return self.noise_std * max(0.0, 1.0 - progress)

    def _noisy(self, images: Tensor, std: float) -> Tensor:
        return images + std * torch.randn_like(images) if std > 0 else images

    def _latent(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def _step(self, name: str, network: nn.Module, optimizer: Optimizer, updates: int) -> None:
        clip_value = self._clip_value[name]
        if clip_value is not None:
            nn.utils.clip_grad_value_(network.parameters(), float(clip_value))
        self.clip_gradients(network)
        decay = self._decay[name]
        if decay > 0:
            for group in optimizer.param_groups:
                group["lr"] = self._base_lr[name] / (1.0 + decay * updates)
        optimizer.step()

    def discriminator_step(
        self, real: Tensor, labels: Tensor | None = None, z: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Update D on real images ``(B, C, H, W)`` in ``[-1, 1]`` and ``B`` generated ones.

        Args:
            real: the real batch, already scaled to ``[-1, 1]``.
            labels: ``(B,)`` labels of the real batch; the fakes get the same labels, so the
                class mix of both halves is equal.
            z: ``(B, latent_dim)`` noise for the fakes; ``None`` draws fresh noise.

        Returns:
            Detached batch means: ``losses/discriminator``, ``losses/D(x)``,
            ``losses/D(G(z))`` (the probabilities before this update) and
            ``losses/generator`` (the non-saturating loss of these fakes).
        """
        batch = real.shape[0]
        with torch.no_grad():
            fake = self.gen(z if z is not None else self._latent(batch), labels)
        std = self.current_noise_std()
        logits_real = self.disc(self._noisy(real, std), labels)
        logits_fake = self.disc(self._noisy(fake, std), labels)
        loss = F.binary_cross_entropy_with_logits(
            logits_real, torch.full_like(logits_real, self.real_label)
        ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self._step("discriminator", self.disc, self.opt_d, self.d_updates)
        self.d_updates += 1
        logits_fake = logits_fake.detach()
        return {
            "losses/discriminator": loss.detach(),
            "losses/generator": F.binary_cross_entropy_with_logits(
                logits_fake, torch.ones_like(logits_fake)
            ),
            "losses/D(x)": torch.sigmoid(logits_real.detach()).mean(),
            "losses/D(G(z))": torch.sigmoid(logits_fake).mean(),
        }

    def generator_step(
        self, batch: int, labels: Tensor | None = None, z: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Update G with the non-saturating loss ``BCE(D(G(z)), 1)`` on ``batch`` samples.

        The discriminator's parameters are frozen for this pass (no gradient is computed for
        them); it stays in training mode, as in its own update.
        """
        self.disc.requires_grad_(False)
        try:
            fake = self.gen(z if z is not None else self._latent(batch), labels)
            logits = self.disc(self._noisy(fake, self.current_noise_std()), labels)
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.disc.requires_grad_(True)
        self._step("generator", self.gen, self.opt_g, self.g_updates)
        self.g_updates += 1
        return {"losses/generator": loss.detach()}
