"""checkpoint.load on files rl_lab did not write: one paragraph that says what the file is not
and what to do, never PyTorch's advice to load it with weights_only=False."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rl_lab import checkpoint
from rl_lab.errors import CheckpointError
from tests.conftest import run_cli

WHAT_TO_DO = "Use another checkpoint (e.g. checkpoints/best.pt instead of last.pt"


class MakesADirectory:
    """A pickled object that runs code when unpickled: ``os.mkdir(path)``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


class Custom:
    """An instance of a class of its own: not plain data."""

    def __init__(self) -> None:
        self.value = 1


def random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    return path


def truncated(tmp_path: Path) -> Path:
    path = checkpoint.save({"kind": "rl", "weights": torch.zeros(10_000)}, tmp_path / "last.pt")
    path.write_bytes(path.read_bytes()[:1000])  # as after a full disk
    return path


def runs_code(tmp_path: Path) -> Path:
    path = tmp_path / "code.pt"
    torch.save(
        {"format_version": 1, "evil": MakesADirectory(tmp_path / "ran"), "c": Custom()}, path
    )
    return path


def assert_one_clear_paragraph(message: str, path: Path) -> None:
    assert str(path) in message
    assert "weights_only" not in message and "Traceback" not in message
    assert WHAT_TO_DO in message and "retrain" in message
    assert "\n" not in message


@pytest.mark.parametrize("mmap", [False, True])
def test_random_bytes_are_not_a_pytorch_archive(tmp_path, mmap):
    path = random_bytes(tmp_path)
    with pytest.raises(CheckpointError) as refused:
        checkpoint.load(path, mmap=mmap)
    message = str(refused.value)
    assert_one_clear_paragraph(message, path)
    assert "not a PyTorch zip archive (the file is truncated, corrupt" in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__  # torch's text


@pytest.mark.parametrize("mmap", [False, True])
def test_a_truncated_checkpoint_says_so(tmp_path, mmap):
    path = truncated(tmp_path)
    with pytest.raises(CheckpointError) as refused:
        checkpoint.load(path, mmap=mmap)
    assert_one_clear_paragraph(str(refused.value), path)
    assert "truncated" in str(refused.value)


@pytest.mark.parametrize("mmap", [False, True])
def test_a_pickle_with_code_is_refused_and_its_code_never_runs(tmp_path, mmap):
    path = runs_code(tmp_path)
    with pytest.raises(CheckpointError) as refused:
        checkpoint.load(path, mmap=mmap)
    message = str(refused.value)
    assert_one_clear_paragraph(message, path)
    assert "holds objects other than tensors and plain data" in message
    assert "rl_lab never writes" in message and "refuses to load it" in message
    assert "test_checkpoint.Custom" in message  # what the file holds
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("make", [random_bytes, truncated, runs_code])
def test_the_cli_reports_one_paragraph_and_exits_2(tmp_path, make):
    path = make(tmp_path)
    proc = run_cli("mode=eval", f"checkpoint={path}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert proc.returncode == 2
    assert_one_clear_paragraph(proc.stderr.strip().removeprefix("Error: "), path)
    assert not (tmp_path / "ran").exists()


def test_a_checkpoint_rl_lab_wrote_still_loads(tmp_path):
    path = checkpoint.save({"kind": "rl", "weights": torch.ones(3)}, tmp_path / "best.pt")
    for mmap in (False, True):
        assert torch.equal(checkpoint.load(path, kind="rl", mmap=mmap)["weights"], torch.ones(3))
