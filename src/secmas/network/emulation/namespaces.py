"""Commands and processes inside one namespace of the emulated network (via `mnexec -a`).

Processes started here get PR_SET_PDEATHSIG = SIGKILL: if the run's process dies, even by
SIGKILL, the kernel kills them too, and with them the last holders of the namespaces.
They must be started from the thread that runs the event loop (the death signal follows
the thread that forked).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from secmas.network.emulation.errors import EmulationFailed

PR_SET_PDEATHSIG = 1


class CommandFailed(EmulationFailed):
    """A command in a namespace exited non-zero; the text has its stderr."""


def netns_inode(pid: int) -> int:
    """The inode of the network namespace process `pid` is in: two processes share a
    namespace exactly when theirs are equal."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Namespace:
    """A Mininet node's network namespace, reached through the PID of its shell."""

    name: str
    pid: int

    def argv(self, command: Sequence[str]) -> list[str]:
        """`command` run inside this namespace."""
        return ["mnexec", "-a", str(self.pid), *command]

    def run(self, command: Sequence[str], stdin: str | None = None) -> str:
        """Run to completion; its stdout, or CommandFailed with its stderr."""
        done = subprocess.run(
            self.argv(command), input=stdin, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise CommandFailed(
                f"{self.name}: {' '.join(command)[:120]}: {done.stderr.strip()[:400]}"
            )
        return done.stdout

    async def run_async(self, command: Sequence[str], stdin: str | None = None) -> str:
        """Like `run`, without blocking the event loop."""
        process = await asyncio.create_subprocess_exec(
            *self.argv(command),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate(None if stdin is None else stdin.encode())
        if process.returncode != 0:
            raise CommandFailed(f"{self.name}: {' '.join(command)[:120]}: {err.decode()[:400]}")
        return out.decode()

    def nft(self, script: str) -> str:
        """Load an nftables script (`nft -f -`); with `--echo --handle` its output names
        the handles of the rules it added."""
        return self.run(["nft", "--echo", "--handle", "-f", "-"], stdin=script)

    def spawn(self, command: Sequence[str], log: str | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process here that dies with this one."""
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            return subprocess.Popen(
                self.argv(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
