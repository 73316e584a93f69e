"""The classifier's losses: cross-entropy, and the quadratic cost that trains a shallow net."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rl_lab.supervised.classifier import classification_loss


def test_quadratic_cost_is_mse_between_softmax_and_one_hot():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    probs = torch.softmax(logits, dim=1)
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert classification_loss("mse")(logits, labels) == pytest.approx(
        ((probs - target) ** 2).mean().item()
    )
    sigmoid = classification_loss("mse", "sigmoid")(logits, labels)
    assert sigmoid == pytest.approx(((torch.sigmoid(logits) - target) ** 2).mean().item())
    assert classification_loss("cross_entropy") is F.cross_entropy


def test_the_quadratic_cost_trains_the_shallow_net(train_run, tmp_path):
    results = train_run(
        tmp_path,
        "model.hidden_sizes=[64]",
        "model.activation=sigmoid",
        "trainer.loss=mse",
        "trainer.optimizer.name=sgd",
        "trainer.optimizer.lr=10.0",
        "trainer.batch_size=32",
        "trainer.epochs=5",
    )
    losses = [h["train/loss"] for h in results["history"]]
    assert losses[-1] < losses[0] < 0.1  # MSE of probabilities vs one-hot: at most 0.2
    assert results["test"]["accuracy"] > 0.8
