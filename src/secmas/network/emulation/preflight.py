"""Whether this machine can build an emulated network, and if not, what is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from secmas.network.emulation.errors import EmulationUnavailable

TOOLS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "nft": "nftables",
    "mnexec": "mininet",
    "brctl": "bridge-utils",
}


def missing() -> list[str]:
    """What this machine lacks for an emulated run (empty when it has everything)."""
    lacking = []
    if os.geteuid() != 0:
        lacking.append("root: network namespaces, veths and nftables need root (run as root)")
    if not Path("/proc/self/ns/net").exists():
        lacking.append("network namespaces: the kernel has no /proc/self/ns/net")
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            lacking.append(
                f"{tool}: install the Debian package {package} (./scripts/setup --emulated)"
            )
    if importlib.util.find_spec("mininet") is None:
        lacking.append(
            "the mininet Python module: install the Debian package mininet and run "
            "./scripts/setup --emulated, which links it into the venv"
        )
    return lacking


def check_machine() -> None:
    """Raise EmulationUnavailable naming everything that is missing."""
    lacking = missing()
    if lacking:
        raise EmulationUnavailable(
            "the emulated data plane cannot run on this machine; missing: " + "; ".join(lacking)
        )
