"""The podman IML driver (`secmas.deploy.containers.PodmanAgents`): a real `secmas
agent` in a container of the agent image, inside a network namespace of its own joined
to this host by a veth pair, reaches a real nats-server (TLS, its own nkey) through it;
its measurer sidecar answers signed measurements of it; the host checks its container
against the image's reference, the check the driver gives the attestation chain; a kill
shows as a dead agent, and `stop_all` leaves no container, key or credential behind."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.containers import Reference

from secmas.api import embedded_path
from secmas.deploy.containers import AGENT_PID, LABEL, PodmanAgents
from secmas.deploy.image import AGENT_USER, AgentImage
from secmas.deploy.podman import podman
from secmas.pipeline.agent_process import ready_subject
from secmas.pipeline.busaccess import issue_run_bus
from secmas.pipeline.iml import AgentLaunch, ChecksItsAgents, IMLDriver
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.trust.measurer import NONCE_BYTES


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def namespace() -> Iterator[tuple[str, str]]:
    """A network namespace joined to this host by a veth pair: (its name, the host's
    address)."""
    tag = secrets.token_hex(3)
    name, host_side = f"sct{tag}", f"sct{tag}h"
    octet = int(tag[:2], 16) % 250 + 1
    host, inside = f"10.213.{octet}.1", f"10.213.{octet}.2"
    ip("netns", "add", name)
    try:
        ip("link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("addr", "add", f"{host}/30", "dev", host_side)
        ip("link", "set", host_side, "up")
        ip("-n", name, "addr", "add", f"{inside}/30", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "link", "set", "lo", "up")
        yield name, host
    finally:
        subprocess.run(["ip", "link", "del", host_side], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


async def ready_of(access: object, pipeline: str, timeout: float = 60.0) -> str:
    """Wait for an agent's ready message; which agent sent it."""
    bus = await access.connect("mlfo", "test-mlfo")  # type: ignore[attr-defined]
    heard: asyncio.Queue[str] = asyncio.Queue()

    async def on_ready(subject: str, _data: bytes) -> None:
        heard.put_nowait(subject.rsplit(".", 1)[1])

    try:
        await bus.subscribe(ready_subject(pipeline, "*"), on_ready)
        return await asyncio.wait_for(heard.get(), timeout)
    finally:
        await bus.close()


def test_podman_agents_run_an_agent_in_its_namespace_beside_its_measurer(
    agent_image: AgentImage,
    image_reference: Reference,
    namespace: tuple[str, str],
    tmp_path: Path,
) -> None:
    if find_nats_server() is None:
        pytest.skip(MISSING_BINARY)
    name, host = namespace
    pipeline = f"p{secrets.token_hex(3)}"
    run_bus = issue_run_bus(tmp_path / "bus", pipeline, ["pop1"], (host,))
    with NatsServer(host=host, tls=run_bus.certificate, users=run_bus.users) as server:
        url = f"tls://{host}:{server.port}"
        access = replace(run_bus.access, address=BusAddress.parse(url))
        credential = tmp_path / "enrolment-pop1.json"
        credential.write_text("{}")
        launch = AgentLaunch(
            "pop1", embedded_path("ddos-6pop"), url, pipeline,
            bus_ca=access.ca_file, bus_nkey=access.nkey("pop1"), enrolment=credential,
        )  # fmt: skip
        driver: IMLDriver = PodmanAgents(
            tmp_path / "run",
            agent_image.id,
            {"pop1": f"/var/run/netns/{name}"},
            image_reference.manifest,
            image_reference.trusted,
        )
        assert isinstance(driver, PodmanAgents)
        (tmp_path / "run").mkdir()
        try:
            driver.start(launch)
            assert not credential.exists()  # handed over: the host keeps no copy
            assert asyncio.run(ready_of(access, pipeline)) == "pop1"
            described = driver.describe()
            pid = described["pids"]["pop1"]
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert argv[1:4] == [b"-m", b"secmas", b"agent"]
            assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{name}").st_ino
            assert os.stat(f"/proc/{pid}").st_uid == AGENT_USER
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            handed = b"SECMAS_ENROLMENT=/run/secmas-enrolment/enrolment.json"
            assert handed in environ  # its path inside the container
            inside = os.stat(f"/proc/{pid}/root/run/secmas-enrolment/enrolment.json")
            assert (inside.st_uid, inside.st_mode & 0o777) == (AGENT_USER, 0o600)
            check = driver.check("pop1")
            assert check.ok, check.problems()[:5]
            assert isinstance(driver, ChecksItsAgents)  # the chain's check from outside
            outside = driver.outside()
            assert asyncio.run(outside.check("pop1")).passed
            assert not asyncio.run(outside.check("pop9")).passed  # no container of its own
            assert [f["agent"] for f in outside.report()["failed"]] == ["pop9"]
            nonce = secrets.token_bytes(NONCE_BYTES)
            client = driver.measurer_client("pop1")
            evidence = client.measure_now(AGENT_PID, nonce)
            assert evidence.signed_by(client.public_key) and evidence.nonce == nonce
            cmdline = next(e for e in evidence.entries if e.kind == "cmdline")
            assert json.loads(cmdline.fact("argv") or "[]")[1:4] == ["-m", "secmas", "agent"]
            assert driver.dead() == []
            driver.kill("pop1")
            deadline = time.monotonic() + 10
            while driver.dead() != ["pop1"]:
                assert time.monotonic() < deadline, "the killed agent still runs"
                time.sleep(0.1)
        finally:
            driver.stop_all()
    run_id = driver.run_id
    assert podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}={run_id}"]).strip() == ""
    assert not (tmp_path / "run" / "containers").exists()  # keys and credentials gone
    assert not client.socket.parent.exists()
    assert (tmp_path / "run" / "agent-pop1.log").exists()
