"""What every trainer shares: seeding and RNG state, the divergence guard, the interruption
message, the parameter count.

Both training engines build on it: the RL loops (:class:`rl_lab.rl.loop.Loop`) and the epoch
trainer (:class:`rl_lab.supervised.trainer.Trainer`, which the GAN trainer extends). Its
neighbours complete the core: :class:`rl_lab.signals.GracefulStop` turns Ctrl-C/SIGTERM into a
stop request, and :func:`rl_lab.tracking.live_progress` builds the progress bar of every loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rl_lab.errors import InterruptedRunError, TrainingDivergedError

#: A generator a trainer owns besides the global ones (the RL loop's NumPy generator for
#: exploration and replay sampling, the epoch trainer's torch generator for shuffling).
OwnGenerator = np.random.Generator | torch.Generator

#: The key of NumPy's global state in :func:`capture_rng`'s result.
NUMPY_GLOBAL = "numpy"


# ----------------------------------------------------------------------------- RNG state


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def capture_rng(
    generators: Mapping[str, OwnGenerator] | None = None, numpy_global: bool = True
) -> dict[str, Any]:
    """The RNG states a resumed run needs to draw the same numbers, checkpoint-safe.

    Everything is stored as tensors, lists, dicts and ints, so ``torch.load(weights_only=True)``
    reads it back.

    Args:
        generators: the trainer's own generators by name; each one's state is stored under its
            name (a torch generator as its state tensor, a NumPy generator as its bit
            generator's state dict).
        numpy_global: also store NumPy's global state under ``"numpy"``; a trainer that
            draws NumPy numbers only from its own generator leaves it out.

    Returns:
        ``{"torch": CPU state, "python": [version, internal, gauss], "numpy": global NumPy
        state (if asked), "cuda": every device's state (once CUDA is initialised), <name>:
        each generator's state}``.
    """
    generators = generators or {}
    if numpy_global and NUMPY_GLOBAL in generators:
        raise ValueError(f"a generator named {NUMPY_GLOBAL!r} clashes with NumPy's global state")
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        name: (
            generator.get_state()
            if isinstance(generator, torch.Generator)
            else generator.bit_generator.state
        )
        for name, generator in generators.items()
    }
    state["torch"] = torch.get_rng_state()
    if numpy_global:
        np_state = np.random.get_state(legacy=True)
        # the global RandomState is MT19937, whose legacy state is this 5-tuple
        assert isinstance(np_state, tuple)
        np_name, np_keys, np_pos, np_has_gauss, np_gauss = np_state
        # the uint32 key array as int64: torch has no uint32 tensors to store it in
        state[NUMPY_GLOBAL] = [
            np_name,
            torch.from_numpy(np_keys.astype(np.int64)),
            np_pos,
            np_has_gauss,
            np_gauss,
        ]
    state["python"] = [py_version, list(py_internal), py_gauss]
    # only once initialised: asking earlier would start CUDA in a run that does not use it
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(
    state: Mapping[str, Any], generators: Mapping[str, OwnGenerator] | None = None
) -> None:
    """Inverse of :func:`capture_rng`: set every state ``state`` holds.

    Args:
        state: what :func:`capture_rng` returned (read back from a checkpoint).
        generators: the same names as at capture; each gets its stored state. ``"numpy"`` is
            NumPy's global state unless a generator has that name.
    """
    generators = generators or {}
    for name, generator in generators.items():
        if isinstance(generator, torch.Generator):
            generator.set_state(state[name])
        else:
            generator.bit_generator.state = state[name]
    torch.set_rng_state(state["torch"])
    if NUMPY_GLOBAL in state and NUMPY_GLOBAL not in generators:
        name, keys, pos, has_gauss, gauss = state[NUMPY_GLOBAL]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- stopping


def check_finite(
    values: Mapping[str, float], where: str, last_checkpoint: Path | None, advice: str
) -> None:
    """Stop a run whose training metrics became NaN or infinite.

    Args:
        values: the metrics to check, by TensorBoard tag.
        where: the point of training, completing "Training diverged: train/loss=nan ...",
            e.g. ``"in epoch 3 (step 1,204)"``.
        last_checkpoint: the run's ``last.pt`` (kept as the last good state when it exists),
            or ``None`` for a run without checkpoints.
        advice: what to change, one or two sentences naming the config keys.

    Raises:
        TrainingDivergedError: naming every non-finite value.
    """
    bad = {tag: value for tag, value in values.items() if not math.isfinite(value)}
    if not bad:
        return
    kept = (
        f"the last good checkpoint {last_checkpoint} is kept"
        if last_checkpoint is not None and last_checkpoint.exists()
        else "no checkpoint was written yet"
    )
    raise TrainingDivergedError(
        f"Training diverged: {', '.join(f'{tag}={value}' for tag, value in bad.items())} "
        f"{where}; training stopped and {kept}. {advice}"
    )


def interruption(
    signal_name: str, where: str, saved: Path | None, task: str, run_dir: Path | None
) -> InterruptedRunError:
    """The error a trainer raises once it has honoured SIGINT/SIGTERM: where it stopped, what
    was saved and the command that resumes the run.

    Args:
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
        where: the point of training, e.g. ``"at env step 12,000"`` or ``"in epoch 3, batch 7"``.
        saved: the ``last.pt`` just written, or ``None`` when the run writes no checkpoints.
        task: ``cfg.task.name`` (part of the resume command).
        run_dir: the run directory (part of the resume command).
    """
    if saved is None:
        return InterruptedRunError(
            f"Stopped by {signal_name} {where}; this run writes no checkpoints, so it cannot "
            "be resumed."
        )
    return InterruptedRunError(
        f"Stopped by {signal_name} {where}; the checkpoint {saved} holds everything needed to "
        f"continue. Resume with `python -m rl_lab task={task} resume=true "
        f"hydra.run.dir={run_dir}`."
    )


# ----------------------------------------------------------------------------- networks


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (elements of tensors with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
