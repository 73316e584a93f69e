"""The run directory contract: what every run leaves behind, and who may write it.

``DIR/config.yaml`` (the resolved config), ``DIR/run_info.json`` (seed, versions, git commit,
command line, device), ``DIR/results.json`` (the outcome), ``DIR/tb/`` (TensorBoard) and
``DIR/checkpoints/`` (``last.pt``, ``best.pt``).

A run directory belongs to one process: :class:`RunDirLock` holds an exclusive ``flock`` on
``DIR/.lock`` while the run writes, and the kernel releases it when the process ends, however
it ends (so ``resume=true`` works after a SIGKILL). :func:`finished_results` and
:func:`holds_run` tell what a directory already holds, so that a refused run leaves it as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rl_lab.errors import RunDirError

#: The lock file of a run directory; it holds the owner's PID and command while locked.
LOCK_FILE = ".lock"

_PACKAGES = ("rl_lab", "torch", "numpy", "gymnasium", "stable-baselines3", "hydra-core")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def versions() -> dict[str, str]:
    """Installed versions of Python and the packages a result depends on."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit(repo_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The commit of the source tree and whether it had uncommitted changes."""
    repo_dir = Path(repo_dir or Path(__file__).resolve().parent.parent)

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=repo_dir, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def command_line() -> list[str]:
    """This process's command line, as the user typed it (``python -m rl_lab ...``)."""
    program = Path(sys.argv[0]).name
    if program == "__main__.py":
        program = f"python -m {Path(sys.argv[0]).parent.name}"
    return [program, *sys.argv[1:]]


def _provenance(cfg: DictConfig, device: str, overrides: list[str]) -> dict[str, Any]:
    return {
        "seed": cfg.seed,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "overrides": overrides,
        "device": device,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "versions": versions(),
        "git": git_commit(),
    }


def write_run_info(
    run_dir: Path, cfg: DictConfig, device: str, overrides: list[str], resume: bool = False
) -> None:
    """Write the resolved config and the run's provenance into ``run_dir``.

    A resumed run keeps the provenance of the run it continues and appends its own to
    ``run_info.json``'s ``resumes`` list (versions or the commit may differ between sessions).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    info = _provenance(cfg, device, overrides)
    previous = read_json(run_dir / "run_info.json") if resume else None
    if isinstance(previous, dict):
        previous.setdefault("resumes", []).append(info)
        info = previous
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    write_json(run_dir / "run_info.json", info)


def write_hydra_record(run_dir: Path, files: dict[str, str]) -> None:
    """Write Hydra's own record of a job (``.hydra/config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``), once: a resumed run keeps the record of the run it continues.

    rl_lab writes it instead of Hydra (``hydra.output_subdir: null``) so that a refused run
    never rewrites the record of a finished one.
    """
    record = run_dir / ".hydra"
    if record.is_dir():
        return
    record.mkdir(parents=True)
    for name, text in files.items():
        (record / name).write_text(text)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def finished_results(run_dir: Path) -> dict[str, Any] | None:
    """The ``results.json`` of ``run_dir`` when it records a completed run, else ``None``."""
    results = read_json(run_dir / "results.json")
    if isinstance(results, dict) and results.get("status") == "completed":
        return results
    return None


def holds_run(run_dir: Path) -> str | None:
    """What makes ``run_dir`` someone's run (a finished ``results.json`` or a
    ``checkpoints/last.pt``), in words; ``None`` for a fresh directory or one that holds only the
    record of a run that failed before its first checkpoint."""
    results = finished_results(run_dir)
    if results is not None:
        task, mode = results.get("task", "rl"), results.get("mode", "train")
        return f"results.json of a finished {task} run (mode={mode})"
    if (run_dir / "checkpoints" / "last.pt").exists():
        return "checkpoints/last.pt of an unfinished run"
    return None


def check_creatable(path: Path) -> None:
    """Raise :class:`RunDirError` unless ``path`` exists as a writable folder or can be created
    (its nearest existing ancestor is a writable folder). Creates nothing: it probes with a
    temporary file, since permission bits alone do not tell (root, read-only mounts, a full
    disk)."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(cannot_write(path, OSError(errno.ENOTDIR, "not a directory")))
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(cannot_write(path, exc)) from exc


def check_writable(run_dir: Path, checkpoints: bool = True) -> None:
    """Raise :class:`RunDirError` unless files can be created in ``run_dir`` and (with
    ``checkpoints``) in its ``checkpoints/``. Creates nothing (see :func:`check_creatable`)."""
    check_creatable(run_dir)
    if checkpoints:
        check_creatable(run_dir / "checkpoints")


def cannot_write(path: Path, exc: OSError) -> str:
    """The paragraph for a write that failed with ``exc``."""
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a file of that name is in the way",
    }.get(exc.errno or -1, exc.strerror or type(exc).__name__)
    return (
        f"Cannot write to {path}: {reason}. A run writes its config, logs, checkpoints and "
        "results in its run directory; free space or fix the permissions there, or choose "
        "another directory with hydra.run.dir=DIR."
    )


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Wait for an exclusive ``flock`` on ``path`` (created if missing) and hold it while the
    block runs: the processes of one machine that take the same lock run their blocks one at a
    time (e.g. a read-modify-write of a shared file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunDirLock:
    """Exclusive ownership of a run directory for one process (``flock`` on ``DIR/.lock``).

    Usage::

        with RunDirLock(run_dir):
            ...  # the only process writing run_dir

    Raises:
        RunDirError: on entry, when another process holds the lock (the message names its PID
            and command) or the lock file cannot be created.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunDirLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(cannot_write(self.path.parent, exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(cannot_write(self.path.parent, exc)) from exc
            raise RunDirError(
                f"{self.path.parent} is in use by another rl_lab process ({owner}). A run "
                "directory belongs to one process: wait for that run to finish (or stop it), "
                "or choose another directory with hydra.run.dir=DIR."
            ) from None
        os.ftruncate(fd, 0)
        command = " ".join(command_line())
        os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()}: {command}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class RunDirCheck(Callback):
    """Hydra callback (conf/config.yaml): refuse a run or sweep directory that cannot be
    created or written, with one paragraph, before Hydra creates it (Hydra's own failure there
    is a traceback)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "sweep")

    @staticmethod
    def _check(config: DictConfig, node: str) -> None:
        try:
            path = Path(str(OmegaConf.select(config, f"hydra.{node}.dir")))
        except Exception:  # an unresolvable name: Hydra reports it itself
            return
        try:
            check_creatable(path)
        except RunDirError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            sys.exit(2)
