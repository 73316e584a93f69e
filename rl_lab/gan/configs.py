"""The adversarial trainer's settings (``trainer=gan``) and the GAN task's own keys (sampling,
sample-quality metrics) as typed config classes: each key's type, default, bounds and meaning.

Hydra composes the defaults from :func:`register` (ConfigStore: group ``trainer``, and the
group-less ``gan_run_settings`` that conf/task/gan.yaml lists), the validation rules are derived
from the classes (:data:`GAN_TRAINER_RULES`, :data:`GAN_RUN_RULES`), and ``python -m
rl_lab.schema trainer=gan`` and ``task=gan`` list them. Torch-free, like
:mod:`rl_lab.supervised.configs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rl_lab.config import Rule, register_configs, register_settings, rules_of, setting
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


#: The metrics ``trainer.stop_at`` can watch, and whether higher is better.
STOP_AT_MONITORS: dict[str, bool] = {"val/frechet_distance": False, "val/label_accuracy": True}


@dataclass(frozen=True)
class GANStopAtConfig:
    """Stop once the samples reach a quality target, checked on the epochs that measure it
    (``metrics.every``)."""

    monitor: str = setting(
        "val/frechet_distance",
        "val/frechet_distance (stops at or below value) | val/label_accuracy (conditional GANs: "
        "at or above value)",
        choices=tuple(STOP_AT_MONITORS),
    )
    value: float | None = setting(None, "the target; null = train every epoch")


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
    stop_at: GANStopAtConfig = setting(help="stop at a quality target", factory=GANStopAtConfig)
    checkpoint: GANCheckpointConfig = setting(help="checkpoints", factory=GANCheckpointConfig)
    tensorboard: GANTensorBoardConfig = setting(
        help="TensorBoard extras", factory=GANTensorBoardConfig
    )


#: Validation of ``cfg.trainer`` for the GAN task.
GAN_TRAINER_RULES: tuple[Rule, ...] = rules_of(GANTrainerConfig, "trainer")

#: The GAN's option of the ``trainer`` group.
GAN_TRAINER_CONFIGS: dict[str, type] = {"gan": GANTrainerConfig}


# ---------------------------------------------------------------------------- the model
#: How the conditional discriminator sees the label: projection (Miyato & Koyama 2018) or a
#: learned label map as an extra input channel.
CONDITIONING: tuple[str, ...] = ("projection", "label_map")


@dataclass(frozen=True)
class GeneratorConfig:
    """DCGAN's generator: transposed-conv stages from a small map to the image."""

    width: int = setting(
        32, "channels of the last hidden stage; each earlier stage doubles them", low=1
    )
    activation: str = setting(
        "relu",
        "relu (DCGAN) | leaky_relu (slope 0.2) in the hidden stages",
        choices=("relu", "leaky_relu"),
    )
    embed_dim: int = setting(
        50, "conditional: size of the label embedding concatenated to z", low=1
    )


@dataclass(frozen=True)
class DiscriminatorConfig:
    """DCGAN's discriminator: strided convs with LeakyReLU (slope 0.2)."""

    width: int = setting(
        32, "channels of the first strided conv; each next stage doubles them", low=1
    )
    dropout: float = setting(
        0.0, "after every LeakyReLU (the seed notebook: 0.4)", low=0.0, high=0.99
    )
    batch_norm: bool = setting(True, "BatchNorm in every stage but the first (DCGAN)")
    conditioning: str = setting(
        "projection",
        "conditional: projection (Miyato & Koyama 2018) | label_map (extra input channel)",
        choices=CONDITIONING,
    )


@dataclass(frozen=True)
class DCGANModelConfig:
    """DCGAN (Radford et al. 2016; rl_lab/gan/models.py). The number of up/down-sampling
    stages and the generator's start map follow the dataset's image size: 28x28 → 7x7, 2
    stages; 8x8 → 2x2, 2 stages; 32x32 → 4x4, 3 stages (rl_lab.nets.conv.dcgan_stages).
    ``model=cgan`` (conf/model/cgan.yaml) is this with ``conditional: true``."""

    name: str = setting("dcgan", "the model's name (part of the run directory's name)")
    conditional: bool = setting(
        False, "both networks see the label (a conditional GAN: model=cgan)"
    )
    latent_dim: int = setting(100, "size of the noise vector z ~ N(0, I)", low=1)
    generator: GeneratorConfig = setting(help="the generator", factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = setting(
        help="the discriminator", factory=DiscriminatorConfig
    )


#: The GAN's typed options of the ``model`` group (conf/model/cgan.yaml extends dcgan).
GAN_MODEL_CONFIGS: dict[str, type] = {"dcgan": DCGANModelConfig}

#: Validation of ``cfg.model`` for the GAN task.
GAN_MODEL_RULES: tuple[Rule, ...] = rules_of(DCGANModelConfig, "model")


# ----------------------------------------------------------------------------- the task
#: The most samples one ``mode=sample`` run draws. Every sample is held in memory and written to
#: samples.npz (float32: 491 MB for 10,000 64x64 colour images) and to one samples.png grid
#: (a 6,600 px square for those; 8x8 digits, enlarged 8 times, make an 8,000 px square). For
#: images up to 64x64 the grid stays under Pillow's decompression-bomb limit (89 megapixels),
#: so it can be opened again. For more samples, run mode=sample again with another seed.
MAX_SAMPLES = 10_000

#: The most images on the interpolation row (one interpolation.png row).
MAX_INTERPOLATION_STEPS = 1_000


def _metric_model() -> dict[str, Any]:
    """The metric classifier: a small CNN whose 128-dimensional penultimate layer is the
    feature space (no Inception weights here)."""
    return {
        "name": "metric_cnn",
        "type": "cnn",
        "channels": [16, 32],
        "kernel_size": 3,
        "convs_per_block": 1,
        "pool": "max",
        "batch_norm": True,
        "activation": "relu",
        "conv_dropout": 0.0,
        "hidden_sizes": [128],
        "dropout": 0.3,
        "init": "kaiming",
    }


def _metric_trainer() -> dict[str, Any]:
    """The metric classifier's training: 3 epochs of Adam, no best.pt, no TensorBoard extras."""
    return {
        "epochs": 3,
        "batch_size": 128,
        "optimizer": {"name": "adam", "lr": 1.0e-3},
        "checkpoint": {"best": False},
        "tensorboard": {"histograms_every": 0, "figures_every": 0, "graph": False},
    }


@dataclass(frozen=True)
class MetricClassifierConfig:
    """The classifier whose feature space the sample-quality metrics measure in, trained once
    per dataset and size and cached."""

    cache_dir: str = setting(
        "${oc.select:dataset.data_dir,${oc.env:RL_LAB_DATA_DIR,data}}/metric_classifiers",
        "where the trained classifiers are kept (.pt + .json per dataset and size)",
    )
    seed: int = setting(0, "seed of the classifier's training", low=0)
    min_steps: int = setting(
        600, "at least this many mini-batches (more epochs for small datasets)", low=0
    )
    model: dict[str, Any] | str = setting(
        help="a model mapping as in conf/model/, or the name of one (e.g. lenet)",
        factory=_metric_model,
    )
    trainer: dict[str, Any] = setting(
        help="merged onto trainer=default (rl_lab/supervised/configs.py)", factory=_metric_trainer
    )


@dataclass(frozen=True)
class MetricsConfig:
    """Sample quality during training (rl_lab/gan/quality.py); the objective is the final FD."""

    enabled: bool = setting(True, "compute the sample-quality metrics")
    every: int = setting(
        10, "epochs between evaluations (the last epoch always has one); 0 = end only", low=0
    )
    samples: int = setting(
        2000, "generated images per evaluation (FD depends on it: compare equal counts)", low=10
    )
    seed: int = setting(12345, "noise of the evaluation samples (the same every time)", low=0)
    classifier: MetricClassifierConfig = setting(
        help="the feature space", factory=MetricClassifierConfig
    )


@dataclass(frozen=True)
class GANRunConfig:
    """The GAN task's own top-level keys (``task=gan``; the dataset, model and trainer come
    from their groups)."""

    n: int = setting(64, "mode=sample: number of samples", low=1, high=MAX_SAMPLES)
    label: int | None = setting(
        None,
        "mode=sample, conditional GAN: the class of every sample; null = cycle through the classes",
        low=0,
    )
    interpolation_steps: int = setting(
        10,
        "mode=sample: images on the line between the noise of seed and seed + 1",
        low=2,
        high=MAX_INTERPOLATION_STEPS,
    )
    metrics: MetricsConfig = setting(help="sample quality", factory=MetricsConfig)


#: The GAN task's modes.
GAN_MODES: tuple[str, ...] = ("train", "eval", "sample")

#: Validation of the GAN task's own keys: ``mode`` and :class:`GANRunConfig`.
GAN_RUN_RULES: tuple[Rule, ...] = (
    Rule("mode", str, choices=GAN_MODES),
    *rules_of(GANRunConfig, ""),
)

#: The name under which :func:`register` stores :class:`GANRunConfig`.
GAN_RUN_NODE = "gan_run_settings"


def register() -> None:
    """Register ``trainer=gan`` with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`), ``model=dcgan`` and the GAN task's own keys
    (:class:`GANRunConfig`) as ``gan_run_settings``."""
    register_configs("trainer", GAN_TRAINER_CONFIGS)
    register_configs("model", GAN_MODEL_CONFIGS)
    register_settings(GAN_RUN_NODE, GANRunConfig)
