"""An agent process that reaches into the host's measurer.

The host's measurer signs what it reads of an agent's process; its verdict is worth
something only while no agent can sign in its name. Here an agent process, started by the
local IML driver as every agent is (`LocalProcesses.start`: its user, environment, folder),
runs the adversary's code instead of `secmas agent`: it looks for the measurer (its
command line is public), tries to take its key (the file named on that command line, the
measurer's memory, the pipe it was handed the key on), to read the driver's memory, and to
have the measurer sign evidence of its choosing over its socket. With the key it measures
itself while still clean, signs that for the verifier's nonce, then maps a
writable-and-executable page and patches a byte of libc. The run's measurer, asked by the
verifier, must see the implant; what the agent signed itself must never pass. A genuine
agent started the same way still passes.

Beside it: the measurer keeps no key file and answers only the driver that started it,
whoever else reaches its socket; agents as containers mount nothing of theirs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.security.test_measurement_external import LIBC_PATCH

import secmas
from secmas.pipeline.iml import AgentLaunch, LocalProcesses
from secmas.trust.measurer import (
    NONCE_BYTES,
    Expectation,
    MeasurerAppraisal,
    SignedEvidence,
    appraise,
    module_digests,
)
from secmas.trust.measurer_probe import platform_reference
from secmas.trust.measurer_service import ExternalVerifier, HostMeasurer
from secmas.trust.wrap import wrap

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="agents run as a user of their own only when the IML driver is root",
)

ATTACKER = (
    r"""
import ctypes, json, mmap, os, signal, socket, sys
from pathlib import Path
import secmas.pipeline.agent_process  # loaded as in a genuine agent
from secmas.trust.keys import load_private_key
from secmas.trust.measurer_probe import Measurer

nonce = bytes.fromhex(sys.argv[1])
tried = {}


def measurer():
    for proc in Path("/proc").iterdir():
        try:
            argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0")[:-1]]
        except OSError:
            continue
        if "secmas.trust.measurer_service" in argv:
            return int(proc.name), argv
    raise SystemExit("no measurer found")


def option(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def first_page(pid):
    with open(f"/proc/{pid}/maps") as maps:
        start = int(next(line for line in maps if " r" in line).split("-")[0], 16)
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        mem.seek(start)
        return len(mem.read(4096))


pid, argv = measurer()
key = None
try:
    named = option(argv, "--key-file")
    sock = Path(option(argv, "--socket"))
    candidates = [Path(named)] if named not in (None, "-") else []
    found = [p for p in [*candidates, *sock.parent.glob("*.pem")] if p.is_file()]
    if not found:
        raise FileNotFoundError("no key file on its command line or beside its socket")
    key_file = found[0]
    key = load_private_key(key_file)
    tried["key file"] = f"read {key_file}"
except Exception as exc:
    tried["key file"] = f"denied: {exc!r}"
for name, what in (("measurer memory", pid), ("driver memory", os.getppid())):
    try:
        tried[name] = f"read {first_page(what)} bytes"
    except Exception as exc:
        tried[name] = f"denied: {exc!r}"
try:
    with open(f"/proc/{pid}/fd/0", "rb") as handed:
        tried["measurer stdin"] = f"read {len(handed.read(1))} bytes"
except Exception as exc:
    tried["measurer stdin"] = f"denied: {exc!r}"
try:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(60)
        conn.connect(option(argv, "--socket"))
        conn.sendall(json.dumps({"pid": os.getpid(), "nonce": "ab" * 32}).encode() + b"\n")
        answer = conn.makefile("rb").readline()
    tried["socket"] = "signed" if b'"signature"' in answer else f"denied: {answer[:120]!r}"
except Exception as exc:
    tried["socket"] = f"denied: {exc!r}"

evidence = None
if key is not None:  # clean now: measured and signed in the measurer's name, kept
    evidence = Measurer(option(argv, "--name"), key, ("secmas",)).measure(os.getpid(), nonce)
prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
implant = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE, prot=prot)
implant.write(b"\x90" * 15 + b"\xc3")
"""
    + LIBC_PATCH
    + r"""
report = {"tried": tried, "evidence": evidence and evidence.encode().decode()}
print("ATTACK " + json.dumps(report), flush=True)
signal.pause()
"""
)

GENUINE = r"""
import signal
import secmas.pipeline.agent_process
print("ATTACK {}", flush=True)
signal.pause()
"""


@dataclass(frozen=True)
class Scripted(AgentLaunch):
    """An agent's launch whose process runs `script` in place of `secmas agent`: what an
    adversary who took over the agent's code runs, with all the agent's privileges."""

    script: str = ""
    args: tuple[str, ...] = ()

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-c", self.script, *self.args]


@dataclass
class Host:
    """The run's side: the host's measurer, a verifier of it, the local IML driver."""

    measurer: HostMeasurer
    verifier: ExternalVerifier
    driver: LocalProcesses
    scenario: Path

    def start(self, pop: str, script: str, *args: str) -> tuple[int, dict[str, Any]]:
        """An agent process running `script`; its pid and the report it printed."""
        bus = "nats://127.0.0.1:1"
        self.driver.start(Scripted(pop, self.scenario, bus, "p", script=script, args=args))
        pid = self.driver.describe()["pids"][pop]
        deadline = time.monotonic() + 240.0
        while not (line := _report_line(self.driver.log_tail(pop, 1 << 20))):
            assert pop not in self.driver.dead(), self.driver.log_tail(pop, 3000)
            assert time.monotonic() < deadline, "the agent process printed nothing"
            time.sleep(0.2)
        return pid, json.loads(line)

    def appraise(self, evidence: SignedEvidence, pid: int, nonce: bytes) -> MeasurerAppraisal:
        """`evidence` as the verifier appraises what it hears for its challenge `nonce`."""
        verifier, expected = self.verifier, Expectation(nonce, pid, self.verifier.modules)
        key = verifier.client.public_key
        return appraise(evidence, verifier.reference, key, expected, verifier.secaas_key)


def _report_line(log: str) -> str | None:
    lines = [line for line in log.splitlines() if line.startswith("ATTACK ")]
    return lines[-1].removeprefix("ATTACK ") if lines else None


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    secaas = Ed25519PrivateKey.generate()
    modules = module_digests(wrap(Path(secmas.__file__).parent, secaas).entries)
    measurer = HostMeasurer.start()  # as a run starts it: files in a private folder
    verifier = ExternalVerifier(
        measurer.client, platform_reference(secaas), secaas.public_key(), modules
    )
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("id: unused\n")
    host = Host(measurer, verifier, LocalProcesses(tmp_path), scenario)
    try:
        yield host
    finally:
        host.driver.stop_all()
        measurer.stop()


@ROOT_ONLY
def test_an_agent_process_cannot_sign_or_have_signed_evidence_of_its_own(host: Host) -> None:
    nonce = secrets.token_bytes(NONCE_BYTES)  # the verifier's challenge, relayed to it
    pid, attack = host.start("pop1", ATTACKER, nonce.hex())
    real = asyncio.run(host.verifier.check(pid))
    assert not real.passed and any("wx mapping" in r for r in real.reasons), real.reasons
    if attack["evidence"] is not None:
        forged = host.appraise(SignedEvidence.decode(attack["evidence"].encode()), pid, nonce)
        assert not forged.passed, f"an implanted agent signed its evidence: {attack['tried']}"
    denied = {what: how for what, how in attack["tried"].items() if how.startswith("denied")}
    assert denied == attack["tried"], f"the agent reached into the measurer: {attack['tried']}"


@ROOT_ONLY
def test_a_genuine_agent_started_the_same_way_passes(host: Host) -> None:
    pid, _ = host.start("pop2", GENUINE)
    appraisal = asyncio.run(host.verifier.check(pid))
    assert appraisal.passed, appraisal.reasons


ASK = """\
import json, socket, sys
with socket.socket(socket.AF_UNIX) as conn:
    conn.connect(sys.argv[1])
    conn.sendall(json.dumps({"pid": int(sys.argv[2]), "nonce": "ab" * 32}).encode() + b"\\n")
    print(conn.makefile().readline())
"""


def test_the_measurer_keeps_no_key_file_and_answers_only_its_driver(tmp_path: Path) -> None:
    """Whatever user asks: another process of the driver's own user (root here) that
    reaches the socket is refused, while the driver is answered; its folder holds its
    socket and log, no key."""
    measurer = HostMeasurer.start(tmp_path, "m")
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.log", "m.sock"]
        pid = os.getpid()
        other = subprocess.run(
            [sys.executable, "-c", ASK, str(measurer.client.socket), str(pid)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert "refused: process" in other.stdout and "not this measurer's client" in other.stdout
        evidence = measurer.client.measure_now(pid, secrets.token_bytes(NONCE_BYTES))
        assert evidence.signed_by(measurer.client.public_key)
    finally:
        measurer.stop()


PEEK = """\
import sys
pid = int(sys.argv[1])
try:
    with open(f"/proc/{pid}/maps") as maps:
        start = int(next(line for line in maps if " r" in line).split("-")[0], 16)
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        mem.seek(start)
        print(f"read {len(mem.read(4096))} bytes")
except OSError as exc:
    print(f"denied: {exc.strerror}")
"""

SAME_USER = """\
import subprocess, sys
from pathlib import Path
from secmas.trust.measurer_service import HostMeasurer
measurer = HostMeasurer.start(Path(sys.argv[1]), "m")
other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
try:
    measurer.ready()
    for pid in (other.pid, measurer.process.pid):
        peek = [sys.executable, "-c", sys.argv[2], str(pid)]
        print(subprocess.run(peek, capture_output=True, text=True, check=True).stdout.strip())
finally:
    other.kill()
    measurer.stop()
"""
"""A driver, its measurer, another process of theirs and a peek at each, all of one user
and one set of capabilities (CAP_SYS_PTRACE dropped: what tells root from the agents of a
driver that is not root)."""


@ROOT_ONLY
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_the_measurers_memory_is_closed_to_its_own_user(tmp_path: Path) -> None:
    """The measurer's key lives in its memory only, and a driver that is not root starts
    agents as its own user: the measurer makes itself not dumpable, so a process of its
    user and capabilities reads none of its memory, where it reads any other process of
    that user (here one that sleeps)."""
    done = subprocess.run(
        ["setpriv", "--bounding-set=-sys_ptrace", sys.executable, "-c", SAME_USER,
         str(tmp_path), PEEK],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    other, measurer = done.stdout.splitlines()[-2:]
    assert other == "read 4096 bytes"
    assert measurer.startswith("denied"), f"a process of its user read the measurer: {measurer}"


def test_an_agent_container_mounts_nothing_of_its_measurer(tmp_path: Path) -> None:
    """Agents as containers already hold no measurer key: the agent's container
    runs as the image's user without capabilities and mounts its own files only; the key
    is mounted into the measurer's sidecar alone, from a folder of root's."""
    from secmas.deploy.agents import AGENT_USER
    from secmas.deploy.containers import MEASURER_KEY_DIR, PodmanAgents

    driver = PodmanAgents(tmp_path, image="localhost/secmas-agent:test")
    folder = tmp_path / "containers" / "pop1"
    folder.mkdir(parents=True)
    launch = AgentLaunch("pop1", tmp_path / "scenario.yaml", "nats://h:4222", "p")
    try:
        agent = driver._agent_args(launch, "a", folder, launch)
        sidecar = driver._measurer_args("pop1", "a", "m", folder, Ed25519PrivateKey.generate())
    finally:
        for made in driver.folders:
            shutil.rmtree(made, ignore_errors=True)
    mounts = [agent[i + 1] for i, word in enumerate(agent) if word == "-v"]
    assert all("measurer" not in mount for mount in mounts), mounts
    assert agent[agent.index("--user") + 1] == f"{AGENT_USER}:{AGENT_USER}"
    assert agent[agent.index("--cap-drop") + 1] == "all"
    sidecar_mounts = [sidecar[i + 1] for i, word in enumerate(sidecar) if word == "-v"]
    key_folder = Path(next(m for m in sidecar_mounts if MEASURER_KEY_DIR in m).split(":")[0])
    assert (key_folder.stat().st_uid, key_folder.stat().st_mode & 0o777) == (os.getuid(), 0o700)
