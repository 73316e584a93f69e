"""The training core: RNG state round trips, the divergence guard, the interruption message,
the parameter count."""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from rl_lab.errors import InterruptedRunError, TrainingDivergedError
from rl_lab.training import (
    capture_rng,
    check_finite,
    count_parameters,
    interruption,
    restore_rng,
    seed_everything,
)


def draws(numpy_gen: np.random.Generator, torch_gen: torch.Generator) -> dict[str, object]:
    """The next numbers of every generator kind the core saves."""
    out = {
        "torch": torch.rand(4).tolist(),
        "numpy_global": np.random.random(4).tolist(),
        "numpy_global_gauss": np.random.standard_normal(3).tolist(),
        "python": [random.random() for _ in range(4)],
        "python_gauss": random.gauss(0.0, 1.0),
        "numpy_generator": numpy_gen.random(4).tolist(),
        "torch_generator": torch.randperm(10, generator=torch_gen).tolist(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.rand(4, device="cuda").tolist()
    return out


def through_checkpoint(state: dict) -> dict:
    """``state`` saved and read back as checkpoints are (``weights_only=True``)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_capture_restore_round_trip_gives_the_same_next_draws_for_every_generator() -> None:
    seed_everything(3)
    numpy_gen, torch_gen = np.random.default_rng(3), torch.Generator().manual_seed(3)
    draws(numpy_gen, torch_gen)  # move every generator off its seed, mid-gauss pair included
    np.random.standard_normal()
    random.gauss(0.0, 1.0)
    generators = {"shuffle": torch_gen, "loop": numpy_gen}
    state = through_checkpoint(capture_rng(generators))
    expected = draws(numpy_gen, torch_gen)
    draws(numpy_gen, torch_gen)  # move on again, then go back
    restore_rng(state, generators)
    assert draws(numpy_gen, torch_gen) == expected


@pytest.mark.cuda
def test_the_cuda_state_round_trips_once_cuda_is_in_use() -> None:
    torch.rand(1, device="cuda")  # CUDA's state is saved only once a run has initialised it
    state = through_checkpoint(capture_rng())
    assert "cuda" in state
    expected = torch.rand(4, device="cuda").tolist()
    torch.rand(4, device="cuda")
    restore_rng(state)
    assert torch.rand(4, device="cuda").tolist() == expected


def test_the_rl_layout_keeps_its_generator_under_numpy_and_leaves_the_global_state() -> None:
    numpy_gen = np.random.default_rng(0)
    state = through_checkpoint(capture_rng({"numpy": numpy_gen}, numpy_global=False))
    assert set(state) >= {"numpy", "torch", "python"}
    assert state["numpy"] == numpy_gen.bit_generator.state
    expected_generator = numpy_gen.random(3).tolist()
    global_before = np.random.get_state()[1].copy()
    restore_rng(state, {"numpy": numpy_gen})
    assert numpy_gen.random(3).tolist() == expected_generator
    np.testing.assert_array_equal(np.random.get_state()[1], global_before)


def test_checkpoints_written_before_the_core_restore() -> None:
    """The RL loop's old payload: Python's state as ``random.getstate()``'s tuple."""
    numpy_gen = np.random.default_rng(1)
    old = {
        "numpy": numpy_gen.bit_generator.state,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }
    expected = (numpy_gen.random(2).tolist(), torch.rand(2).tolist(), random.random())
    restore_rng(through_checkpoint(old), {"numpy": numpy_gen})
    assert (numpy_gen.random(2).tolist(), torch.rand(2).tolist(), random.random()) == expected


def test_a_generator_cannot_take_the_global_numpy_key() -> None:
    with pytest.raises(ValueError, match="clashes"):
        capture_rng({"numpy": np.random.default_rng(0)})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_the_divergence_guard_raises_on_non_finite_values(bad, tmp_path) -> None:
    last = tmp_path / "last.pt"
    last.write_bytes(b"")
    with pytest.raises(TrainingDivergedError) as raised:
        check_finite({"train/loss": bad, "train/accuracy": 0.5}, "in epoch 2", last, "Lower it.")
    message = str(raised.value)
    assert f"train/loss={bad}" in message and "train/accuracy" not in message
    assert f"in epoch 2; training stopped and the last good checkpoint {last} is kept" in message
    assert message.endswith("Lower it.")


def test_the_divergence_guard_says_when_no_checkpoint_exists(tmp_path) -> None:
    for last in (None, tmp_path / "missing.pt"):
        with pytest.raises(TrainingDivergedError, match="no checkpoint was written yet"):
            check_finite({"losses/td_loss": math.nan}, "at env step 1", last, "")


def test_the_divergence_guard_passes_finite_values() -> None:
    check_finite({"train/loss": 0.0, "val/loss": -1e30, "x": 1e300}, "", None, "")
    check_finite({}, "", None, "")


def test_the_interruption_names_the_checkpoint_and_the_resume_command(tmp_path) -> None:
    error = interruption("SIGINT", "in epoch 3, batch 7", tmp_path / "last.pt", "gan", tmp_path)
    assert isinstance(error, InterruptedRunError)
    assert str(error) == (
        f"Stopped by SIGINT in epoch 3, batch 7; the checkpoint {tmp_path / 'last.pt'} holds "
        f"everything needed to continue. Resume with `python -m rl_lab task=gan resume=true "
        f"hydra.run.dir={tmp_path}`."
    )
    unsaved = interruption("SIGTERM", "at env step 10", None, "rl", None)
    assert "cannot be resumed" in str(unsaved) and "resume=true" not in str(unsaved)


def test_count_parameters_counts_trainable_elements_only() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    assert count_parameters(net) == (3 * 4 + 4) + (4 + 4) + (4 * 2 + 2)
    net[0].requires_grad_(False)
    assert count_parameters(net) == (4 + 4) + (4 * 2 + 2)
