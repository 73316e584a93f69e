"""The classifier's losses (cross-entropy, and the quadratic cost that trains a shallow net) and
its accuracy."""

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


def test_accuracy_is_an_exact_ratio_so_a_target_compares_as_written():
    from rl_lab.supervised.classifier import exact_accuracy

    predicted = torch.tensor([1] * 1800 + [0] * 200)
    labels = torch.ones(2000, dtype=torch.long)
    assert float((predicted == labels).float().mean()) < 0.9  # float32's 0.8999999762
    assert exact_accuracy(predicted, labels) == 0.9 and exact_accuracy(labels, labels) == 1.0
