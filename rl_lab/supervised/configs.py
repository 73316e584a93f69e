"""The epoch trainer's settings (``trainer=default``, the supervised task and the GAN metrics'
classifier) as one typed config class: each key's type, default, bounds and meaning.

Hydra composes the defaults from :func:`register` (ConfigStore, group ``trainer``), the
validation rules are derived from the class (:data:`TRAINER_RULES`), and ``python -m
rl_lab.schema trainer=default`` lists them. Torch-free, like :mod:`rl_lab.rl.configs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rl_lab.config import (
    ACTIVATION_CHOICES,
    INIT_CHOICES,
    Rule,
    register_configs,
    register_settings,
    rules_of,
    setting,
)

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


# --------------------------------------------------------------------------- the models
# The classifiers of the network zoo (``model=mlp|cnn|lstm``; conf/model/lenet.yaml is a cnn
# written as its differences). ``type`` picks the class (rl_lab.supervised.models.MODEL_TYPES);
# the input shape and the number of classes come from the dataset.


@dataclass(frozen=True)
class MLPModelConfig:
    """Multilayer perceptron: flatten → [Linear → (BatchNorm) → activation → (Dropout)] × n →
    Linear."""

    name: str = setting("mlp", "the model's name (part of the run directory's name)")
    type: str = setting("mlp", "the classifier class", choices=("mlp",))
    hidden_sizes: list[int] = setting(
        help="width of each hidden layer (Géron's Fashion-MNIST MLP, Hands-On ML ch. 10)",
        factory=lambda: [300, 100],
    )
    activation: str = setting("relu", "hidden activation", choices=ACTIVATION_CHOICES)
    batch_norm: bool = setting(False, "BatchNorm after each hidden Linear")
    dropout: float = setting(0.0, "after each hidden activation", low=0.0, high=0.99)
    init: str = setting(
        "xavier",
        "xavier (Keras' Glorot uniform, zero biases) | kaiming | orthogonal | default (torch's)",
        choices=INIT_CHOICES,
    )


@dataclass(frozen=True)
class CNNModelConfig:
    """Conv net with batch norm (VGG-style blocks): blocks of [Conv → BN → activation] ×
    convs_per_block → pool, then the dense layers → Linear. Pools only while the map is at
    least 4 pixels, so it fits 8x8 digits (8 → 4 → 2) and 28x28 images (28 → 14 → 7)."""

    name: str = setting("cnn", "the model's name (part of the run directory's name)")
    type: str = setting("cnn", "the classifier class", choices=("cnn",))
    channels: list[int] = setting(
        help="output channels of each block ([32, 64]: 3x the compute)", factory=lambda: [16, 32]
    )
    kernel_size: int = setting(3, "odd size of every conv's kernel", low=1, high=15)
    convs_per_block: int = setting(2, "convs before each pooling", low=1, high=8)
    pool: str = setting("max", "max | avg", choices=("max", "avg"))
    batch_norm: bool = setting(True, "BatchNorm after every conv and dense layer")
    activation: str = setting("relu", "hidden activation", choices=ACTIVATION_CHOICES)
    conv_dropout: float = setting(0.0, "after each block's pooling", low=0.0, high=0.99)
    hidden_sizes: list[int] = setting(
        help="dense layers after the conv blocks", factory=lambda: [256]
    )
    dropout: float = setting(0.3, "after each dense hidden layer", low=0.0, high=0.99)
    init: str = setting("kaiming", "weight initialisation scheme", choices=INIT_CHOICES)


@dataclass(frozen=True)
class LSTMModelConfig:
    """Reads an image row by row (H steps of C*W pixels) with an LSTM and classifies from its
    last output (bidirectional: both directions' final states)."""

    name: str = setting("lstm", "the model's name (part of the run directory's name)")
    type: str = setting("lstm", "the classifier class", choices=("lstm",))
    hidden_size: int = setting(128, "LSTM units per layer", low=1)
    num_layers: int = setting(1, "stacked LSTM layers", low=1)
    bidirectional: bool = setting(False, "read the rows in both directions")
    dropout: float = setting(0.0, "between stacked layers (num_layers > 1)", low=0.0, high=0.99)
    init: str = setting(
        "default",
        "the output Linear's init; LSTM weights keep torch's defaults",
        choices=INIT_CHOICES,
    )


#: ``model.type`` → its config class (the ``model`` group's typed options).
MODEL_CONFIGS: dict[str, type] = {
    "mlp": MLPModelConfig,
    "cnn": CNNModelConfig,
    "lstm": LSTMModelConfig,
}

#: Keys every classifier config has besides its type's own keys.
COMMON_MODEL_KEYS: tuple[str, ...] = ("name", "type", "init")


# ----------------------------------------------------------------------------- the task
#: How mode=lr_find's suggested learning rate is read off the curve.
SUGGESTIONS: dict[str, str] = {
    "min_loss_div10": "10x below the LR of the lowest smoothed loss (Géron's rule of thumb)",
    "steepest": "LR of the steepest descent of the smoothed loss against log(LR)",
}


@dataclass(frozen=True)
class LRFindConfig:
    """``mode=lr_find``: the learning-rate range test (Géron, Hands-On ML ch. 10: 1e-5 → 10 in
    500 iterations)."""

    lr_min: float = setting(1.0e-5, "the first learning rate", low=0.0, low_open=True)
    lr_max: float = setting(10.0, "the last learning rate", low=0.0, low_open=True)
    iterations: int = setting(500, "mini-batches, the learning rate growing exponentially", low=10)
    smoothing: float = setting(
        0.98, "beta of the loss's moving average (bias-corrected)", low=0.0, high=0.999
    )
    divergence: float = setting(
        4.0,
        "stop once the smoothed loss exceeds this multiple of its lowest value",
        low=1.0,
        low_open=True,
    )
    suggestion: str = setting("min_loss_div10", " | ".join(SUGGESTIONS), choices=tuple(SUGGESTIONS))


@dataclass(frozen=True)
class SupervisedRunConfig:
    """The supervised task's own top-level keys (``task=supervised``; the dataset, model and
    trainer come from their groups)."""

    lr_find: LRFindConfig = setting(help="the learning-rate range test", factory=LRFindConfig)


#: The supervised task's modes.
SUPERVISED_MODES: tuple[str, ...] = ("train", "eval", "lr_find")

#: Validation of the supervised task's own keys: ``mode`` and :class:`SupervisedRunConfig`.
SUPERVISED_RUN_RULES: tuple[Rule, ...] = (
    Rule("mode", str, choices=SUPERVISED_MODES),
    *rules_of(SupervisedRunConfig, ""),
)

#: The name under which :func:`register` stores :class:`SupervisedRunConfig`.
SUPERVISED_RUN_NODE = "supervised_run_settings"


def register() -> None:
    """Register ``trainer=default`` with Hydra's ConfigStore
    (:func:`rl_lab.config.register_configs`), the classifiers as ``model=mlp|cnn|lstm`` and
    the supervised task's own keys
    (:class:`SupervisedRunConfig`) as ``supervised_run_settings``."""
    register_configs("trainer", TRAINER_CONFIGS)
    register_configs("model", MODEL_CONFIGS)
    register_settings(SUPERVISED_RUN_NODE, SupervisedRunConfig)
