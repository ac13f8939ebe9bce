"""Remote hosts measured from outside, over a real sshd.

Before, only agents on this machine (or `local: true` hosts) got the external measurer: an
agent on a host reached by ssh was attested by its own measurement alone, so an implant
there answered for itself. Now the IML driver starts a measurer on each remote host
through the host's own start template (`ssh … {command}`), the measurer announces a key it
made there, SECaaS registers that key for the host, and the verifier accepts evidence only
under it. The host here is this machine reached through an sshd on loopback, with a
throwaway host key and an authorised key the test makes (`openssh-server`, installed by
scripts/setup --test); the victims are real processes on that host.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.listenport import free_port
from secmas.pipeline.hosts import Host, HostsAttestation
from secmas.processend import end_process
from secmas.trust.allowlist import agent_environment
from secmas.trust.keys import public_key_hex
from secmas.trust.measurer_probe import platform_reference
from secmas.trust.measurer_service import (
    ExternalAttestation,
    ExternalVerifier,
    HostMeasurer,
    MeasurerRegistration,
    PipeClient,
    registered,
)
from secmas.trust.wrap import wrap

SSHD = Path("/usr/sbin/sshd")
WX_SHELLCODE = """\
import mmap
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(b"\\x90" * 15 + b"\\xc3")
"""
VICTIM = "import sys, secmas\n{attack}\nprint('ready', flush=True)\nsys.stdin.read()\n"


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """A host reached through a real sshd on loopback, as a host list names it."""
    if not SSHD.exists() or shutil.which("ssh") is None:
        pytest.skip("needs openssh-server and openssh-client (scripts/setup --test)")
    folder = tmp_path_factory.mktemp("sshd")
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    (folder / "authorized_keys").write_bytes((folder / "client_key.pub").read_bytes())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation's
    sshd = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stderr=(folder / "sshd.log").open("wb"),
        start_new_session=True,
    )
    try:
        _wait_for(port, sshd, folder / "sshd.log")
        user = os.environ.get("USER") or subprocess.check_output(["id", "-un"], text=True).strip()
        known = folder / "known_hosts"
        host_key = (folder / "host_key.pub").read_text().split()
        known.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        start = (
            f"ssh -p {port} -i {folder / 'client_key'} -o BatchMode=yes"
            f" -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
            f" {user}@{{address}} {{command}}"
        )
        yield Host(name="edge1", address="127.0.0.1", start=start, python=sys.executable)
    finally:
        end_process(sshd, 5.0)


def _wait_for(port: int, sshd: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if sshd.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text(errors='replace')[-400:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("sshd did not listen in 10 s")


def _victim(attack: str = "") -> subprocess.Popen[bytes]:
    """A process on the host, started as a launcher starts an agent (allowed variables)."""
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM.format(attack=attack)],
        env=agent_environment(os.environ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert victim.stdout is not None and victim.stdout.readline() == b"ready\n"
    return victim


def test_a_remote_host_is_measured_from_outside_over_ssh(ssh_host: Host, tmp_path: Path) -> None:
    """The measurer runs on the host through its ssh template, its key registered by
    SECaaS: a genuine process passes, an implant there fails, evidence under a key not
    registered for the host (a rogue measurer's) is refused, and a successor started
    over ssh again gets a registration of its own."""
    secaas = Ed25519PrivateKey.generate()
    root = Path(sys.modules["secmas"].__file__ or "").parent
    manifest = wrap(root, secaas)
    measurer = HostMeasurer.remote(ssh_host.start_python, tmp_path, "edge1")
    external = ExternalAttestation.start(None, secaas, manifest, host=measurer)
    genuine, infected = _victim(), _victim(WX_SHELLCODE)
    try:
        client = measurer.client
        assert isinstance(client, PipeClient)
        assert ssh_host.address in " ".join(measurer.process.args)  # type: ignore[arg-type]
        verifier = replace(external.prepared.result(), command=None)  # victims run `-c`
        external.prepared = Future()
        external.prepared.set_result(verifier)
        assert verifier.registration is not None
        assert verifier.registration.measurer_key == public_key_hex(client.public_key)
        hosts = HostsAttestation({"edge1": external}, {"pop1": "edge1", "pop2": "edge1"})
        external.pids.update({"pop1": genuine.pid, "pop2": infected.pid})
        passed = asyncio.run(hosts.check("pop1"))
        assert passed.passed, passed.reasons
        failed = asyncio.run(hosts.check("pop2"))
        assert not failed.passed and any("wx mapping" in r for r in failed.reasons)
        rogue = MeasurerRegistration(
            "edge1", public_key_hex(Ed25519PrivateKey.generate().public_key())
        )
        refused = asyncio.run(replace(verifier, registration=rogue.sign(secaas)).check(genuine.pid))
        assert refused.reasons == ("edge1's measurer answers under a key not registered for it",)
        measurer.process.kill()  # the remote measurer gone: a successor over ssh
        again = asyncio.run(hosts.check("pop1"))
        assert again.passed, again.reasons
        assert external.restarts and external.host.client.public_key != client.public_key
        report = hosts.report()
        assert report["checks"] == 3 and report["failed"][0]["agent"] == "pop2"  # type: ignore[index]
    finally:
        external.stop()
        for victim in (genuine, infected):
            end_process(victim, 2.0)


def test_evidence_without_a_registration_is_refused(ssh_host: Host, tmp_path: Path) -> None:
    """A remote measurer whose key SECaaS never registered is not taken at its word."""
    secaas = Ed25519PrivateKey.generate()
    measurer = HostMeasurer.remote(ssh_host.start_python, tmp_path, "edge1")
    try:
        verifier = ExternalVerifier(
            measurer.client, platform_reference(secaas), secaas.public_key(), {}
        )
        refused = asyncio.run(verifier.check(os.getpid()))
        assert refused.reasons == ("edge1's measurer key was never registered",)
        other = Ed25519PrivateKey.generate()  # registered, but by someone else than SECaaS
        forged = replace(verifier, registration=registered(measurer, other))
        assert "not signed by SECaaS" in asyncio.run(forged.check(os.getpid())).reasons[0]
    finally:
        measurer.stop()


def test_a_remote_measurer_that_announces_no_key_is_named(tmp_path: Path) -> None:
    """A host whose interpreter cannot run the measurer fails its start, saying why."""
    host = Host(name="edge2", address="127.0.0.1", start="env {command}", python="false")
    with pytest.raises(Exception, match="announced no key"):
        HostMeasurer.remote(host.start_python, tmp_path, "edge2", timeout=5.0)
