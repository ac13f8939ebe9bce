"""The record of every emulated run on this machine, so a dead run's leftovers can go.

A run writes `<RUN_DIR>/<prefix>.json` before it creates anything and holds an exclusive
`flock` on `<prefix>.lock` for as long as it lives. The kernel drops the lock when the
process dies however it dies (SIGKILL included), so a record whose lock can be taken
belongs to a dead run: `clean_dead_runs` then kills the processes it recorded (checked by
their start time, so a recycled PID is never hit), deletes every network interface in
the root namespace whose name starts with the run's prefix (bridges, veth ends) and
removes the record, with the names the run gave its namespaces (`/run/netns/<prefix>…`,
which would otherwise keep them alive). Nothing without a record is ever touched, as
`mn -c` would.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from secmas.procstat import read_stat
from secmas.transport.netns import NETNS_DIR

RUN_DIR = Path(os.environ.get("SECMAS_DATAPLANE_RUNS", "/run/secmas-dataplane"))
"""Where `ip netns` keeps named network namespaces."""


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    stat = read_stat(pid)
    return None if stat is None else stat.start_ticks


@dataclass
class RunRecord:
    """What one run created: its prefix, owner and the processes it started."""

    prefix: str
    owner: int
    processes: dict[int, int] = field(default_factory=dict)
    """PID → start time (clock ticks since boot)."""

    def to_json(self) -> str:
        return json.dumps({"prefix": self.prefix, "owner": self.owner, "processes": self.processes})

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        return cls(
            str(data["prefix"]),
            int(data["owner"]),
            {int(pid): int(start) for pid, start in data.get("processes", {}).items()},
        )


class RunRegistration:
    """This process's live record of one run (held until `close`)."""

    def __init__(self, prefix: str, run_dir: Path = RUN_DIR) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.record = RunRecord(prefix, os.getpid())
        self.path = run_dir / f"{prefix}.json"
        self._lock: IO[str] | None = open(run_dir / f"{prefix}.lock", "w")  # noqa: SIM115
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._save()

    def add_process(self, pid: int) -> None:
        """Record a process the run started (killed by a clean if the run dies)."""
        start = process_start(pid)
        if start is not None:
            self.record.processes[pid] = start
            self._save()

    def drop_process(self, pid: int) -> None:
        """The run stopped that process itself."""
        if self.record.processes.pop(pid, None) is not None:
            self._save()

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(self.record.to_json())
        temporary.replace(self.path)

    def close(self) -> None:
        """The run cleaned up after itself: remove the record and release the lock."""
        self.path.unlink(missing_ok=True)
        if self._lock is not None:
            (self.path.parent / f"{self.record.prefix}.lock").unlink(missing_ok=True)
            self._lock.close()
            self._lock = None


def _dead(run_dir: Path, prefix: str) -> bool:
    """Whether the run's owner is gone (its lock can be taken)."""
    try:
        with open(run_dir / f"{prefix}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
    except BlockingIOError:
        return False
    return True


def interfaces_with_prefix(prefix: str) -> list[str]:
    """Network interfaces of the root namespace whose names start with `prefix`."""
    return [name for name in os.listdir("/sys/class/net") if name.startswith(prefix)]


def kill_recorded(processes: dict[int, int]) -> int:
    """SIGKILL every recorded process that is still the one recorded; how many."""
    killed = 0
    for pid, start in processes.items():
        if process_start(pid) == start:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(
        process_start(pid) == start for pid, start in processes.items()
    ):
        time.sleep(0.02)
    return killed


def delete_interfaces(prefix: str) -> list[str]:
    """Delete the root namespace's interfaces named with the run's prefix."""
    deleted = []
    for name in interfaces_with_prefix(prefix):
        done = subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
        if done.returncode == 0:
            deleted.append(name)
    return deleted


def delete_named_namespaces(prefix: str) -> list[str]:
    """Remove the names (`ip netns delete`) the run gave its namespaces."""
    if not NETNS_DIR.is_dir():
        return []
    deleted = []
    for path in sorted(NETNS_DIR.glob(f"{prefix}*")):
        done = subprocess.run(
            ["ip", "netns", "delete", path.name], capture_output=True, check=False
        )
        if done.returncode == 0:
            deleted.append(path.name)
    return deleted


@dataclass(frozen=True)
class Cleaned:
    """What cleaning one dead run removed."""

    prefix: str
    processes: int
    interfaces: list[str]


def clean_dead_runs(run_dir: Path = RUN_DIR) -> list[Cleaned]:
    """Remove what every dead run left behind; live runs are left alone."""
    if not run_dir.is_dir():
        return []
    cleaned = []
    for path in sorted(run_dir.glob("*.json")):
        prefix = path.stem
        if not _dead(run_dir, prefix):
            continue
        try:
            record = RunRecord.from_json(path.read_text())
        except (OSError, ValueError, KeyError):
            record = RunRecord(prefix, 0)
        killed = kill_recorded(record.processes)
        delete_named_namespaces(prefix)
        interfaces = delete_interfaces(prefix)
        path.unlink(missing_ok=True)
        (run_dir / f"{prefix}.lock").unlink(missing_ok=True)
        cleaned.append(Cleaned(prefix, killed, interfaces))
    return cleaned


def live_runs(run_dir: Path = RUN_DIR) -> list[str]:
    """Prefixes of the runs whose owner still lives."""
    if not run_dir.is_dir():
        return []
    return [p.stem for p in sorted(run_dir.glob("*.json")) if not _dead(run_dir, p.stem)]
