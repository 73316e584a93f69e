"""A cache of decoded arrays, so a dataset is decompressed and parsed only once.

Entries are uncompressed ``.npz`` files named ``<stem>-<key>.npz``, where the key hashes the
source files' resolved paths, sizes and modification times: replacing a source file changes the
key, and the stale entry is deleted when the new one is written. Writes are atomic (temporary
file, fsync, rename); an unreadable entry is deleted and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

log = logging.getLogger("rl_lab")

#: Bumped when the layout of cached arrays changes, which invalidates every entry.
CACHE_VERSION = 1


def source_key(paths: Sequence[Path]) -> str:
    """A short hash of the source files' identity (resolved path, size, mtime in ns)."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"|{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cache_path(cache_dir: Path, stem: str, key: str) -> Path:
    """Where the entry for ``stem`` with ``key`` lives."""
    return cache_dir / f"{stem}-{key}.npz"


def load_cached(cache_dir: Path, stem: str, key: str) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` when there is no (readable) entry."""
    path = cache_path(cache_dir, stem, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as entry:
            return {name: entry[name] for name in entry.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("Ignoring unreadable dataset cache %s (%s); rebuilding it.", path, exc)
        path.unlink(missing_ok=True)
        return None


def save_cached(
    cache_dir: Path, stem: str, key: str, arrays: Mapping[str, np.ndarray]
) -> Path | None:
    """Write an entry atomically and delete older entries of ``stem``.

    Returns the entry's path, or ``None`` when ``cache_dir`` cannot be written (the dataset
    still loads, only without a cache).
    """
    path = cache_path(cache_dir, stem, key)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=cache_dir)
    except OSError as exc:
        log.warning("Dataset cache disabled: cannot write to %s (%s).", cache_dir, exc)
        return None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **cast(dict[str, Any], arrays))  # (savez also has flags)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; a shared data_dir needs readable entries
        os.replace(tmp_name, path)
    except OSError as exc:
        log.warning("Dataset cache not written to %s (%s).", path, exc)
        return None
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    for stale in cache_dir.glob(f"{stem}-*.npz"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return path
