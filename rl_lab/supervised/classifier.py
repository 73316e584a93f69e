"""The supervised trainer: an image classifier on the epoch loop, and its losses.

:class:`ClassifierTrainer` is the :class:`~rl_lab.supervised.trainer.Trainer` of
``task=supervised`` (and of the GAN metrics' feature classifier): one network, one optimizer,
cross-entropy or the quadratic cost, the validation loss and accuracy every epoch and a
confusion matrix in TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.optim import Optimizer

from rl_lab.supervised.augment import Augment
from rl_lab.supervised.callbacks import Callback
from rl_lab.supervised.optimizers import build_optimizer
from rl_lab.supervised.trainer import Trainer
from rl_lab.tracking import Tracker


def classification_loss(
    kind: str, mse_output: str = "softmax"
) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss(logits, labels)`` for ``trainer.loss``.

    ``cross_entropy`` works on logits. ``mse`` is the quadratic cost of the classic shallow
    nets: mean squared error between ``mse_output(logits)`` (softmax or sigmoid) and one-hot
    targets, averaged over classes and samples (as Keras' ``mean_squared_error``).
    """
    if kind == "cross_entropy":
        return F.cross_entropy
    squash = torch.softmax if mse_output == "softmax" else None

    def quadratic(logits: Tensor, labels: Tensor) -> Tensor:
        probs = squash(logits, dim=1) if squash is not None else torch.sigmoid(logits)
        target = F.one_hot(labels, num_classes=logits.shape[1]).to(probs.dtype)
        return F.mse_loss(probs, target)

    return quadratic


def exact_accuracy(predicted: Tensor, labels: Tensor) -> float:
    """The fraction of ``predicted`` equal to ``labels``, as an exact ratio of counts: a float32
    mean is not (1800 of 2000 correct gives 0.8999999762, under a 0.9 target)."""
    return (predicted == labels).sum().item() / labels.numel()


@dataclass(frozen=True)
class SplitEvaluation:
    """Loss, accuracy and predictions of a model on one split."""

    loss: float
    accuracy: float
    predictions: Tensor  # (N,) int64 predicted classes, on the CPU


class ClassifierTrainer(Trainer):
    """Trains an image classifier (logits out) on a labelled in-memory dataset.

    Args:
        cfg: the run config (``trainer``, ``seed``, ``progress``).
        run_dir: the run directory, or ``None`` for no checkpoints.
        device: where the model and data live.
        model: maps ``(batch, C, H, W)`` images to ``(batch, num_classes)`` logits; moved to
            ``device`` here.
        dataset: an :class:`rl_lab.data.ImageDataset` with labels (train/val/test splits);
            every split is moved to ``device`` once.
        tracker: TensorBoard writer, or ``None``.
        callbacks: as in :class:`Trainer`.
        model_spec: what rebuilding the model needs besides the config (``in_shape``,
            ``num_classes``), stored in checkpoints for ``mode=eval``.
    """

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path | None,
        device: str,
        model: nn.Module,
        dataset: Any,
        tracker: Tracker | None = None,
        callbacks: Sequence[Callback] | None = None,
        model_spec: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(cfg, run_dir, device, tracker, callbacks)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.trainer.optimizer)
        self.loss_fn = classification_loss(cfg.trainer.loss, cfg.trainer.get("mse_output"))
        self.eval_batch_size = int(cfg.trainer.eval_batch_size)
        augment = cfg.trainer.get("augment") or {}
        self.augment = Augment(bool(augment.get("hflip", False)), int(augment.get("shift", 0)))
        self.class_names = tuple(dataset.class_names or range(dataset.num_classes))
        self.model_spec = dict(model_spec or {})
        self.splits = {
            name: (split.images.to(self.device), split.labels.to(self.device))
            for name, split in (
                ("train", dataset.train),
                ("val", dataset.val),
                ("test", dataset.test),
            )
            if split.labels is not None and split.images.shape[0] > 0
        }

    def networks(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def optimizers(self) -> dict[str, Optimizer]:
        return {"model": self.optimizer}

    def train_tensors(self) -> tuple[Tensor, ...]:
        return self.splits["train"]

    def train_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        images, labels = batch
        if self.augment.active:
            images = self.augment(images)
        logits = self.model(images)
        loss = self.loss_fn(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.clip_gradients(self.model)
        self.optimizer.step()
        correct = (logits.detach().argmax(dim=1) == labels).float().mean()
        return {"train/loss": loss.detach(), "train/accuracy": correct}

    def evaluate(self) -> dict[str, float]:
        if "val" not in self.splits:
            return {}
        result = self.evaluate_split("val")
        return {"val/loss": result.loss, "val/accuracy": result.accuracy}

    @torch.no_grad()
    def evaluate_split(self, split: str) -> SplitEvaluation:
        """Mean loss and accuracy of the model (in eval mode) on ``split`` (train, val, test)."""
        images, labels = self.splits[split]
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        predictions = []
        for start in range(0, images.shape[0], self.eval_batch_size):
            logits = self.model(images[start : start + self.eval_batch_size])
            chunk = labels[start : start + self.eval_batch_size]
            loss_sum += self.loss_fn(logits, chunk) * chunk.shape[0]
            predictions.append(logits.argmax(dim=1))
        self.model.train()
        predicted = torch.cat(predictions)
        accuracy = exact_accuracy(predicted, labels)
        return SplitEvaluation(loss_sum.item() / labels.shape[0], accuracy, predicted.cpu())

    def example_input(self) -> Tensor | None:
        return self.splits["train"][0][:2]

    def log_epoch_extras(self, epoch: int, final: bool) -> None:
        if "val" not in self.splits:
            return
        from rl_lab.supervised.figures import confusion_matrix, confusion_matrix_figure

        predicted = self.evaluate_split("val").predictions
        matrix = confusion_matrix(self.splits["val"][1].cpu(), predicted, len(self.class_names))
        title = f"validation, epoch {epoch}" + (" (final model)" if final else "")
        figure = confusion_matrix_figure(matrix, self.class_names, title)
        assert self.tracker is not None  # log_epoch_extras is called only with a tracker
        self.tracker.writer.add_figure("val/confusion_matrix", figure, epoch)

    def extra_state(self, for_resume: bool) -> dict[str, Any]:
        return {"model_spec": self.model_spec}
