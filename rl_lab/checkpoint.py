"""Checkpoint files: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it can be loaded
without unpickling arbitrary code. ``save`` writes to a temporary file in the same folder, syncs
it to disk and renames it over the target, so a crash or SIGKILL mid-write never leaves a
half-written ``last.pt``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from rl_lab.errors import CheckpointError

FORMAT_VERSION = 1


def save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write ``payload`` to ``path`` (parents are created). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **payload}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # name the checkpoint, not its temporary file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


def load(path: str | os.PathLike, kind: str | None = None, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save`.

    Args:
        path: the ``.pt`` file.
        kind: when given, the checkpoint's ``kind`` field must match (e.g. ``"rl"``).
        mmap: map the tensors' storage instead of reading it: a cheap look at the config and
            counters of a large checkpoint (a replay buffer of gigabytes), e.g. to check it
            before a run starts.

    Raises:
        CheckpointError: the file is missing, not a checkpoint, corrupt, or of another kind.
    """
    path = Path(path)
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            found = sorted(p.name for p in path.parent.glob("*.pt"))
            hint = f" Checkpoints in {path.parent}: {', '.join(found) or 'none'}."
        raise CheckpointError(
            f"Checkpoint not found: {path}.{hint} Pass an existing file, e.g. "
            "`checkpoint=outputs/.../checkpoints/last.pt`, or train a run first."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises several types for truncated/garbage files
        raise CheckpointError(
            f"Checkpoint {path} could not be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). The file is truncated, "
            "corrupt or not an rl_lab checkpoint; use another one (e.g. best.pt instead of "
            "last.pt) or retrain."
        ) from exc
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(
            f"{path} is a PyTorch file but not an rl_lab checkpoint (no format_version). "
            "Pass a checkpoint written by rl_lab (checkpoints/last.pt or best.pt of a run)."
        )
    if payload["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer rl_lab (format {payload['format_version']}, this "
            f"version reads up to {FORMAT_VERSION}); upgrade rl_lab to load it."
        )
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(
            f"{path} is a '{payload.get('kind')}' checkpoint, but this task needs a '{kind}' "
            "checkpoint; pass a checkpoint of the right task."
        )
    return payload
