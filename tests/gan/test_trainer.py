import math

import pytest
import torch
import torch.nn.functional as F

from rl_lab import checkpoint
from rl_lab.errors import TrainingDivergedError
from rl_lab.gan.models import build_gan
from rl_lab.gan.sampling import to_signed
from rl_lab.gan.trainer import (
    AdversarialState,
    AdversarialTrainer,
    CollapseGuard,
    binary_entropy,
    fixed_batch,
)


def make_trainer(cfg, digits, run_dir=None, trainer_cls=AdversarialTrainer):
    torch.manual_seed(cfg.seed)
    gen, disc = build_gan(cfg.model, digits.image_shape, digits.num_classes)
    return trainer_cls(
        cfg,
        run_dir,
        "cpu",
        gen,
        disc,
        digits.train.images,
        digits.train.labels,
        model_spec={"image_shape": list(digits.image_shape)},
    )


def d_loss(trainer, real, labels, z):
    with torch.no_grad():
        fake = trainer.gen(z, labels)
        lr, lf = trainer.disc(real, labels), trainer.disc(fake, labels)
    return (
        F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
        + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    ).item()


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_each_update_moves_its_network_the_intended_way(gan_cfg, digits, model) -> None:
    # no dropout or batch norm in D, so its output on a batch is a function of its weights only
    cfg = gan_cfg(
        f"model={model}",
        "model.discriminator.batch_norm=false",
        "trainer.discriminator_optimizer.lr=1e-3",
        "trainer.generator_optimizer.lr=1e-3",
    )
    trainer = make_trainer(cfg, digits)
    real = to_signed(digits.train.images[:64])
    labels = digits.train.labels[:64] if model == "cgan" else None
    z = torch.randn(64, 8)
    g_before = [p.clone() for p in trainer.gen.parameters()]
    d_before = [p.clone() for p in trainer.disc.parameters()]

    loss_before = d_loss(trainer, real, labels, z)
    trainer.discriminator_step(real, labels, z=z)
    assert d_loss(trainer, real, labels, z) < loss_before
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.gen.parameters(), strict=True))

    d_after = [p.clone() for p in trainer.disc.parameters()]
    with torch.no_grad():
        before = torch.sigmoid(trainer.disc(trainer.gen(z, labels), labels)).mean()
    trainer.generator_step(64, labels, z=z)
    with torch.no_grad():
        after = torch.sigmoid(trainer.disc(trainer.gen(z, labels), labels)).mean()
    assert after > before  # D(G(z)) goes up
    assert all(torch.equal(a, b) for a, b in zip(d_after, trainer.disc.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, d_after, strict=True))


def test_k_discriminator_steps_per_generator_step(gan_cfg, digits) -> None:
    trainer = make_trainer(gan_cfg("trainer.d_steps=3"), digits)
    batch = (trainer.train_tensors()[0][:32],)
    for _ in range(6):
        metrics = trainer.train_step(batch)
    assert (trainer.d_updates, trainer.g_updates) == (6, 2)
    assert set(metrics) == {
        "losses/discriminator",
        "losses/generator",
        "losses/D(x)",
        "losses/D(G(z))",
    }


def test_label_smoothing_and_instance_noise_schedule(gan_cfg, digits) -> None:
    cfg = gan_cfg(
        "trainer.real_label=0.9",
        "trainer.instance_noise.std=0.2",
        "trainer.instance_noise.anneal_epochs=2",
    )
    trainer = make_trainer(cfg, digits)
    assert trainer.current_noise_std() == pytest.approx(0.2)
    trainer.state.epoch = 1
    assert trainer.current_noise_std() == pytest.approx(0.1)
    trainer.state.epoch = 3
    assert trainer.current_noise_std() == 0.0
    # smoothing raises the floor of D's loss: BCE with target 0.9 is at least H(0.9)
    assert binary_entropy(0.9) == pytest.approx(0.325, abs=1e-3) and binary_entropy(1.0) == 0.0


def test_keras_style_decay_and_clip_value(gan_cfg, digits) -> None:
    cfg = gan_cfg(
        "trainer.discriminator_optimizer.name=rmsprop",
        "trainer.discriminator_optimizer.lr=0.0008",
        "trainer.discriminator_optimizer.decay=0.5",
        "trainer.discriminator_optimizer.clip_value=1e-6",
    )
    trainer = make_trainer(cfg, digits)
    real = trainer.train_tensors()[0][:32]
    for _ in range(3):
        trainer.discriminator_step(real)
    assert isinstance(trainer.opt_d, torch.optim.RMSprop)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(0.0008 / (1 + 0.5 * 2))
    assert max(p.grad.abs().max().item() for p in trainer.disc.parameters()) <= 1e-6


def test_fixed_noise_grid_has_one_row_per_class() -> None:
    z, labels = fixed_batch(latent_dim=4, num_classes=3, seed=0, columns=5)
    assert z.shape == (15, 4) and labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    torch.testing.assert_close(z[0], z[5])  # column j: the same noise in every row
    z, labels = fixed_batch(latent_dim=4, num_classes=None, seed=0)
    assert z.shape == (64, 4) and labels is None


def weights(trainer):
    return {
        f"{n}.{k}": v.clone()
        for n, net in trainer.networks().items()
        for k, v in net.state_dict().items()
    }


def test_resume_gives_the_same_result_as_uninterrupted(gan_cfg, digits, tmp_path) -> None:
    cfg = gan_cfg("model=cgan", "trainer.epochs=2", "trainer.instance_noise.std=0.1")
    full = make_trainer(cfg, digits, tmp_path / "full")
    full.fit()

    first = make_trainer(
        gan_cfg(
            "model=cgan",
            "trainer.epochs=1",
            "trainer.instance_noise.std=0.1",
            "trainer.instance_noise.anneal_epochs=2",
        ),
        digits,
        tmp_path / "split",
    )
    first.fit()
    payload = checkpoint.load(tmp_path / "split" / "checkpoints" / "last.pt", kind="gan")
    assert payload["state"]["epoch"] == 1 and "optimizers" in payload
    torch.testing.assert_close(payload["fixed_noise"]["z"], full.fixed_z)

    resumed = make_trainer(cfg, digits, tmp_path / "split")
    resumed.fixed_z = torch.zeros_like(resumed.fixed_z)  # restored from the checkpoint below
    resumed.fit(resume_from=payload)
    assert resumed.state.epoch == 2 and resumed.g_updates == full.g_updates
    torch.testing.assert_close(resumed.fixed_z, full.fixed_z)
    for key, value in weights(full).items():
        torch.testing.assert_close(weights(resumed)[key], value, msg=key)
    opt_full = full.opt_g.state_dict()["state"][0]["exp_avg"]
    torch.testing.assert_close(resumed.opt_g.state_dict()["state"][0]["exp_avg"], opt_full)


def test_the_hold_flag_is_train_state_and_older_checkpoints_without_it_resume(
    gan_cfg, digits, tmp_path
) -> None:
    first = make_trainer(gan_cfg("trainer.epochs=1"), digits, tmp_path)
    first.fit()
    assert isinstance(first.state, AdversarialState)
    payload = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="gan")
    assert payload["state"]["hold_last_checkpoint"] is False
    del payload["state"]["hold_last_checkpoint"]  # as written before the flag joined the state
    resumed = make_trainer(gan_cfg("trainer.epochs=2"), digits, tmp_path)
    resumed.fit(resume_from=payload)
    assert resumed.state.epoch == 2 and not resumed.state.hold_last_checkpoint


class NanAfterFirstEpoch(AdversarialTrainer):
    def train_step(self, batch):
        metrics = super().train_step(batch)
        if self.state.epoch >= 1:
            metrics["losses/generator"] = torch.tensor(math.nan)
        return metrics


class CollapsesAfterFirstEpoch(AdversarialTrainer):
    def train_step(self, batch):
        metrics = super().train_step(batch)
        if self.state.epoch >= 1:  # what a discriminator that has won outright reports
            metrics["losses/discriminator"] = torch.tensor(1e-4)
            metrics["losses/generator"] = torch.tensor(12.0)
        return metrics


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(gan_cfg, digits, tmp_path) -> None:
    trainer = make_trainer(gan_cfg("trainer.epochs=3"), digits, tmp_path, NanAfterFirstEpoch)
    with pytest.raises(TrainingDivergedError, match="last good checkpoint"):
        trainer.fit()
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["state"]["epoch"] == 1


def test_collapsed_discriminator_stops_and_keeps_the_last_good_checkpoint(
    gan_cfg, digits, tmp_path
) -> None:
    cfg = gan_cfg("trainer.epochs=10", "trainer.collapse.patience=3")
    trainer = make_trainer(cfg, digits, tmp_path, CollapsesAfterFirstEpoch)
    with pytest.raises(TrainingDivergedError, match=r"collapsed.*epoch 4.*\(epoch 1\) is kept"):
        trainer.fit()
    assert trainer.state.epoch == 4
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["state"]["epoch"] == 1


def test_collapse_guard_forgives_a_recovered_streak() -> None:
    class Stub:
        ckpt_dir = None
        state = AdversarialState()

    guard, stub = CollapseGuard(patience=2, d_loss=0.05, g_loss=8.0, real_label=0.9), Stub()
    bad = {"losses/discriminator": 0.33, "losses/generator": 9.0}  # at the smoothed floor 0.325
    good = {"losses/discriminator": 1.2, "losses/generator": 0.9}
    guard.on_epoch_end(stub, {"epoch": 1, **bad})
    assert stub.state.hold_last_checkpoint
    guard.on_epoch_end(stub, {"epoch": 2, **good})
    assert not stub.state.hold_last_checkpoint and guard.last_good_epoch == 2
    guard.on_epoch_end(stub, {"epoch": 3, **bad})
    with pytest.raises(TrainingDivergedError):
        guard.on_epoch_end(stub, {"epoch": 4, **bad})
