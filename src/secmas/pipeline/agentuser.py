"""The user agent processes run as: not the measurer's.

The host's measurer signs what it reads of an agent's process; whoever holds its key, or
its memory, or its socket, signs in its name, and an implanted agent that can do so passes
every check. Root can do all three, so an IML driver running as root never starts an agent
as root: it starts each one as `secmas-agent`, a system user created on demand
(`useradd --system`, no home, no login shell). A user of the project's own, rather than a
fixed number: the system range is allocated to services, so the uid is nobody's account
(10001, which the agent image uses inside its containers, is in the range `adduser` gives
people on a host), and `ps` and audit logs name it. As that user an agent can neither
read nor trace root's processes (the measurer, the driver that holds its key), nor
connect to the measurer's socket (0600, root's), nor signal them, nor write the files
that root's processes run; it keeps no capability and no new privileges across exec
(no_new_privs).

The drop happens in the agent's own process before the agent runs
(`python -m secmas.pipeline.agentuser --uid U --gid G -- ARGV…`, then exec): groups,
gid, uid, then, where needed, one capability kept in the ambient set; done there, not in
the driver, because a driver has threads and a forked child of a threaded process may run
no Python (preexec_fn) safely.

That one capability: the agent must read the interpreter, the packages and the secmas
source it runs. Where any of them is out of the agent user's reach (a checkout or a
pyenv interpreter under /root, mode 0700, as on a fresh `git clone` there), the agent
keeps CAP_DAC_READ_SEARCH: it reads every file of the host, and writes, signals and
traces nothing of root's. The measurer's key is never in a file (it reaches the measurer
over a pipe, `secmas.trust.measurer_service`), so that is still out of its reach; the
run's other secrets on disk are not. The run's report says which (`report`); installing
under a folder others may search (/opt, /srv) makes it unnecessary.

A driver that is not root (a user's laptop) cannot start a process as anyone else: agents
run as its user, which is the measurer's, and the report says so (`separated: false`).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

AGENT_USER = "secmas-agent"
_MODULE = "secmas.pipeline.agentuser"
_CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_GET_PDEATHSIG = 2
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2


class AgentUserError(OSError):
    """The agent user cannot be found, made or become (the message says why)."""


@dataclass(frozen=True)
class AgentUser:
    """Who the agent processes of this host run as, and why."""

    name: str
    uid: int
    gid: int
    separated: bool
    """Another user than the driver's (and the measurer's)."""
    why: str
    reads_all: bool = False
    """Kept CAP_DAC_READ_SEARCH: its interpreter or packages are out of its reach."""

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run as this user: through this module's drop, then exec (module
        docstring); unchanged when not separated."""
        if not self.separated:
            return list(argv)
        drop = [sys.executable, "-m", _MODULE, "--uid", str(self.uid), "--gid", str(self.gid)]
        return [*drop, *(["--read-all"] if self.reads_all else []), "--", *argv]

    def give(self, folder: Path) -> None:
        """Make `folder` and the files in it this user's (its seat: its copies of the files
        it reads, the one-time credential it removes once read); AgentUserError when the
        user could still not reach it (a parent folder it may not search)."""
        if not self.separated:
            return
        for path in (folder, *folder.iterdir()):
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        blocked = None if self.reads_all else unreachable([folder], self.uid, self.gid)
        if blocked is not None:
            raise AgentUserError(f"the agent's folder: {blocked}")

    def env(self, folder: Path) -> dict[str, str]:
        """What the agent's environment changes: its home is its seat (root's is not its
        to write)."""
        return {"HOME": str(folder)} if self.separated else {}

    def report(self) -> dict[str, object]:
        """What the run's report says (report.json: the IML step's `agent_user`)."""
        return {
            "user": self.name,
            "uid": self.uid,
            "separated": self.separated,
            "reads_all_files": self.reads_all,
            "why": self.why,
        }

    def said(self) -> str:
        """One line for the run's output."""
        if not self.separated:
            return f"agents run as {self.name}, the measurer's user: {self.why}"
        return f"agents run as {self.name} (uid {self.uid}), not as root: {self.why}"


@functools.cache
def agent_user() -> AgentUser:
    """This host's agent user (module docstring), made once per process."""
    uid = os.geteuid()
    if uid != 0:
        name = _user_name(uid)
        why = "not root: a driver can start a process only as its own user"
        return AgentUser(name, uid, os.getegid(), False, why)
    try:
        entry = system_user(AGENT_USER)
    except AgentUserError as exc:
        return AgentUser("root", 0, 0, False, str(exc))
    blocked = unreachable(runtime_paths(), entry.pw_uid, entry.pw_gid)
    if blocked is None:
        why = "the measurer runs as root; the agents reach only what any user may"
        return AgentUser(AGENT_USER, entry.pw_uid, entry.pw_gid, True, why)
    why = f"{blocked}, so it keeps CAP_DAC_READ_SEARCH (it reads every file, writes none)"
    return AgentUser(AGENT_USER, entry.pw_uid, entry.pw_gid, True, why, reads_all=True)


def system_user(name: str) -> pwd.struct_passwd:
    """The system user `name`, created (with a group of its own) when missing;
    AgentUserError naming useradd's complaint when it cannot be."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    argv = [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent"]
    argv += ["--shell", shell, "--user-group", "--comment", "secmas agents", name]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        complaint = done.stderr.strip() or f"exit status {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        complaint = str(exc)
    try:  # made here, or by a concurrent run (useradd then says it exists)
        return pwd.getpwnam(name)
    except KeyError:
        raise AgentUserError(f"cannot create the system user {name}: {complaint}") from None


def runtime_paths() -> list[Path]:
    """What an agent process reads to run: the interpreter, the standard library and its
    extension modules, the installed packages and the secmas package itself."""
    import secmas

    paths = sysconfig.get_paths()
    dynload = Path(paths["platstdlib"]) / "lib-dynload"
    package = Path(secmas.__file__).parent
    interpreter = Path(sys.executable)
    found = [interpreter.parent, interpreter, Path(sys.prefix) / "pyvenv.cfg"]
    found += [Path(paths["stdlib"]), dynload, Path(paths["purelib"]), Path(paths["platlib"])]
    found.append(package)
    return [p for p in found if p.exists()]


def unreachable(paths: Iterable[Path], uid: int, gid: int) -> str | None:
    """Why user `uid` (group `gid`, no other) cannot read one of `paths` by their mode
    bits — a folder on the way it may not search, or the path it may not read — or None
    when it can read them all."""
    for path in paths:
        real = path.resolve()
        for folder in reversed(real.parents):
            if not _allowed(folder.stat(), uid, gid, stat.S_IXOTH):
                return f"{real} is out of reach of {AGENT_USER}: {folder} is not searchable"
        status = real.stat()
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(status.st_mode) else 0)
        if not _allowed(status, uid, gid, need):
            return f"{real} is out of reach of {AGENT_USER}: not readable"
    return None


def _allowed(status: os.stat_result, uid: int, gid: int, need: int) -> bool:
    """Whether the mode bits give `uid`/`gid` `need` (as the others' bits: r=4, x=1)."""
    if status.st_uid == uid:
        shift = 6
    elif status.st_gid == gid:
        shift = 3
    else:
        shift = 0
    return (status.st_mode >> shift) & need == need


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def become(uid: int, gid: int, *, read_all: bool = False) -> None:
    """Turn this (single-threaded, root) process into user `uid`, group `gid` and no other
    group, with no capability but CAP_DAC_READ_SEARCH when `read_all` (then ambient, so
    that it survives exec), no new privileges; the parent-death signal a launcher set is
    set again (the kernel clears it on a change of credentials). AgentUserError when a
    step fails."""
    libc = ctypes.CDLL(None, use_errno=True)

    def prctl(*args: int) -> int:
        result = int(libc.prctl(*(ctypes.c_ulong(a) for a in args)))
        if result < 0:
            error = ctypes.get_errno()
            raise AgentUserError(error, f"prctl{args}: {os.strerror(error)}")
        return result

    signal = ctypes.c_int(0)
    libc.prctl(_PR_GET_PDEATHSIG, ctypes.byref(signal))
    parent = os.getppid()
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        if read_all:
            prctl(_PR_SET_KEEPCAPS, 1)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise AgentUserError(f"cannot become uid {uid}, gid {gid}: {exc}") from None
    if read_all:
        bit = 1 << _CAP_DAC_READ_SEARCH
        data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        if libc.capset(ctypes.byref(header), data) != 0:
            error = ctypes.get_errno()
            raise AgentUserError(error, f"capset: {os.strerror(error)}")
        prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH, 0, 0)
    prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if signal.value:
        prctl(_PR_SET_PDEATHSIG, signal.value)
        if os.getppid() != parent:  # the launcher died before: as the signal would
            os._exit(128 + signal.value)


def main(argv: Sequence[str] | None = None) -> int:
    """Become the agent user, then exec the command after `--` (never returns then)."""
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--read-all", action="store_true", help="keep CAP_DAC_READ_SEARCH")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- ARGV...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    try:
        become(args.uid, args.gid, read_all=args.read_all)
        os.execv(command[0], command)
    except OSError as exc:
        print(f"{_MODULE}: {command[0]}: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main())
