"""A wire tap on the control plane: everything published while a pipeline is brought up,
attested round after round, beating and rekeyed, recorded as a passive adversary on the
bus would (`>` on the in-memory bus; `>` on the nats-server of a run with agents as
processes). No frame may carry a secret or a trust message in clear: not the pipeline
secret, not a challenge nonce, an evidence or measurement digest, a verdict, a join's
keys and account, a welcome, a rekey or a heartbeat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.security.conftest import run
from tests.security.test_verdicts_bus import AGENTS, PIPE, images

from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock, drive_clock
from secmas.pipeline.busaccess import BusAccess
from secmas.pipeline.inprocess import bring_up
from secmas.pipeline.outside import operate_processes
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Security
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus
from secmas.trust.envelope import EnvelopeError, Header

CLEAR_TEXT = (
    b"secmas.challenge/1",
    b"secmas.evidence/2",
    b"secmas.verdict/1",
    b"secmas.join/1",
    b'"passed"',
    b'"measurement"',
    b'"signing_key"',
    b'"sealing_key"',
    b'"registry"',
    b'"secret_store"',
    b'"heartbeat"',
    b'"seq"',
    b'"switch"',
    b'"epoch"',
)
"""What trust messages look like in clear."""

TRUST_SUBJECTS = ("join", "welcome", "rekey", "attest", "verify", "heartbeat", "reply")


def variants(secret: bytes) -> list[bytes]:
    """A value as it could travel: raw, or in hex either case."""
    return [secret, secret.hex().encode(), secret.hex().upper().encode()]


def assert_sealed(frames: list[tuple[str, bytes]], secrets: list[bytes]) -> int:
    """Every frame free of `secrets` and clear-text trust messages; every frame on a
    trust subject an envelope. Returns how many trust frames were seen."""
    trust = 0
    for subject, data in frames:
        for secret in secrets:
            for form in variants(secret):
                assert form not in data, f"a secret in clear on {subject}"
        for marker in CLEAR_TEXT:
            assert marker not in data, f"{marker!r} in clear on {subject}"
        if subject.split(".")[1] in TRUST_SUBJECTS and not subject.startswith("_INBOX"):
            trust += 1
            try:
                Header.decode(data)
            except EnvelopeError as exc:
                raise AssertionError(f"not an envelope on {subject}: {exc}") from None
    return trust


def test_a_tap_on_the_in_memory_bus_sees_no_trust_message_in_clear(tmp_path: Path) -> None:
    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        frames: list[tuple[str, bytes]] = []

        async def tap(subject: str, data: bytes) -> None:
            frames.append((subject, data))

        await bus.subscribe(">", tap)
        pipeline = await bring_up(PIPE, AGENTS, bus, clock, Security(), images=images(tmp_path))
        try:
            await pipeline.mlfo.chain.run(len(AGENTS))
            await drive_clock(clock, 30.0)  # heartbeats
            await pipeline.mlfo.remove_agent("a4")  # a revocation and a new key epoch
            await bus.flush()
            records = pipeline.mlfo.contracts.registry.records(pipeline_id(PIPE))
            secrets = [p.secret for p in pipeline.mlfo.pushes if p.secret is not None]
            secrets += [m.secret.secret for m in pipeline.members.values() if m.secret]
            secrets += [r.nonce for r in records] + [r.evidence for r in records]
            secrets += [e.measurement.root for e in pipeline.mlfo.chain.expected.values()]
            assert len(secrets) > 3 * len(AGENTS)
            trust = assert_sealed(frames, secrets)
            subjects = {s.split(".")[1] for s, _ in frames}
            assert {"attest", "verify", "heartbeat", "reply"} <= subjects
            assert trust >= 4 * len(records)
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_a_tap_on_nats_sees_no_trust_message_in_clear(tmp_path: Path) -> None:
    """Agents as processes: join, welcome, challenges, evidence, verdicts, rekeys and
    heartbeats cross a real nats-server; the tap subscribes to `>` like any client of
    a server without subject permissions would."""
    scenario_file = Path(__file__).resolve().parents[2] / "scenarios" / "ddos-6pop.yaml"
    scenario = load_scenario(scenario_file)

    async def main() -> None:
        with NatsServer() as server:
            tap_bus = await NatsBus.connect(server.url, name="tap")
            frames: list[tuple[str, bytes]] = []

            async def tap(subject: str, data: bytes) -> None:
                frames.append((subject, data))

            await tap_bus.subscribe(">", tap)
            access = BusAccess(BusAddress.parse(server.url))
            result = await operate_processes(
                scenario, scenario_file, workdir=tmp_path, bus=access, speed=40.0
            )
            await tap_bus.flush()
            await tap_bus.close()
        trust = result.trust
        assert trust is not None and trust["key_epochs"]
        assert all(a["trusted"] for a in trust["agents"].values())
        accounts = [bytes.fromhex(a["account"][2:]) for a in trust["agents"].values()]
        assert_sealed(frames, accounts)
        subjects = {s.split(".")[1] for s, _ in frames}
        assert {"join", "welcome", "rekey", "attest", "verify", "heartbeat", "reply"} <= subjects
        assert not list(tmp_path.glob("enrolment-*.json"))  # no credential left behind

    asyncio.run(asyncio.wait_for(main(), 300))
