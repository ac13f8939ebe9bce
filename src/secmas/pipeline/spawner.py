"""Agent processes forked from one that has already loaded them: the spawner.

Every `secmas agent` process used to start a fresh interpreter and import the whole agent
(about a second of CPU before it did anything, more on a busy machine), then measure the
package it had loaded; a hundred agents on two cores spent most of their bring-up there.
The local IML driver now starts one spawner per run instead, as the agent user and with
the agents' environment (`secmas.pipeline.iml.LocalProcesses`): it imports what an agent
imports, freezes those objects out of the garbage collector's way (so that forked children
share their pages rather than copy them), and then forks one child per agent on the
driver's request. A child is a genuine agent process: it sets up its session, log, folder
and environment, and runs `secmas agent` with the launch's arguments in the interpreter it
inherited, exactly the code a fresh one would have loaded.

What an outside measurer sees of a child is what the child started as, the spawner: its
command line (`python -m secmas.pipeline.spawner --run FOLDER`, a shape of its own in
`secmas.trust.allowlist`, with no option that could load code) and its environment, the
allow-listed variables the driver gave it; the launch's secrets reach the child over the
control socket, never a command line or an environment a measurer reads. Everything else
(the interpreter, the mapped files, the modules, the code in memory) is measured in each
child as in any agent process.

A launch that is not `secmas agent` with this interpreter (a test's stand-in for an
adversary, say) is forked the same way and then executes its own command line.

The driver and the spawner speak over a Unix socket pair that keeps message boundaries
(SOCK_SEQPACKET), one JSON object a message: a request carries the launch's command line,
environment and folder with its log file as a passed descriptor; the spawner answers the
child's pid, and later how each child ended. When the driver goes (its end of the socket
closes), the spawner terminates its children and exits; a child whose spawner dies gets
SIGTERM from the kernel (the parent-death signal).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from secmas.trust.allowlist import SPAWNER_MODULE, agent_launch

PRELOADED = (
    "secmas.cli.main",
    "secmas.pipeline.agent_process",
    "secmas.pipeline.mlfo",
    "secmas.scenario.validation",
    "secmas.transport.nats",
    "secmas.trust.enrolment",
    "secmas.trust.sitelist",
)
"""What an agent process imports before it joins: loaded once, by the spawner."""
MESSAGE_BYTES = 1 << 20
"""The largest message either side sends (a request's command line and environment)."""
EXEC_FAILED = 126
"""A child's exit status when it could not run what it was asked to (as a shell's)."""
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_DUMPABLE = 4


class SpawnerError(OSError):
    """The spawner cannot start an agent (it is gone, or refused the request)."""


def spawner_argv(run: Path, python: str = sys.executable) -> list[str]:
    """The spawner's command line (module docstring): `--run` names the run's folder, for
    whoever lists processes (every agent forked from it shows this command line too)."""
    return [python, "-m", SPAWNER_MODULE, "--run", str(run)]


# -- the spawner's side ---------------------------------------------------------------------


def preload() -> None:
    """Import what an agent imports (`PRELOADED`), warm its measurement as an agent warms
    its own (its children's first measurements then cost what changed since, as an agent's
    later ones do: `RuntimeImage.warm`), and keep those objects out of the collector's
    generations, so that children do not copy the pages a collection touches."""
    for name in PRELOADED:
        importlib.import_module(name)
    from secmas.pipeline.agent_process import self_image
    from secmas.trust.sitelist import AllowListError

    try:
        self_image().warm()
    except (AllowListError, OSError) as exc:  # each agent says so, or measures cold
        print(f"{SPAWNER_MODULE}: not measured ahead: {exc}", file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()


class _Stop(Exception):
    """SIGTERM to the spawner: end the children, then itself."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stop


@dataclass
class _Serving:
    """The spawner's state: its socket to the driver, the pipe SIGCHLD wakes it through,
    its children."""

    control: socket.socket
    wake: tuple[int, int] = field(default_factory=os.pipe)
    children: set[int] = field(default_factory=set)

    def run(self) -> None:
        """Answer requests until the driver closes its end (or SIGTERM), then end the
        children."""
        os.set_blocking(self.wake[1], False)
        signal.set_wakeup_fd(self.wake[1])
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, _stop)
        try:
            while True:
                ready, _, _ = select.select([self.control, self.wake[0]], [], [])
                if self.wake[0] in ready:
                    os.read(self.wake[0], 512)
                    self._reap()
                if self.control in ready and not self._answer():
                    break
        except _Stop:
            pass
        finally:
            _end_children(self.children)

    def _answer(self) -> bool:
        """Serve one request; False once the driver has closed its end."""
        data, fds, _, _ = socket.recv_fds(self.control, MESSAGE_BYTES, 1)
        if not data:
            return False
        try:
            request = json.loads(data)
            if not fds:
                raise ValueError("no log file passed with the request")
            pid = self._fork(request, fds[0])
        except (ValueError, KeyError, TypeError, OSError) as exc:
            _send(self.control, {"refused": f"{type(exc).__name__}: {exc}"})
        else:
            self.children.add(pid)
            _send(self.control, {"spawned": pid})
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _fork(self, request: dict[str, Any], log: int) -> int:
        argv = [str(word) for word in request["argv"]]
        env = {str(k): str(v) for k, v in request["env"].items()}
        cwd = request.get("cwd")
        pid = os.fork()
        if pid:
            return pid
        status = EXEC_FAILED
        try:
            self.control.close()
            for fd in self.wake:
                os.close(fd)
            _become_child(log, None if cwd is None else str(cwd))
            if agent_launch().problems(argv):  # not `secmas agent`: its own program
                os.execve(argv[0], argv, {**os.environ, **env})
            os.environ.update(env)
            _name(argv)
            status = _run_agent(argv)
        except BaseException as exc:  # nothing may return into the spawner's loop
            with contextlib.suppress(Exception):
                print(f"{SPAWNER_MODULE}: {argv[0]}: {exc}", file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            with contextlib.suppress(OSError):
                _send(self.control, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})


def _become_child(log: int, cwd: str | None) -> None:
    """A session, a log and a folder of its own; default signal handlers; ended with its
    spawner."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    os.setsid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the spawner ended before the signal was set
        os._exit(128 + signal.SIGTERM)
    _prctl(_PR_SET_DUMPABLE, 1)  # as after an exec: the spawner is not, the agent is
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    if cwd is not None:
        os.chdir(cwd)


def _run_agent(argv: Sequence[str]) -> int:
    """`secmas agent …` in this interpreter, as `python -m secmas` runs it; its exit
    status."""
    from secmas.console import run

    sys.argv = ["secmas", *argv[3:]]
    try:
        run()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _end_children(children: set[int]) -> None:
    """SIGTERM every child left, SIGKILL those still there 5 s later; reap them all."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            children.discard(pid)
        else:
            time.sleep(0.05)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(ctypes.c_ulong(option), ctypes.c_ulong(value), 0, 0, 0) < 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value})")


def _name(argv: Sequence[str]) -> None:
    """Name the process for `ps -o comm` and `top` after the PoP it controls (its command
    line stays the spawner's: a measurer reads that)."""
    if "--pop" in argv[:-1]:
        name = f"agent {argv[argv.index('--pop') + 1]}".encode()[:15]
        libc = ctypes.CDLL(None)
        libc.prctl(ctypes.c_ulong(_PR_SET_NAME), ctypes.c_char_p(name), 0, 0, 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The spawner's process: its control socket is its standard input. Nobody but root
    may read or trace its memory (it is not dumpable): it holds what the driver sent it
    for every agent, and the agents run as its user."""
    parser = argparse.ArgumentParser(prog=f"python -m {SPAWNER_MODULE}")
    parser.add_argument("--run", required=True, help="the run's folder (to be told apart)")
    parser.parse_args(argv)
    _prctl(_PR_SET_DUMPABLE, 0)
    try:
        control = socket.socket(fileno=os.dup(0))
    except OSError:
        control = None
    if control is None or control.type != socket.SOCK_SEQPACKET:
        parser.error(
            "standard input must be the driver's socket: the local IML driver starts the"
            " spawner (secmas.pipeline.iml.LocalProcesses), not a person"
        )
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    preload()
    _Serving(control).run()
    return 0


# -- the driver's side ----------------------------------------------------------------------


@dataclass
class Spawner:
    """The driver's end of a spawner: asks it for children and learns how they ended."""

    control: socket.socket
    process: subprocess.Popen[bytes]
    """The spawner's own process."""
    ended: dict[int, int] = field(default_factory=dict)
    """Each child that ended: its exit status (negative: the signal that ended it)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gone: bool = False

    @classmethod
    def start(cls, command: Sequence[str], env: dict[str, str], cwd: str, log: BinaryIO) -> Spawner:
        """Start a spawner with `command` (`spawner_argv`, perhaps run as another user)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                list(command),
                stdin=theirs,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(ours, process)

    def spawn(
        self, argv: Sequence[str], env: dict[str, str], cwd: str | None, log: BinaryIO
    ) -> int:
        """Start a child running `argv` with `env` added, in `cwd`, writing to `log`; its
        pid. SpawnerError when the spawner is gone or refuses."""
        request = json.dumps({"argv": list(argv), "env": env, "cwd": cwd}).encode()
        with self._lock:
            try:
                socket.send_fds(self.control, [request], [log.fileno()])
                while (message := self._receive(None)) is not None:
                    if "spawned" in message:
                        return int(message["spawned"])
                    if "refused" in message:
                        raise SpawnerError(f"the agent spawner refused: {message['refused']}")
            except SpawnerError:
                raise
            except OSError as exc:
                raise SpawnerError(f"the agent spawner is not answering: {exc}") from None
        raise SpawnerError("the agent spawner has ended (its log says why)")

    def status(self, pid: int, timeout: float | None = 0.0) -> int | None:
        """How child `pid` ended, waiting up to `timeout` seconds for it (None: as long as
        it takes); None while it runs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while pid not in self.ended and not self._gone:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if self._receive(left) is None and left == 0.0:
                    break
            if pid not in self.ended and self._gone:
                _kill_orphan(pid)
                self.ended[pid] = -signal.SIGKILL
            return self.ended.get(pid)

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """One message from the spawner, filing exits; None on timeout or once it is gone."""
        if self._gone:
            return None
        ready, _, _ = select.select([self.control], [], [], timeout)
        if not ready:
            return None
        data = self.control.recv(MESSAGE_BYTES)
        if not data:
            self._gone = True
            return None
        message: dict[str, Any] = json.loads(data)
        if "exited" in message:
            self.ended[int(message["exited"])] = int(message["status"])
        return message

    def close(self, timeout: float) -> None:
        """Close the driver's end (the spawner then ends the children left and exits) and
        wait for the spawner, killing it after `timeout` seconds."""
        with self._lock:
            self.control.close()
            self._gone = True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _kill_orphan(pid: int) -> None:
    """A child whose spawner is gone cannot report its end: it is killed (the kernel's
    parent-death signal asked it to end already), so that its status is known."""
    with contextlib.suppress(OSError):
        fd = os.pidfd_open(pid)
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            select.select([fd], [], [], 5.0)
        finally:
            os.close(fd)


@dataclass
class SpawnedAgent:
    """One child of a spawner as the driver holds it, with what `subprocess.Popen` offers
    a driver (`pid`, `returncode`, `poll`, `wait`, signals). Signals go through a pidfd
    taken at the start: never to another process that got the pid once this one ended."""

    pid: int
    spawner: Spawner
    returncode: int | None = None
    _pidfd: int | None = None

    def __post_init__(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._pidfd = os.pidfd_open(self.pid)

    def poll(self) -> int | None:
        return self.wait_for(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self.wait_for(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"agent process {self.pid}", timeout or 0.0)
        return code

    def wait_for(self, timeout: float | None) -> int | None:
        """Its exit status, waiting up to `timeout` seconds; None while it runs."""
        if self.returncode is None:
            self.returncode = self.spawner.status(self.pid, timeout)
            if self.returncode is not None and self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None and self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
