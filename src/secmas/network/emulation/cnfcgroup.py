"""The emulated CNF's control group: which processes the CNF is, and their CPU time.

Everything the CNF runs — nginx's master and workers, and whatever an attacker starts
inside it (a CPU hog, a memory leak) — joins one cgroup as it starts, as a container's
processes do; the metrics exporter reads the group's CPU time, as cadvisor does, and its
member list, and the enforcement service finds intruders there. cgroup v1 (the
`cpuacct` hierarchy) and v2 (the unified hierarchy, `cpu.stat`) are both read.

Groups are named `secmas-cnf-<run prefix>`; `remove` kills what is left in the group and
deletes it, and `clean_dead_groups` deletes empty groups that dead runs left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from secmas.network.emulation.errors import EmulationUnavailable
from secmas.network.emulation.namespaces import Namespace

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_PREFIX = "secmas-cnf-"
JOIN = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
"""Shell that moves itself into the group named by $0, then becomes the command."""


def _hierarchy() -> tuple[Path, str]:
    """Where CNF groups go and which CPU file they have: ('cpuacct.usage' in ns, v1) or
    ('cpu.stat' with usage_usec, v2)."""
    v1 = CGROUP_ROOT / "cpuacct"
    if (v1 / "cpuacct.usage").exists():
        return v1, "cpuacct.usage"
    for v2 in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (v2 / "cgroup.procs").exists() and (v2 / "cgroup.controllers").exists():
            return v2, "cpu.stat"
    raise EmulationUnavailable(
        "the emulated CNF needs a writable cgroup hierarchy (cgroup v1 cpuacct or cgroup v2 "
        f"under {CGROUP_ROOT})"
    )


def unavailable() -> str | None:
    """Why this machine cannot give the CNF a cgroup, or None when it can."""
    try:
        root, _ = _hierarchy()
    except EmulationUnavailable as exc:
        return str(exc)
    return None if os.access(root, os.W_OK) else f"{root} is not writable (run as root)"


def parse_cpu_seconds(text: str, file: str) -> float:
    """CPU seconds from `cpuacct.usage` (nanoseconds) or `cpu.stat` (usage_usec)."""
    if file == "cpuacct.usage":
        return int(text.strip()) / 1e9
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise ValueError("cpu.stat has no usage_usec line")


@dataclass(frozen=True, slots=True)
class CNFGroup:
    """One run's CNF cgroup."""

    path: Path
    cpu_file: str

    @classmethod
    def create(cls, prefix: str) -> CNFGroup:
        """A fresh group for the run with this prefix (EmulationUnavailable without one)."""
        root, cpu_file = _hierarchy()
        clean_dead_groups(root)
        path = root / f"{GROUP_PREFIX}{prefix}"
        try:
            path.mkdir()
        except OSError as exc:
            raise EmulationUnavailable(f"cannot create cgroup {path}: {exc.strerror}") from None
        return cls(path, cpu_file)

    def inside(self, namespace: Namespace) -> Namespace:
        """`namespace`, whose processes start in this group: the shell joins the group
        in the root namespaces (a Mininet host's mount namespace has no cgroup tree),
        then enters the namespace; both survive the exec."""
        return GroupedNamespace(namespace.name, namespace.pid, str(self.path))

    def pids(self) -> list[int]:
        """The group's processes now (empty once the group is gone)."""
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def cpu_seconds(self) -> float:
        """CPU time every process of the group used, dead ones included."""
        return parse_cpu_seconds((self.path / self.cpu_file).read_text(), self.cpu_file)

    def remove(self, grace: float = 2.0) -> None:
        """Kill every process left in the group and delete it."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.path.rmdir()
                return
            time.sleep(0.05)


@dataclass(frozen=True, slots=True)
class GroupedNamespace(Namespace):
    """A namespace whose commands start in a cgroup (see `CNFGroup.inside`)."""

    group: str = ""

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["sh", "-c", JOIN, self.group, *Namespace.argv(self, command)]


def clean_dead_groups(root: Path) -> None:
    """Delete CNF groups no process is in any more (a dead run's leftovers)."""
    for path in root.glob(f"{GROUP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if not (path / "cgroup.procs").read_text().strip():
                path.rmdir()
