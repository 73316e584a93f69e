"""The run directory contract: what every run leaves behind.

``DIR/config.yaml`` (the resolved config), ``DIR/run_info.json`` (seed, versions, git commit,
command line, device), ``DIR/results.json`` (the outcome), ``DIR/tb/`` (TensorBoard) and
``DIR/checkpoints/`` (``last.pt``, ``best.pt``).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

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


def write_run_info(run_dir: Path, cfg: DictConfig, device: str, overrides: list[str]) -> None:
    """Write the resolved config and the run's provenance into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    write_json(
        run_dir / "run_info.json",
        {
            "seed": cfg.seed,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "overrides": overrides,
            "device": device,
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "versions": versions(),
            "git": git_commit(),
        },
    )
