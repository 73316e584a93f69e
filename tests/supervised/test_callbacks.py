"""Callbacks on a scripted trainer: a linear model whose validation loss is given in advance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rl_lab import checkpoint
from rl_lab.errors import ConfigError
from rl_lab.supervised.callbacks import Checkpoint, EarlyStopping, LRSchedule
from rl_lab.supervised.trainer import Trainer
from tests.supervised.conftest import same_weights


class ScriptedTrainer(Trainer):
    """Trains ``Linear(3, 1)`` by SGD on fixed random data; ``val/loss`` follows a script."""

    def __init__(self, cfg, run_dir, val_losses, callbacks=None):
        super().__init__(cfg, run_dir, "cpu", callbacks=callbacks)
        torch.manual_seed(0)
        self.model = nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.trainer.optimizer.lr)
        self.inputs, self.targets = torch.randn(32, 3), torch.randn(32, 1)
        self.val_losses = list(val_losses)
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}  # epoch -> weights after it
        self.saved: list[tuple[int, str]] = []  # (epoch, checkpoint name) in order

    def networks(self):
        return {"model": self.model}

    def optimizers(self):
        return {"model": self.optimizer}

    def train_tensors(self):
        return self.inputs, self.targets

    def train_step(self, batch):
        inputs, targets = batch
        loss = F.mse_loss(self.model(inputs), targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"train/loss": loss.detach()}

    def evaluate(self):
        epoch = self.state.epoch
        self.snapshots[epoch] = {k: v.clone() for k, v in self.model.state_dict().items()}
        return {"val/loss": self.val_losses[epoch - 1]}

    def save_checkpoint(self, name="last.pt"):
        self.saved.append((self.state.epoch, name))
        return super().save_checkpoint(name)


def scripted(supervised_cfg, losses, *overrides, run_dir=None, callbacks=None, lr=0.1):
    cfg = supervised_cfg(
        "trainer.monitor=val/loss",  # the scripted metric
        "trainer.monitor_mode=min",
        f"trainer.epochs={len(losses)}",
        "trainer.batch_size=8",
        f"trainer.optimizer.lr={lr}",
        *overrides,
    )
    return ScriptedTrainer(cfg, run_dir, losses, callbacks)


def lrs(trainer):
    return [h["charts/learning_rate"] for h in trainer.state.history]


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(supervised_cfg):
    losses = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    stopper = EarlyStopping("val/loss", "min", patience=3, restore_best=True)
    trainer = scripted(supervised_cfg, losses, callbacks=[stopper])
    state = trainer.fit()
    assert state.epoch == 5  # epochs 3, 4, 5 did not improve on epoch 2
    assert "early stopping" in state.stop_reason
    assert stopper.best.epoch == 2 and stopper.stopped_epoch == 5
    assert same_weights(trainer.model.state_dict(), trainer.snapshots[2])
    assert not same_weights(trainer.snapshots[2], trainer.snapshots[5])


def test_early_stopping_without_restore_keeps_the_last_weights(supervised_cfg):
    stopper = EarlyStopping("val/loss", "min", patience=2, restore_best=False)
    trainer = scripted(supervised_cfg, [1.0, 2.0, 3.0, 4.0], callbacks=[stopper])
    assert trainer.fit().epoch == 3
    assert same_weights(trainer.model.state_dict(), trainer.snapshots[3])


def test_early_stopping_min_delta_and_max_mode(supervised_cfg):
    # improvements of 0.05 are below min_delta=0.1: they do not reset the patience
    stopper = EarlyStopping("val/loss", "min", patience=2, min_delta=0.1)
    trainer = scripted(supervised_cfg, [1.0, 0.95, 0.9, 0.85, 0.8], callbacks=[stopper])
    assert trainer.fit().epoch == 3
    # in max mode a falling metric never improves after the first epoch
    stopper = EarlyStopping("val/loss", "max", patience=1)
    trainer = scripted(supervised_cfg, [1.0, 0.5, 0.4], callbacks=[stopper])
    assert trainer.fit().epoch == 2


def test_a_monitored_metric_the_run_lacks_is_a_clear_error(supervised_cfg):
    trainer = scripted(supervised_cfg, [1.0], callbacks=[EarlyStopping("val/accuracy", "max")])
    with pytest.raises(ConfigError, match=r"val/accuracy.*Available metrics: train/loss"):
        trainer.fit()


def test_checkpoints_best_when_improving_last_every_epoch(supervised_cfg, tmp_path):
    trainer = scripted(supervised_cfg, [1.0, 0.5, 0.6, 0.4, 0.7], run_dir=tmp_path)
    trainer.fit()
    assert trainer.saved == [
        (1, "best.pt"), (1, "last.pt"),
        (2, "best.pt"), (2, "last.pt"),
        (3, "last.pt"),
        (4, "best.pt"), (4, "last.pt"),
        (5, "last.pt"),
    ]  # fmt: skip
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt", kind="supervised")
    last = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="supervised")
    assert best["state"]["epoch"] == 4 and last["state"]["epoch"] == 5
    assert same_weights(best["networks"]["model"], trainer.snapshots[4])
    assert "optimizers" in last and "rng" in last and "optimizers" not in best
    assert last["callbacks"]["checkpoint"]["best"] == {"value": 0.4, "epoch": 4}
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_checkpoint_every_n_epochs_and_always_at_the_end(supervised_cfg, tmp_path):
    saver = Checkpoint(every=2, save_best=False)
    trainer = scripted(supervised_cfg, [1.0] * 5, run_dir=tmp_path, callbacks=[saver])
    trainer.fit()
    assert trainer.saved == [(2, "last.pt"), (4, "last.pt"), (5, "last.pt")]


def test_a_failed_write_leaves_the_previous_last_checkpoint_intact(
    supervised_cfg, tmp_path, monkeypatch
):
    trainer = scripted(supervised_cfg, [1.0, 0.9, 0.8], run_dir=tmp_path)
    real_save = torch.save

    def crash_in_epoch_3(obj, f, *args, **kwargs):
        if obj["state"]["epoch"] == 3:
            f.write(b"half a checkpoint")  # the process dies mid-write
            raise OSError("disk full")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", crash_in_epoch_3)
    with pytest.raises(OSError, match="disk full"):
        trainer.fit()
    monkeypatch.undo()
    last = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="supervised")
    assert last["state"]["epoch"] == 2
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


def test_step_schedule(supervised_cfg):
    schedule = LRSchedule("step", epochs=5, step_size=2, gamma=0.5)
    trainer = scripted(supervised_cfg, [1.0] * 5, callbacks=[schedule], lr=1.0)
    trainer.fit()
    assert lrs(trainer) == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.25)  # after 5 steps


def test_cosine_schedule(supervised_cfg):
    schedule = LRSchedule("cosine", epochs=4, min_lr=0.1)
    trainer = scripted(supervised_cfg, [1.0] * 4, callbacks=[schedule], lr=1.0)
    trainer.fit()
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs(trainer) == pytest.approx(expected)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_reduce_on_plateau(supervised_cfg):
    schedule = LRSchedule("plateau", factor=0.5, patience=1, min_lr=0.3, monitor="val/loss")
    trainer = scripted(
        supervised_cfg, [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], callbacks=[schedule], lr=1.0
    )
    trainer.fit()
    # epoch 2 improves; epochs 3 and 4 do not: more than `patience` bad epochs halve the lr
    # after epoch 4, again after epoch 6, down to the floor min_lr
    assert lrs(trainer) == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.3])


def test_constant_schedule_from_the_config(supervised_cfg):
    trainer = scripted(supervised_cfg, [1.0, 0.5, 0.7], "trainer.schedule.name=constant", lr=0.2)
    trainer.fit()
    assert lrs(trainer) == pytest.approx([0.2, 0.2, 0.2])
    assert [type(cb).__name__ for cb in trainer.callbacks] == ["LRSchedule"]


def test_epoch_means_weight_batches_by_size_and_skip_batches_without_a_tag(supervised_cfg):
    class Reporting(ScriptedTrainer):
        def train_step(self, batch):
            metrics = {"train/size": torch.tensor(float(batch[0].shape[0]))}
            if self.state.batch % 2 == 0:  # batches 0 and 2 of the epoch
                metrics["train/even"] = torch.tensor(float(self.state.batch))
            return metrics

    cfg = supervised_cfg("trainer.epochs=1", "trainer.batch_size=10")
    trainer = Reporting(cfg, None, [1.0], callbacks=[])
    record = trainer.fit().history[0]  # 32 samples: batches of 10, 10, 10 and 2
    assert record["train/size"] == pytest.approx((3 * 10 * 10 + 2 * 2) / 32)
    assert record["train/even"] == pytest.approx((0 * 10 + 2 * 10) / 20)
