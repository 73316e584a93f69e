"""Checkpoint files: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it can be loaded
without unpickling arbitrary code. ``save`` writes to a temporary file in the same folder, syncs
it to disk and renames it over the target, so a crash or SIGKILL mid-write never leaves a
half-written ``last.pt``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
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
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    return path


def _unreadable_message(path: Path, exc: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed with ``exc``, and what to do, in words
    that hold for the file: never PyTorch's advice to load it with ``weights_only=False``.

    rl_lab writes every checkpoint as a PyTorch zip archive holding only tensors and plain
    data, so a file that is no zip archive was cut short, damaged or never a checkpoint, and a
    pickle that names other classes or functions was not written by rl_lab.
    """
    if not zipfile.is_zipfile(path):
        what = (
            "it is not a PyTorch zip archive (the file is truncated, corrupt or not a "
            "checkpoint at all)"
        )
    elif isinstance(exc, pickle.UnpicklingError):
        foreign = _foreign_globals(path)
        if foreign is None:  # a torch without the static check: both causes stay possible
            what = "its pickle holds objects other than tensors and plain data, or is damaged"
        elif foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            what = (
                f"it holds objects other than tensors and plain data ({shown}), which rl_lab "
                "never writes, so rl_lab refuses to load it (unpickling them could run code)"
            )
        else:
            what = "its pickle is damaged (the file is corrupt or was modified)"
    else:
        what = "its contents are damaged or are not a checkpoint's (the file is corrupt)"
    return (
        f"Checkpoint {path} is not a readable rl_lab checkpoint: {what}. Use another "
        "checkpoint (e.g. checkpoints/best.pt instead of last.pt, or one from another run) "
        "or retrain."
    )


def _foreign_globals(path: Path) -> list[str] | None:
    """The classes and functions ``path``'s pickle names beyond what ``weights_only`` allows,
    read without unpickling (``[]`` also when the pickle cannot be parsed); ``None`` where this
    torch has no such check."""
    find = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)  # torch 2.5+
    if find is None:
        return None
    try:
        return list(find(path))
    except Exception:  # a damaged pickle: its opcodes cannot be read either
        return []


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
    except OSError as exc:  # the file itself cannot be read (permissions, I/O error)
        raise CheckpointError(
            f"Checkpoint {path} could not be read: {exc.strerror or exc}. Check the file's "
            "permissions and the disk, or use another checkpoint."
        ) from None
    except Exception as exc:  # torch raises several types for truncated or foreign files
        # ``from None``: PyTorch's own text suggests retrying with weights_only=False, which
        # cannot help with a damaged file and would run whatever code a foreign pickle holds.
        raise CheckpointError(_unreadable_message(path, exc)) from None
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
