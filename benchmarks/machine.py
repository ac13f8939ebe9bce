"""What a benchmark ran on: CPUs, Python and the versions of the packages it measures."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as info:
            return next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), None)
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def describe(packages: Iterable[str], **extra: Any) -> dict[str, Any]:
    """CPU count and model, Python, the packages' versions, and `extra` fields."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": {package: _version(package) for package in packages},
        **extra,
    }
