"""Where a benchmark ran: CPU model, cores, platform, Python and torch versions, date, load.

Every benchmark script prints :func:`describe_machine` in its header and stores
:func:`machine_info` beside its numbers, so results measured on different machines (or on a
busy one) can be told apart.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name with its family and model numbers (Linux ``/proc/cpuinfo``, e.g.
    ``AMD EPYC family 25 model 1``), else the platform's processor string.

    The numbers tell apart CPU generations that a virtual machine names alike: "AMD EPYC" is a
    Zen 3 (model 1) on one VM and a Zen 4 with AVX-512 (model 17) on another, and their speeds
    differ by up to 2x on the same benchmark.
    """
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if not key and fields:
                break  # the first processor's block is enough
            fields.setdefault(key, value.strip())
    except OSError:
        pass
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        return f"{name} family {fields['cpu family']} model {fields['model']}"
    return name


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(package: str) -> str:
    # From the installed metadata: reporting torch's version should not cost importing torch.
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """The machine and the moment, as a JSON-ready dict.

    Keys: ``cpu`` (model name), ``cores`` (all), ``usable_cores`` (this process's), ``platform``,
    ``python``, ``torch`` (versions), ``load_average`` (1, 5 and 15 minutes, now; empty where the
    system has none) and ``date`` (UTC, ISO 8601).
    """
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def describe_machine(info: Mapping[str, Any] | None = None) -> str:
    """One line for a benchmark's header, e.g. ``AMD EPYC 7B13 (2 cores), Linux-6.1-x86_64,
    Python 3.11.9, torch 2.5.1, 2026-12-03``.

    Args:
        info: What :func:`machine_info` returned (measured now when None).
    """
    info = machine_info() if info is None else info
    cores = f"{info['cores']} cores"
    if info["usable_cores"] != info["cores"]:
        cores += f", {info['usable_cores']} usable"
    return (
        f"{info['cpu']} ({cores}), {info['platform']}, Python {info['python']}, "
        f"torch {info['torch']}, {str(info['date'])[:10]}"
    )
