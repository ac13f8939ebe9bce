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

The agent must read the interpreter, the packages and the secmas source it runs. Where
any of them lies under a folder out of the agent user's reach (a pyenv interpreter or a
checkout under /root, mode 0700, as on a fresh `git clone` there), the launcher gives the
agent a view of the host's files of its own in which exactly those are reachable
(`secmas.pipeline.agentview`); it never keeps a capability to read past the mode bits.
Where the host cannot make that view, agents are not started: the run is refused, naming
the path and the fix (install them outside /root, or run without root).

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

from secmas.pipeline.agentview import allowed, expose

AGENT_USER = "secmas-agent"
_MODULE = "secmas.pipeline.agentuser"
_PR_GET_PDEATHSIG = 2
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PROBE = "import secmas.pipeline.agent_process"
"""What a probe of the agent's view imports: what every agent process loads first."""


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

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run as this user: through this module's drop, then exec (module
        docstring); unchanged when not separated."""
        if not self.separated:
            return list(argv)
        drop = [sys.executable, "-m", _MODULE, "--uid", str(self.uid), "--gid", str(self.gid)]
        return [*drop, "--", *argv]

    def give(self, folder: Path) -> None:
        """Make `folder` and the files in it this user's (its seat: its copies of the files
        it reads, the one-time credential it removes once read); AgentUserError when the
        user could still not reach it (a parent folder it may not search)."""
        if not self.separated:
            return
        for path in (folder, *folder.iterdir()):
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        blocked = unreachable([folder], self.uid, self.gid)
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
            "why": self.why,
        }

    def said(self) -> str:
        """One line for the run's output."""
        if not self.separated:
            return f"agents run as {self.name}, the measurer's user: {self.why}"
        return f"agents run as {self.name} (uid {self.uid}), not as root: {self.why}"


@functools.cache
def agent_user() -> AgentUser:
    """This host's agent user (module docstring), made once per process; AgentUserError
    when its runtime is out of its reach and no view of its own can be made for it."""
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
    why = f"{blocked}: each agent sees only its runtime there, in a view of its own"
    user = AgentUser(AGENT_USER, entry.pw_uid, entry.pw_gid, True, why)
    _probe(user, blocked)
    return user


def _probe(user: AgentUser, blocked: str) -> None:
    """Start a process as `user` that loads what an agent loads first; AgentUserError
    naming `blocked` and the fix when it cannot (no view of its own can be made here)."""
    argv = user.command([sys.executable, "-c", _PROBE])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
        complaint = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        if done.returncode == 0:
            return
    except (OSError, subprocess.TimeoutExpired) as exc:
        complaint = str(exc)
    raise AgentUserError(
        f"{blocked}, and an agent cannot be given a view of its own here ({complaint}): "
        f"install the interpreter and secmas where {AGENT_USER} may read them (outside "
        "/root, e.g. under /opt), or run without root"
    )


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
    """What an agent process reads to run: the interpreter (its folder, where it links
    to, its shared library), the standard library and its extension modules, the
    installed packages, the secmas package itself and the rest of the import path
    (what `.pth` files add) but its first entry (the folder of the script, or the
    working folder: the agent's own)."""
    import secmas

    paths = sysconfig.get_paths()
    dynload = Path(paths["platstdlib"]) / "lib-dynload"
    package = Path(secmas.__file__).parent
    interpreter = Path(sys.executable)
    found = [interpreter.parent, interpreter, interpreter.resolve().parent]
    found.append(Path(sys.prefix) / "pyvenv.cfg")
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir, soname = (sysconfig.get_config_var(v) for v in ("LIBDIR", "INSTSONAME"))
        found.append(Path(str(libdir)) / str(soname))
    found += [Path(paths["stdlib"]), dynload, Path(paths["purelib"]), Path(paths["platlib"])]
    found.append(package)
    found += [Path(entry) for entry in sys.path[1:] if entry]
    return list(dict.fromkeys(p for p in found if p.exists()))


def unreachable(paths: Iterable[Path], uid: int, gid: int) -> str | None:
    """Why user `uid` (group `gid`, no other) cannot read one of `paths` by their mode
    bits — a folder on the way it may not search, or the path it may not read — or None
    when it can read them all."""
    for path in paths:
        real = path.resolve()
        for folder in reversed(real.parents):
            if not allowed(folder.stat(), uid, gid, stat.S_IXOTH):
                return f"{real} is out of reach of {AGENT_USER}: {folder} is not searchable"
        status = real.stat()
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(status.st_mode) else 0)
        if not allowed(status, uid, gid, need):
            return f"{real} is out of reach of {AGENT_USER}: not readable"
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def become(uid: int, gid: int) -> None:
    """Turn this (single-threaded, root) process into user `uid`, group `gid` and no other
    group, with no capability and no new privileges; the parent-death signal a launcher
    set is set again (the kernel clears it on a change of credentials). AgentUserError
    when a step fails."""
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
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise AgentUserError(f"cannot become uid {uid}, gid {gid}: {exc}") from None
    prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if signal.value:
        prctl(_PR_SET_PDEATHSIG, signal.value)
        if os.getppid() != parent:  # the launcher died before: as the signal would
            os._exit(128 + signal.value)


def see_runtime(uid: int, gid: int) -> None:
    """Make the runtime this interpreter runs reachable by user `uid` (`agentview`);
    AgentUserError naming what is still out of its reach."""
    paths = runtime_paths()
    expose(paths, uid, gid)
    blocked = unreachable(paths, uid, gid)
    if blocked is not None:
        raise AgentUserError(blocked)


def main(argv: Sequence[str] | None = None) -> int:
    """See the runtime, become the agent user, then exec the command after `--` (never
    returns then)."""
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- ARGV...")
    args = parser.parse_args(argv)
    if args.command[:1] != ["--"] or len(args.command) < 2:
        parser.error("expected -- and the command to run after the options")
    command = args.command[1:]
    try:
        see_runtime(args.uid, args.gid)
        become(args.uid, args.gid)
        os.execv(command[0], command)
    except OSError as exc:
        print(f"{_MODULE}: {command[0]}: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main())
