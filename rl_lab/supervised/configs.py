"""The epoch trainer's settings (``trainer=default``, the supervised task and the GAN metrics'
classifier) as one typed config class: each key's type, default, bounds and meaning.

Hydra composes the defaults from :func:`register` (ConfigStore, group ``trainer``), the
validation rules are derived from the class (:data:`TRAINER_RULES`), and ``python -m
rl_lab.schema trainer=default`` lists them. Torch-free, like :mod:`rl_lab.rl.configs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rl_lab.config import Rule, register_configs, rules_of, setting

#: Losses of the classifier trainer: ``cross_entropy`` on logits, or ``mse`` (the quadratic
#: cost) between ``softmax``/``sigmoid`` outputs and one-hot targets.
LOSSES: tuple[str, ...] = ("cross_entropy", "mse")
MSE_OUTPUTS: tuple[str, ...] = ("softmax", "sigmoid")
#: Per-epoch learning-rate schedules.
SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "plateau")
#: Optimizers by name (``rl_lab.supervised.optimizers.OPTIMIZERS``; a test keeps the two equal).
OPTIMIZER_NAMES: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop")


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimizer and its settings (each read only by the optimizers that have it)."""

    name: str = setting("adam", "sgd | adam | adamw | rmsprop", choices=OPTIMIZER_NAMES)
    lr: float = setting(1e-3, "learning rate", low=0.0, low_open=True)
    momentum: float = setting(0.0, "sgd, rmsprop: momentum", low=0.0, high=1.0)
    nesterov: bool = setting(False, "sgd: Nesterov momentum (needs momentum > 0)")
    weight_decay: float = setting(0.0, "L2 penalty (adamw: decoupled)", low=0.0)
    betas: list[float] = setting(
        help="adam, adamw: the moment decay rates, two numbers in [0, 1)",
        factory=lambda: [0.9, 0.999],
    )
    alpha: float = setting(
        0.99, "rmsprop: smoothing of the squared-gradient average", low=0.0, high=1.0
    )
    eps: float = setting(1e-8, "adam, adamw, rmsprop: denominator epsilon", low=0.0, low_open=True)


@dataclass(frozen=True)
class AugmentConfig:
    """Random transforms of each training batch (labels unchanged)."""

    hflip: bool = setting(False, "mirror left-right with probability 1/2 (clothes yes, digits no)")
    shift: int = setting(
        0, "translate by up to this many pixels (zero padding); 0 = off", low=0, high=8
    )


@dataclass(frozen=True)
class ScheduleConfig:
    """The per-epoch learning-rate schedule."""

    name: str = setting("constant", "constant | step | cosine | plateau", choices=SCHEDULES)
    step_size: int = setting(10, "step: epochs between decays", low=1)
    gamma: float = setting(0.1, "step: decay factor", low=0.0, low_open=True, high=1.0)
    min_lr: float = setting(0.0, "cosine: final lr; plateau: floor", low=0.0)
    factor: float = setting(0.1, "plateau: decay factor", low=0.0, low_open=True, high=1.0)
    patience: int = setting(
        5, "plateau: epochs without improvement of `monitor` before a decay", low=0
    )


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop when ``monitor`` has not improved for ``patience`` epochs."""

    enabled: bool = setting(False, "stop early")
    monitor: str = setting("${trainer.monitor}", "the metric watched (default: trainer.monitor)")
    mode: str = setting("${trainer.monitor_mode}", "max | min (default: trainer.monitor_mode)")
    patience: int = setting(10, "epochs without an improvement larger than min_delta", low=1)
    min_delta: float = setting(0.0, "the smallest change that counts as an improvement", low=0.0)
    restore_best: bool = setting(
        True, "the run ends with the best epoch's weights (evaluated on test)"
    )


@dataclass(frozen=True)
class CheckpointConfig:
    """What the trainer writes under ``checkpoints/``."""

    every: int = setting(
        1, "epochs between writes of checkpoints/last.pt (0 = only the last epoch)", low=0
    )
    best: bool = setting(True, "checkpoints/best.pt whenever `monitor` improves")


@dataclass(frozen=True)
class TensorBoardConfig:
    """What the trainer logs to TensorBoard beyond the scalars."""

    histograms_every: int = setting(5, "epochs between weight/gradient histograms; 0 = off", low=0)
    figures_every: int = setting(
        5,
        "epochs between confusion-matrix figures (and one of the final model); 0 = off",
        low=0,
    )
    graph: bool = setting(True, "the model graph, once (add_graph)")


@dataclass(frozen=True)
class TrainerConfig:
    """The epoch loop of ``rl_lab/supervised/trainer.py``: mini-batches over in-memory
    tensors, one evaluation per epoch, callbacks (LR schedule, early stopping, checkpoints),
    TensorBoard."""

    epochs: int = setting(20, "passes over the training split", low=1)
    batch_size: int = setting(64, "training mini-batch", low=1)
    eval_batch_size: int = setting(1000, "evaluation only: larger batches, same results", low=1)
    loss: str = setting(
        "cross_entropy",
        "cross_entropy (on logits) | mse (quadratic cost: mse_output(logits) vs one-hot)",
        choices=LOSSES,
    )
    mse_output: str = setting("softmax", "loss=mse: softmax | sigmoid", choices=MSE_OUTPUTS)
    optimizer: OptimizerConfig = setting(help="the optimizer", factory=OptimizerConfig)
    augment: AugmentConfig = setting(help="training-batch augmentation", factory=AugmentConfig)
    grad_clip_norm: float | None = setting(
        None,
        "clip the global gradient norm of each step to this value; null = off",
        low=0.0,
        low_open=True,
    )
    monitor: str = setting(
        "val/accuracy",
        "metric for the best checkpoint, early stopping and the plateau schedule",
        pattern=r"(train|val)/\w+",
        choices=("val/loss", "val/accuracy"),
    )
    monitor_mode: str = setting(
        "max", "max for accuracy, min for a loss (val/loss)", choices=("min", "max")
    )
    schedule: ScheduleConfig = setting(help="learning-rate schedule", factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig = setting(
        help="early stopping", factory=EarlyStoppingConfig
    )
    checkpoint: CheckpointConfig = setting(help="checkpoints", factory=CheckpointConfig)
    tensorboard: TensorBoardConfig = setting(help="TensorBoard extras", factory=TensorBoardConfig)


#: Validation of ``cfg.trainer`` for the supervised task. The early-stopping ``monitor`` and
#: ``mode`` are checked across fields (``rl_lab.supervised.task.check_trainer``).
TRAINER_RULES: tuple[Rule, ...] = tuple(
    rule
    for rule in rules_of(TrainerConfig, "trainer")
    if rule.key not in ("trainer.early_stopping.monitor", "trainer.early_stopping.mode")
)

#: The supervised task's option of the ``trainer`` group (the GAN's: rl_lab.gan.configs).
TRAINER_CONFIGS: dict[str, type] = {"default": TrainerConfig}


def register() -> None:
    """Register ``trainer=default`` with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`)."""
    register_configs("trainer", TRAINER_CONFIGS)
