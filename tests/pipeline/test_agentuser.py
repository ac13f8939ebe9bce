"""The user agent processes run as: who, whether it reaches what it runs, and what a
process that became it can and cannot do (real processes; the drop needs root)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from secmas.pipeline.agentuser import (
    AGENT_USER,
    AgentUser,
    AgentUserError,
    agent_user,
    runtime_paths,
    unreachable,
)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only root becomes another user")

STATUS = """\
import ctypes, json, sys
from pathlib import Path
fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
signal = ctypes.c_int(0)
ctypes.CDLL(None).prctl(2, ctypes.byref(signal))  # PR_GET_PDEATHSIG
try:
    Path(sys.argv[1]).read_bytes()
    read = "read"
except OSError as exc:
    read = exc.strerror
try:
    Path(sys.argv[1]).write_bytes(b"changed")
    wrote = "wrote"
except OSError as exc:
    wrote = exc.strerror
print(json.dumps({
    "uid": fields["Uid"].split()[0], "groups": fields["Groups"].split(),
    "effective": fields["CapEff"].strip(), "ambient": fields["CapAmb"].strip(),
    "no_new_privs": fields["NoNewPrivs"].strip(), "pdeathsig": signal.value,
    "read": read, "wrote": wrote,
}))
"""


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A new folder any user may search, in the temporary directory (pytest's own are
    its user's only)."""
    folder = Path(tempfile.mkdtemp(prefix="secmas-test-"))
    folder.chmod(0o755)
    stranger = os.getuid() + 4242
    if unreachable([folder], stranger, stranger) is not None:
        pytest.skip(f"the temporary directory {folder.parent} is not for every user")
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_path_behind_a_folder_others_may_not_search_is_out_of_reach(open_folder: Path) -> None:
    private = open_folder / "private"
    (private / "lib").mkdir(parents=True)
    (private / "lib" / "module.py").write_text("")
    private.chmod(0o700)
    stranger = os.getuid() + 4242
    assert unreachable([private / "lib" / "module.py"], stranger, stranger) == (
        f"{private / 'lib' / 'module.py'} is out of reach of {AGENT_USER}: "
        f"{private} is not searchable"
    )
    private.chmod(0o711)  # searchable, not listable: a name known is reached
    assert unreachable([private / "lib" / "module.py"], stranger, stranger) is None
    (private / "lib" / "module.py").chmod(0o600)
    assert "not readable" in str(unreachable([private / "lib" / "module.py"], stranger, stranger))
    owner = private.stat().st_uid
    assert unreachable([private / "lib" / "module.py"], owner, stranger) is None


def test_the_runtime_an_agent_reads_includes_its_interpreter_and_secmas() -> None:
    import secmas

    found = runtime_paths()
    assert Path(sys.executable) in found and Path(secmas.__file__).parent in found


def test_a_separated_user_wraps_the_command_and_an_unseparated_one_does_not() -> None:
    argv = ["py", "-m", "secmas", "agent"]
    same = AgentUser("alice", 1000, 1000, separated=False, why="not root")
    assert same.command(argv) == argv and same.env(Path("/x")) == {}
    other = AgentUser(AGENT_USER, 999, 995, separated=True, why="reads")
    drop = [sys.executable, "-m", "secmas.pipeline.agentuser", "--uid", "999", "--gid", "995"]
    assert other.command(argv) == [*drop, "--", *argv]
    assert other.env(Path("/seat")) == {"HOME": "/seat"}
    assert "not as root: reads" in other.said() and "measurer's user" in same.said()


def test_this_hosts_agent_user_is_another_user_exactly_when_root() -> None:
    user = agent_user()
    assert user.separated == (os.geteuid() == 0)
    assert user.report()["separated"] == user.separated and user.report()["why"]
    if user.separated:
        assert (user.name, user.uid != 0) == (AGENT_USER, True)


def _became(
    user: AgentUser,
    target: Path,
    python: str = sys.executable,
    preexec: Callable[[], None] | None = None,
) -> dict[str, object]:
    """What a process started as `user` (through its command) sees of itself, and whether
    it could read and write `target`."""
    argv = user.command([python, "-c", STATUS, str(target)])
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=True, preexec_fn=preexec
    )
    return json.loads(done.stdout)


@ROOT_ONLY
def test_a_process_that_became_the_agent_user_holds_no_privilege_of_roots(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "measurer-key.pem"
    secret.write_bytes(b"root's")
    secret.chmod(0o600)
    user = agent_user()
    seen = _became(user, secret)
    assert seen["uid"] == str(user.uid) and seen["groups"] == []
    assert seen["no_new_privs"] == "1"
    assert (seen["effective"], seen["ambient"]) == (f"{0:016x}", f"{0:016x}")
    assert seen["read"] == "Permission denied"
    assert seen["wrote"] == "Permission denied" and secret.read_bytes() == b"root's"


@ROOT_ONLY
def test_a_parent_death_signal_set_by_a_launcher_survives_the_drop(tmp_path: Path) -> None:
    def die_with_parent() -> None:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG, as hostlaunch does

    seen = _became(agent_user(), tmp_path / "absent", preexec=die_with_parent)
    assert seen["pdeathsig"] == signal.SIGKILL


@ROOT_ONLY
def test_a_seat_the_agent_user_cannot_reach_is_refused(tmp_path: Path) -> None:
    seat = tmp_path / "seat"
    seat.mkdir()
    tmp_path.chmod(0o700)  # root's, and nobody else may search it
    stranger = AgentUser(AGENT_USER, 4242, 4242, separated=True, why="")
    with pytest.raises(AgentUserError, match=r"the agent's folder: .* is not searchable"):
        stranger.give(seat)
