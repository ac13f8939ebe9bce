"""An agent process that reads the host's secrets.

Run as root, the local IML driver starts every agent as the agent user
(`secmas.pipeline.agentuser`), which must read the interpreter, its libraries and secmas
to run at all. Where those lie under a folder only root may search (a pyenv build or a
checkout under /root), it once kept CAP_DAC_READ_SEARCH to reach them, and with it read
every file of the host: /etc/shadow, the SECaaS signing key, and so signed in SECaaS's
name. Here an agent started as the driver starts it, with the interpreter as it is and
with one whose whole runtime lies in a folder of root's (mode 0700), tries to read those
files and a file beside that interpreter it has no need of: each must be refused. The
launcher itself no longer offers to keep the capability.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.security.test_measurer_out_of_reach import Scripted

import secmas
from secmas.pipeline.agentuser import agent_user
from secmas.pipeline.iml import LocalProcesses
from secmas.trust.keys import default_key_path, signing_key

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="agents run as a user of their own only when the IML driver is root",
)

READER = """\
import json, sys
from pathlib import Path
tried = {}
for path in sys.argv[1:]:
    try:
        tried[path] = f"read {len(Path(path).read_bytes())} bytes"
    except OSError as exc:
        tried[path] = type(exc).__name__
print("READ " + json.dumps(tried), flush=True)
"""

DRIVER = """\
import sys, time
from dataclasses import dataclass
from pathlib import Path
from secmas.pipeline.iml import AgentLaunch, LocalProcesses

@dataclass(frozen=True)
class Scripted(AgentLaunch):
    script: str = ""
    args: tuple[str, ...] = ()

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-c", self.script, *self.args]

work = Path(sys.argv[1])
scenario = work / "scenario.yaml"
scenario.write_text("id: unused\\n")
driver = LocalProcesses(work)
launch = Scripted("pop1", scenario, "nats://127.0.0.1:1", "p", script=sys.argv[2],
                  args=tuple(sys.argv[3:]))
driver.start(launch)
try:
    driver.procs["pop1"].wait(120)
    print(driver.log_tail("pop1", 1 << 20))
finally:
    driver.stop_all()
"""

REFUSED = {"PermissionError", "FileNotFoundError"}
"""How a read is refused: denied, or not there at all (a folder of root's the agent does
not need is hidden from it)."""


def _secrets() -> list[Path]:
    """The host's secrets an agent must not read: the password hashes, the SECaaS key
    (made, as a first run makes it, where there is none yet)."""
    signing_key(default_key_path())
    found = [Path("/etc/shadow"), default_key_path()]
    for path in found:
        assert path.read_bytes(), f"{path}: nothing to steal, the test would prove nothing"
    return found


def _read(log: str) -> dict[str, str]:
    lines = [line for line in log.splitlines() if line.startswith("READ ")]
    assert lines, f"the agent process reported nothing: {log[-3000:]}"
    return dict(json.loads(lines[-1].removeprefix("READ ")))


@pytest.fixture
def root_folder() -> Iterator[Path]:
    """A folder of root's that nobody else may search, in the temporary directory."""
    with tempfile.TemporaryDirectory(prefix="secmas-private-") as name:
        folder = Path(name)
        folder.chmod(0o700)
        yield folder


def _private_runtime(folder: Path) -> Path:
    """A Python environment with secmas and its dependencies, all reached through
    `folder` only: a copied interpreter, and the packages on its path through links
    inside it. Its interpreter."""
    venv = folder / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run(
        [base, "-m", "venv", "--copies", "--without-pip", str(venv)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    (folder / "site").symlink_to(sysconfig.get_paths()["purelib"])
    (folder / "src").symlink_to(Path(secmas.__file__).parent.parent)
    (Path(purelib) / "secmas-test.pth").write_text(f"{folder / 'src'}\n{folder / 'site'}\n")
    return python


@ROOT_ONLY
def test_an_agent_reads_no_secret_of_the_host(tmp_path: Path) -> None:
    secrets = _secrets()
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("id: unused\n")
    driver = LocalProcesses(tmp_path)
    args = tuple(str(p) for p in secrets)
    try:
        launch = Scripted("pop1", scenario, "nats://b:1", "p", script=READER, args=args)
        driver.start(launch)
        driver.procs["pop1"].wait(120)
        tried = _read(driver.log_tail("pop1", 1 << 20))
    finally:
        driver.stop_all()
    assert driver.user.separated
    assert all(tried[path] in REFUSED for path in args), tried


def _mount_namespaces() -> bool:
    """Whether this host lets root make a mount namespace (a container without
    CAP_SYS_ADMIN does not: there the run is refused, tested below)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    done = subprocess.run([unshare, "--mount", "true"], capture_output=True, timeout=60)
    return done.returncode == 0


@ROOT_ONLY
@pytest.mark.skipif(not _mount_namespaces(), reason="no mount namespaces here")
def test_an_agent_whose_interpreter_lies_in_a_folder_of_roots_reads_no_secret(
    tmp_path: Path, root_folder: Path
) -> None:
    secrets = _secrets()
    beside = root_folder / "secret.pem"  # readable by all, in a folder only root searches
    beside.write_text("root's\n")
    beside.chmod(0o644)
    python = _private_runtime(root_folder)
    args = [str(p) for p in (*secrets, beside)]
    started = time.monotonic()
    done = subprocess.run(
        [python, "-c", DRIVER, str(tmp_path), READER, *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    tried = _read(done.stdout)
    refused = {path: how for path, how in tried.items() if how in REFUSED}
    assert refused == tried, f"the agent read what it must not: {tried}"
    assert tried["/etc/shadow"] == "PermissionError"
    assert time.monotonic() - started < 120


@ROOT_ONLY
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_a_run_whose_agents_cannot_be_given_a_view_of_their_own_is_refused(
    tmp_path: Path, root_folder: Path
) -> None:
    """Where the host may not make mount namespaces (here: root without CAP_SYS_ADMIN,
    as in many containers), a run with agents as processes stops before any agent
    starts, naming the path out of reach and the fix."""
    python = _private_runtime(root_folder)
    no_mounts = ["setpriv", "--bounding-set", "-sys_admin", "--"]
    run = [python, "-m", "secmas", "demo", "--processes", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [*no_mounts, *run], capture_output=True, text=True, timeout=300, check=False
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said[-3000:]
    assert f"{root_folder} is not searchable" in said and "outside /root" in said, said[-3000:]


@ROOT_ONLY
def test_the_launcher_keeps_no_capability_to_read_everything() -> None:
    user = agent_user()
    reader = [sys.executable, "-c", READER, "/etc/shadow"]
    launcher = [sys.executable, "-m", "secmas.pipeline.agentuser"]
    ids = ["--uid", str(user.uid), "--gid", str(user.gid)]
    done = subprocess.run(
        [*launcher, *ids, "--read-all", "--", *reader],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--read-all" in done.stderr, done.stdout + done.stderr
    assert "READ" not in done.stdout
