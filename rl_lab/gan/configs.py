"""The adversarial trainer's settings (``trainer=gan``) as one typed config class: each key's
type, default, bounds and meaning.

Hydra composes the defaults from :func:`register` (ConfigStore, group ``trainer``), the
validation rules are derived from the class (:data:`GAN_TRAINER_RULES`), and ``python -m
rl_lab.schema trainer=gan`` lists them. Torch-free, like :mod:`rl_lab.supervised.configs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rl_lab.config import Rule, register_configs, rules_of, setting
from rl_lab.supervised.configs import OPTIMIZER_NAMES

#: Per-epoch learning-rate schedules of both optimizers.
GAN_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")


@dataclass(frozen=True)
class GANOptimizerConfig:
    """One network's optimizer (DCGAN's Adam by default); each key is read only by the
    optimizers that have it."""

    name: str = setting("adam", "adam | rmsprop | sgd | adamw", choices=OPTIMIZER_NAMES)
    lr: float = setting(2e-4, "learning rate", low=0.0, low_open=True)
    betas: list[float] = setting(
        help="adam, adamw: the moment decay rates", factory=lambda: [0.5, 0.999]
    )
    alpha: float = setting(0.99, "rmsprop: squared-gradient smoothing", low=0.0, high=1.0)
    eps: float = setting(1e-8, "adam, adamw, rmsprop: denominator epsilon", low=0.0, low_open=True)
    momentum: float = setting(0.0, "sgd, rmsprop: momentum", low=0.0, high=1.0)
    weight_decay: float = setting(0.0, "L2 penalty (adamw: decoupled)", low=0.0)
    decay: float = setting(
        0.0, "Keras-style: lr / (1 + decay * updates); needs schedule.name=constant", low=0.0
    )
    clip_value: float | None = setting(
        None,
        "clip every gradient element to [-v, v] (Keras clipvalue); null = off",
        low=0.0,
        low_open=True,
    )


@dataclass(frozen=True)
class InstanceNoiseConfig:
    """Gaussian noise on every discriminator input."""

    std: float = setting(0.0, "noise std (images in [-1, 1]); 0 = off", low=0.0)
    anneal_epochs: int | None = setting(
        None, "decays linearly to 0 over this many epochs; null = the whole run", low=1
    )


@dataclass(frozen=True)
class GANScheduleConfig:
    """The per-epoch learning-rate schedule of both optimizers."""

    name: str = setting("constant", "constant | step | cosine", choices=GAN_SCHEDULES)
    step_size: int = setting(10, "step: epochs between decays", low=1)
    gamma: float = setting(0.1, "step: decay factor", low=0.0, low_open=True, high=1.0)
    min_lr: float = setting(0.0, "cosine: final lr", low=0.0)


@dataclass(frozen=True)
class CollapseConfig:
    """Stop when the discriminator wins outright (TrainingDivergedError; the last good
    ``last.pt`` is kept)."""

    patience: int = setting(3, "epochs in a row that look collapsed", low=1)
    d_loss: float = setting(
        0.05, "D's epoch-mean loss within this of its floor (0, or H(real_label))", low=0.0
    )
    g_loss: float = setting(
        8.0, "... while G's epoch-mean loss is above this (D(G(z)) < 3e-4)", low=0.0
    )


@dataclass(frozen=True)
class GANCheckpointConfig:
    """What the trainer writes under ``checkpoints/``."""

    every: int = setting(1, "epochs between checkpoints/last.pt (0 = only the last epoch)", low=0)
    best: bool = setting(True, "checkpoints/best.pt at the lowest measured Fréchet distance")


@dataclass(frozen=True)
class GANTensorBoardConfig:
    """What the trainer logs to TensorBoard beyond the scalars."""

    histograms_every: int = setting(0, "epochs between weight/gradient histograms; 0 = off", low=0)
    figures_every: int = setting(
        1, "epochs between fixed-noise sample grids (always one at the end)", low=0
    )
    graph: bool = setting(False, "the model graphs, once (add_graph)")


@dataclass(frozen=True)
class GANTrainerConfig:
    """The adversarial trainer (``rl_lab/gan/trainer.py``) on the supervised trainer's epoch
    loop: one discriminator update per mini-batch, one generator update every ``d_steps``
    mini-batches; DCGAN's Adam (lr 2e-4, betas (0.5, 0.999)) for both networks."""

    epochs: int = setting(
        100, "1258 digits: about a minute on a CPU; e.g. 20 for Fashion-MNIST", low=1
    )
    batch_size: int = setting(128, "mini-batch of real images", low=2)
    d_steps: int = setting(1, "discriminator updates per generator update (k)", low=1)
    real_label: float = setting(
        1.0, "target of real images for D; 0.9 = one-sided label smoothing", low=0.5, high=1.0
    )
    instance_noise: InstanceNoiseConfig = setting(
        help="noise on D's inputs", factory=InstanceNoiseConfig
    )
    generator_optimizer: GANOptimizerConfig = setting(
        help="the generator's optimizer", factory=GANOptimizerConfig
    )
    discriminator_optimizer: GANOptimizerConfig = setting(
        help="the discriminator's optimizer", factory=GANOptimizerConfig
    )
    grad_clip_norm: float | None = setting(
        None, "clip each network's global gradient norm; null = off", low=0.0, low_open=True
    )
    schedule: GANScheduleConfig = setting(help="learning-rate schedule", factory=GANScheduleConfig)
    collapse: CollapseConfig = setting(help="collapse detection", factory=CollapseConfig)
    checkpoint: GANCheckpointConfig = setting(help="checkpoints", factory=GANCheckpointConfig)
    tensorboard: GANTensorBoardConfig = setting(
        help="TensorBoard extras", factory=GANTensorBoardConfig
    )


#: Validation of ``cfg.trainer`` for the GAN task.
GAN_TRAINER_RULES: tuple[Rule, ...] = rules_of(GANTrainerConfig, "trainer")

#: The GAN's option of the ``trainer`` group.
GAN_TRAINER_CONFIGS: dict[str, type] = {"gan": GANTrainerConfig}


def register() -> None:
    """Register ``trainer=gan`` with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`)."""
    register_configs("trainer", GAN_TRAINER_CONFIGS)
