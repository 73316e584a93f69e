"""The epoch trainer (through the classifier): resumption, determinism, divergence, clipping."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from rl_lab import app, checkpoint
from rl_lab.errors import InterruptedRunError, TrainingDivergedError
from rl_lab.supervised.classifier import ClassifierTrainer
from rl_lab.supervised.models import build_classifier
from rl_lab.supervised.trainer import epoch_line
from tests.supervised.conftest import last_weights, metrics_only, same_weights

#: Dropout and augmentation (global RNG), a step schedule and early stopping (callback state)
#: all take part, so resuming only matches if every piece of state is restored.
STATEFUL = [
    "model.hidden_sizes=[32]",
    "model.dropout=0.2",
    "trainer.augment.shift=1",
    "trainer.optimizer.name=sgd",
    "trainer.optimizer.lr=0.1",
    "trainer.optimizer.momentum=0.9",
    "trainer.schedule.name=step",
    "trainer.schedule.step_size=1",
    "trainer.schedule.gamma=0.8",
    "trainer.early_stopping.enabled=true",
    "trainer.early_stopping.patience=50",
]


def results_of(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_resume_after_k_epochs_matches_an_uninterrupted_run(train_run, supervised_cfg, tmp_path):
    full = train_run(tmp_path / "full", *STATEFUL, "trainer.epochs=4")
    train_run(tmp_path / "split", *STATEFUL, "trainer.epochs=2")
    resumed_cfg = supervised_cfg(*STATEFUL, "trainer.epochs=4", "resume=true")
    resumed = app.run(resumed_cfg, tmp_path / "split", ["resume=true", "trainer.epochs=4"])
    assert resumed["epochs_run"] == 4
    assert same_weights(last_weights(tmp_path / "full"), last_weights(tmp_path / "split"))
    assert metrics_only(resumed["history"]) == metrics_only(full["history"])
    assert resumed["test"] == full["test"] and resumed["objective"] == full["objective"]


def test_sigint_mid_epoch_writes_last_pt_and_the_resumed_run_matches(
    train_run, supervised_cfg, tmp_path, monkeypatch
):
    overrides = [*STATEFUL, "trainer.epochs=3", "trainer.batch_size=32"]
    full = train_run(tmp_path / "full", *overrides)
    calls = {"n": 0}
    original = ClassifierTrainer.train_step

    def press_ctrl_c_in_epoch_2(self, batch):
        calls["n"] += 1
        if calls["n"] == 50:  # 40 batches per epoch: batch 10 of epoch 2
            signal.raise_signal(signal.SIGINT)
        return original(self, batch)

    monkeypatch.setattr(ClassifierTrainer, "train_step", press_ctrl_c_in_epoch_2)
    with pytest.raises(InterruptedRunError, match="resume=true"):
        train_run(tmp_path / "cut", *overrides)
    monkeypatch.undo()
    saved = checkpoint.load(tmp_path / "cut" / "checkpoints" / "last.pt", kind="supervised")
    assert (saved["state"]["epoch"], saved["state"]["batch"]) == (1, 10)
    assert "partial_epoch" in saved
    resumed = app.run(supervised_cfg(*overrides, "resume=true"), tmp_path / "cut", ["resume=true"])
    assert same_weights(last_weights(tmp_path / "full"), last_weights(tmp_path / "cut"))
    assert metrics_only(resumed["history"]) == metrics_only(full["history"])
    assert resumed["test"] == full["test"]


def test_same_seed_gives_identical_runs_and_the_seed_matters(train_run, tmp_path):
    first = train_run(tmp_path / "a", *STATEFUL, "seed=3")
    second = train_run(tmp_path / "b", *STATEFUL, "seed=3")
    train_run(tmp_path / "c", *STATEFUL, "seed=4")
    assert metrics_only(first["history"]) == metrics_only(second["history"])
    assert first["test"] == second["test"]
    assert same_weights(last_weights(tmp_path / "a"), last_weights(tmp_path / "b"))
    assert not same_weights(last_weights(tmp_path / "a"), last_weights(tmp_path / "c"))


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    train_run, tmp_path, monkeypatch
):
    original = ClassifierTrainer.train_step

    def poison_in_epoch_2(self, batch):
        if self.state.epoch == 1 and self.state.batch == 3:
            with torch.no_grad():
                self.model.output.weight.fill_(float("nan"))
        return original(self, batch)

    monkeypatch.setattr(ClassifierTrainer, "train_step", poison_in_epoch_2)
    with pytest.raises(TrainingDivergedError, match=r"train/loss=nan.*last good checkpoint"):
        train_run(tmp_path, "trainer.epochs=3")
    kept = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="supervised")
    assert kept["state"]["epoch"] == 1
    assert all(torch.isfinite(w).all() for w in kept["networks"]["model"].values())


def test_gradient_clipping_bounds_each_step(supervised_cfg, small_digits):
    cfg = supervised_cfg(
        "trainer.optimizer.name=sgd", "trainer.optimizer.lr=1.0", "trainer.grad_clip_norm=0.001"
    )
    torch.manual_seed(0)
    model = build_classifier(cfg.model, small_digits.image_shape, 10)
    trainer = ClassifierTrainer(cfg, None, "cpu", model, small_digits, callbacks=[])
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    images, labels = small_digits.train.images[:64], small_digits.train.labels[:64]
    trainer.train_step((images, labels))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    # plain SGD moves the weights by lr * gradient, whose norm is clipped to 0.001
    assert (after - before).norm().item() == pytest.approx(0.001, rel=1e-3)


def test_epoch_line_groups_metrics_by_prefix():
    record = {
        "train/loss": 0.40441,
        "val/accuracy": 0.9222,
        "losses/generator": 1.25,
        "charts/learning_rate": 1e-3,
        "time/epoch_s": 3.0,  # timings stay out of the line
    }
    assert (
        epoch_line(record)
        == "train loss 0.4044 | val accuracy 0.9222 | losses generator 1.25 | lr 0.001"
    )
