"""What runs on an agent's host: takes the agent's launch over stdin, starts it, ends it.

The host-list IML driver (`secmas.pipeline.hosts`) runs `python -m secmas.pipeline.hostlaunch`
on a host through that host's start template (`ssh … {command}`, `ip netns exec h1
{command}`, …) and talks to it over the template's stdin:

1. one JSON line, the handover: the fields of the `secmas agent` command
   (`secmas.pipeline.iml.AgentLaunch`), the bus credentials, and the contents of every
   file the agent reads — the scenario, the bus's CA, the agent's nkey seed, the ledger's
   CA and the one-time enrolment credential;
2. later, a line `kill`: the agent is killed with SIGKILL, as a crash would end it;
3. end of input (the driver stops the run, or its ssh connection drops): the agent is
   terminated (SIGTERM, SIGKILL after a grace period).

Why stdin. A command line is public: any user of the host reads it in `ps` or
`/proc/PID/cmdline`, and over ssh it is also the remote shell's command line (so `env
VAR=secret cmd` leaks the secret on both ends). ssh forwards environment variables only
where the server's `AcceptEnv` allows them, and copying files first (scp, a shared mount)
leaves copies behind to clean up and needs a second channel. The template's stdin is a
private pipe that every exec-style transport carries as is — ssh, `ip netns exec`,
`sudo`, `docker exec -i`, `kubectl exec -i` — and needs no other configuration.

On the host, the files are written into a fresh owner-only directory (0700, files 0600)
under `--dir` (default: the host's temporary directory); the agent is started with their
paths on its command line and its credentials in its environment (`AgentLaunch.env`, as
on one machine), readable only by its user and root. Its PID is announced on the first
line of output (`PID_PREFIX`), its output flows back to the driver, and the directory is
removed when it ends. The agent dies with this process (PR_SET_PDEATHSIG), so an
ssh session torn down by SIGKILL leaves no agent behind either.

Run as root (`ip netns exec` on the emulated network, where the run's measurer attests
the agents), the launcher hands the folder to the agent user and starts the agent as that
user, never as root (`secmas.pipeline.agentuser`: out of the measurer's reach), and says
who on the next line (`USER_PREFIX`, then the user's report as JSON).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType

from secmas.pipeline.agentuser import AgentUser, agent_user
from secmas.pipeline.iml import FILES, AgentLaunch, place
from secmas.processend import end_process
from secmas.trust.allowlist import agent_environment

PID_PREFIX = "secmas-hostlaunch: agent pid "
"""How the first line of output names the agent's PID on its host."""
USER_PREFIX = "secmas-hostlaunch: agent user "
"""How the second line names who the agent runs as (`AgentUser.report`, JSON)."""
KILL = b"kill"
MAX_HANDOVER_BYTES = 32 * 1024 * 1024
"""Largest handover line: a scenario file of the largest size the loader reads, and more."""
STOP_GRACE_S = 5.0
HANDOVER_FORMAT = "secmas.agent-handover/1"
_FIELDS = ("pop", "bus", "pipeline", "ledger", "tamper_at", "bus_auth", "ledger_token")
_PR_SET_PDEATHSIG = 1


class HandoverError(ValueError):
    """A handover line that cannot be used (the message says why)."""


def handover(launch: AgentLaunch) -> bytes:
    """The JSON line that hands `launch` to a host: its fields, its credentials and the
    contents of the files it names (OSError when one cannot be read)."""
    files = {name: path.read_text(encoding="utf-8") for name, path in launch.files().items()}
    fields = {name: getattr(launch, name) for name in _FIELDS}
    message = {"format": HANDOVER_FORMAT, **fields, "files": files}
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def receive(line: bytes, folder: Path) -> AgentLaunch:
    """The launch a handover line describes, its files written into `folder` (each 0600)
    and named by their paths there; HandoverError for anything malformed."""
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise HandoverError(f"the handover is not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("format") != HANDOVER_FORMAT:
        raise HandoverError(f"the handover is not a {HANDOVER_FORMAT} object")
    files = message.get("files")
    if not isinstance(files, dict) or not set(files) <= set(FILES) or "scenario" not in files:
        raise HandoverError(f"the handover's files must be among {sorted(FILES)}, scenario too")
    for name, text in files.items():
        if not isinstance(text, str):
            raise HandoverError(f"the handover's file {name} is not text")
    paths = place({name: text.encode("utf-8") for name, text in files.items()}, folder)
    fields = {name: message.get(name) for name in _FIELDS}
    for name in ("pop", "bus", "pipeline"):
        if not isinstance(fields[name], str) or not fields[name]:
            raise HandoverError(f"the handover's {name} must be a non-empty string")
    for name in ("ledger", "bus_auth", "ledger_token"):
        if fields[name] is not None and not isinstance(fields[name], str):
            raise HandoverError(f"the handover's {name} must be a string or null")
    tamper_at = fields["tamper_at"]
    if tamper_at is not None and not isinstance(tamper_at, int | float):
        raise HandoverError("the handover's tamper_at must be a number or null")
    return replace(AgentLaunch(**fields | {"scenario": paths.pop("scenario")}), **paths)


def _die_with_parent() -> None:
    """In the agent's child before exec: the kernel kills it when this process dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Input:
    """Lines from stdin read with os.read: no buffered reader whose lock a thread still
    waiting on it at exit would hold (Python aborts the interpreter's shutdown then)."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def line(self, limit: int) -> bytes | None:
        """The next line without its newline; None at the end of input or past `limit`."""
        searched = 0
        while (end := self._pending.find(b"\n", searched)) < 0:
            searched = len(self._pending)
            chunk = os.read(0, 1 << 16)
            if not chunk or searched > limit:
                return None
            self._pending += chunk
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return line


def _follow(agent: subprocess.Popen[bytes], orders: _Input) -> None:
    """The driver's orders on stdin: `kill`, or the end of input (stop)."""
    while (line := orders.line(len(KILL) + 64)) is not None:
        if line.strip() == KILL and agent.poll() is None:
            agent.kill()
    end_process(agent, STOP_GRACE_S)


def _run(launch: AgentLaunch, folder: Path, orders: _Input, user: AgentUser) -> int:
    agent = subprocess.Popen(
        user.command(launch.argv(sys.executable)),
        stdin=subprocess.DEVNULL,
        env={**agent_environment(os.environ), **launch.env(), **user.env(folder)},
        cwd=folder,
        preexec_fn=_die_with_parent,
    )

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=end_process, args=(agent, STOP_GRACE_S), daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, on_signal)
    print(f"{PID_PREFIX}{agent.pid}", flush=True)
    print(f"{USER_PREFIX}{json.dumps(user.report())}", flush=True)
    threading.Thread(target=_follow, args=(agent, orders), daemon=True).start()
    code = agent.wait()
    return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it


def main(argv: Sequence[str] | None = None) -> int:
    """Receive one handover on stdin, run its agent, return the agent's exit status."""
    parser = argparse.ArgumentParser(prog="python -m secmas.pipeline.hostlaunch")
    parser.add_argument("--dir", type=Path, default=None, help="where the agent's files go")
    args = parser.parse_args(argv)
    orders = _Input()
    line = orders.line(MAX_HANDOVER_BYTES)
    if line is None:
        print("secmas-hostlaunch: no complete handover line on stdin", file=sys.stderr)
        return 2
    try:
        folder = Path(tempfile.mkdtemp(prefix="secmas-agent-", dir=args.dir))  # mode 0700
    except OSError as exc:
        print(f"secmas-hostlaunch: cannot create the agent's folder: {exc}", file=sys.stderr)
        return 2
    try:
        launch, user = receive(line, folder), agent_user()
        user.give(folder)
        return _run(launch, folder, orders, user)
    except (HandoverError, OSError) as exc:
        print(f"secmas-hostlaunch: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
