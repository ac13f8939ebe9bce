"""The attestation chain end to end: real EVM (eth-tester), real bus, real measurements.

Agents that must be compromised run their own small image (a package written to the
test's folder), so tampering with it in memory or on disk touches that agent only.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.nfva.subjects import inbox
from secmas.ledger.errors import LedgerRevert
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock
from secmas.pipeline.images import WrappedImage, wrap_agent_image, wrap_native_image
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import Challenge, Evidence, Measurement
from secmas.trust.chain import HELD_STEPS, AttesterEndpoint, Measured, attest_subject
from secmas.trust.elf import measure_elf
from secmas.trust.envelope import Opened
from secmas.trust.epochs import fetch_secret
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.measurer_service import ExternalAttestation
from secmas.trust.repository import ReferenceRepository

AGENT_CODE = '''\
"""A tiny agent image."""


def decide(load: float) -> bool:
    return load > 0.8


class Planner:
    def plan(self, goal: str) -> str:
        return f"plan for {goal}"
'''

_packages = itertools.count()
SECAAS_KEY = Ed25519PrivateKey.generate()


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def agent_image(tmp_path: Path) -> WrappedImage:
    """Write, import and wrap a fresh package: an image only one agent runs."""
    name = f"chain_agent_{next(_packages)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text(AGENT_CODE)
    sys.path.insert(0, str(tmp_path))
    importlib.import_module(name)  # the agent runs it: its live code is what is measured
    repository = ReferenceRepository(":memory:")
    return wrap_agent_image(root, name, "1.0", Ed25519PrivateKey.generate(), repository)


Scenario = Callable[[InProcessAgents], Awaitable[Any]]


async def with_pipeline(
    agents: list[str], work: Scenario, images: dict[str, WrappedImage] | None = None
) -> Any:
    bus = MemoryBus()
    pipeline = await bring_up("test-pipe", agents, bus, VirtualClock(), Security(), images=images)
    try:
        return await work(pipeline)
    finally:
        await pipeline.close()
        await bus.close()


def test_genuine_chain_rotates_the_root_of_trust() -> None:
    agents = ["a1", "a2", "a3", "a4"]

    async def work(pipeline: InProcessAgents) -> None:
        entries = pipeline.mlfo.entries
        assert [(e.kind, e.measured, e.verifier) for e in entries] == [
            ("initial", "a1", "secaas"),
            ("mutual", "a2", "a1"),
            ("mutual", "a3", "a2"),
            ("mutual", "a4", "a3"),
        ]
        assert all(e.passed for e in entries)
        assert [e.root_of_trust for e in entries] == agents
        more = await pipeline.mlfo.chain.run(2)
        assert [(e.measured, e.verifier) for e in more] == [("a1", "a4"), ("a2", "a1")]
        registry = pipeline.mlfo.contracts.registry
        records = registry.records(pipeline_id("test-pipe"))
        assert [r.tx_hash for r in records] == [e.tx for e in pipeline.mlfo.entries]
        assert registry.root_of_trust(pipeline_id("test-pipe")) == (
            pipeline.members["a2"].account.address
        )
        assert all(pipeline.mlfo.view.admits(a) for a in agents)
        assert all(m.secret is not None and m.secret.epoch == 1 for m in pipeline.members.values())
        secrets = {m.secret.secret for m in pipeline.members.values() if m.secret}
        assert len(secrets) == 1  # one pipeline secret, sealed to each agent

    run(with_pipeline(agents, work))


def test_the_host_measurer_checks_while_the_agent_measures_itself() -> None:
    """Each step starts the host measurer's check (another process) before the measured
    agent measures itself, and a pass stands only once that check passed too."""
    agents = ["a1", "a2", "a3"]

    async def work(pipeline: InProcessAgents) -> None:
        manifest = pipeline.image("a1").manifest
        external = await asyncio.to_thread(
            ExternalAttestation.start, None, SECAAS_KEY, manifest, shared=True
        )
        external.pids.update(dict.fromkeys(agents, os.getpid()))
        events: list[tuple[str, str]] = []

        async def check(agent: str) -> MeasurerAppraisal:
            events.append(("outside", agent))
            return await asyncio.to_thread(external.check_now, agent)

        for name, member in pipeline.members.items():
            member.endpoint.measured = _recorded(member.endpoint.measured, name, events)
        pipeline.mlfo.chain.external = check
        try:
            steps = await pipeline.mlfo.chain.run(3)
        finally:
            external.stop()
        assert [e.passed for e in steps] == [True] * 3
        assert events == [(side, e.measured) for e in steps for side in ("outside", "self")]

        async def failing(agent: str) -> MeasurerAppraisal:
            return MeasurerAppraisal(False, ("text of the interpreter changed",))

        pipeline.mlfo.chain.external = failing  # the agent's own measurement still passes
        [caught] = await pipeline.mlfo.chain.run(1)
        assert not caught.passed
        assert caught.reasons == ("external measurement: text of the interpreter changed",)
        assert not pipeline.mlfo.view.admits(caught.measured)

    run(with_pipeline(agents, work))


def _recorded(measured: Measured | None, name: str, events: list[tuple[str, str]]) -> Measured:
    assert measured is not None  # agents in one process await their measurements

    async def recorded() -> Measurement:
        events.append(("self", name))
        return await measured()

    return recorded


def test_in_memory_patch_after_start_fails_and_revokes(tmp_path: Path) -> None:
    image = agent_image(tmp_path)
    module = sys.modules[image.runtime.layout.name]

    async def work(pipeline: InProcessAgents) -> None:
        assert pipeline.mlfo.view.admits("a3")
        module.decide.__code__ = (lambda load: True).__code__  # the attacker's patch
        entries = await pipeline.mlfo.chain.run(3)  # a1 by a4? no: a4 was last; a1, a2, a3
        failed = [e for e in entries if not e.passed]
        assert [e.measured for e in failed] == ["a3"]
        assert failed[0].differing == (f"code:{module.__name__}",)
        assert failed[0].revoke_tx is not None
        assert not pipeline.mlfo.view.admits("a3")
        pid = pipeline_id("test-pipe")
        registry = pipeline.mlfo.contracts.registry
        address = pipeline.members["a3"].account.address
        assert not registry.is_trusted(pid, address)
        assert not registry.is_active(pid, address)
        assert registry.key_epoch(pid) == 2
        assert pipeline.members["a1"].secret is not None
        assert pipeline.members["a1"].secret.epoch == 2
        store = pipeline.mlfo.contracts.secret_store.as_(pipeline.members["a3"].account)
        with pytest.raises(LedgerRevert, match="SecretStore: caller not trusted"):
            fetch_secret("test-pipe", store, pipeline.members["a3"].identity)
        # the revoked agent's channel is closed: what it sends is dropped, not delivered
        got: list[bytes] = []

        async def receive(_subject: str, data: bytes) -> None:
            got.append(data)

        a1, a3 = pipeline.bus_for("a1"), pipeline.bus_for("a3")
        await a1.subscribe(inbox("a1"), receive)
        await a3.publish(inbox("a1"), b"a bid from a revoked agent")
        await pipeline.mlfo.control.bus.flush()
        assert got == []
        assert sum(a1.channel_stats.dropped.values()) == 1
        await pipeline.bus_for("a2").publish(inbox("a1"), b"from a trusted agent")
        await pipeline.mlfo.control.bus.flush()
        assert got == [b"from a trusted agent"]

    run(with_pipeline(["a1", "a2", "a3", "a4"], work, images={"a3": image}))


def test_file_tampered_on_disk_fails_naming_the_file(tmp_path: Path) -> None:
    image = agent_image(tmp_path)
    name = image.runtime.layout.name

    async def work(pipeline: InProcessAgents) -> None:
        init = image.runtime.root / "__init__.py"
        init.write_text(AGENT_CODE.replace("0.8", "0.99"))
        entries = await pipeline.mlfo.chain.run(1)
        assert entries[0].measured == "a1" and not entries[0].passed
        assert entries[0].differing == (f"file:{name}",)
        assert not pipeline.mlfo.view.admits("a1")

    run(with_pipeline(["a1", "a2"], work, images={"a1": image}))


def test_replayed_evidence_is_rejected() -> None:
    async def work(pipeline: InProcessAgents) -> None:
        captured: list[bytes] = []
        member = pipeline.members["a2"]
        real = member.endpoint

        async def spy(opened: Opened) -> bytes | None:
            answer = await real._on_challenge(opened)
            if answer is not None:
                captured.append(answer)
            return answer

        await real.stop()
        sub = await member.control.serve(attest_subject("test-pipe", "a2"), spy)
        assert (await pipeline.mlfo.chain.run(1))[0].passed  # a1 verified by a3? plan wraps
        entries = await pipeline.mlfo.chain.run(2)
        assert all(e.passed for e in entries)
        await sub.unsubscribe()
        replay = captured[-1]

        async def replayer(_opened: Opened) -> bytes:
            return replay  # a stale answer, whatever the new nonce

        await member.control.serve(attest_subject("test-pipe", "a2"), replayer)
        entries = await pipeline.mlfo.chain.run(3)
        verdict = next(e for e in entries if e.measured == "a2")
        assert not verdict.passed
        assert verdict.reasons == ("replayed or unknown nonce",)
        assert Evidence.decode(replay).agent == "a2"

    run(with_pipeline(["a1", "a2", "a3"], work))


def test_two_colluding_corrupted_agents_both_end_untrusted(tmp_path: Path) -> None:
    """c1 would vouch for c2 (its verifier role always passes), but it fails first and a
    failed agent is never elected verifier."""
    c1, c2 = agent_image(tmp_path), agent_image(tmp_path)
    for image in (c1, c2):
        sys.modules[image.runtime.layout.name].Planner.plan.__code__ = (
            lambda self, goal: "exfiltrate"
        ).__code__

    async def work(pipeline: InProcessAgents) -> None:
        colluder = pipeline.members["c1"].role

        async def vouch(peers: Any, ticket: Any) -> Any:  # a corrupted verifier passes everybody
            raise AssertionError("a corrupted agent was elected verifier")

        colluder.verify_open_step = vouch  # type: ignore[method-assign]
        entries = pipeline.mlfo.entries
        verdicts = {e.measured: e.passed for e in entries}
        assert verdicts == {"g1": True, "c1": False, "c2": False, "g2": True}
        assert {e.verifier for e in entries} == {"secaas", "g1"}
        more = await pipeline.mlfo.chain.run(4)
        assert {e.verifier for e in more} <= {"g1", "g2"}
        pid = pipeline_id("test-pipe")
        registry = pipeline.mlfo.contracts.registry
        for name in ("c1", "c2"):
            assert not registry.is_trusted(pid, pipeline.members[name].account.address)
            assert not pipeline.mlfo.view.admits(name)

    run(with_pipeline(["g1", "c1", "c2", "g2"], work, images={"c1": c1, "c2": c2}))


def test_silent_agent_fails_its_attestation() -> None:
    async def work(pipeline: InProcessAgents) -> None:
        await pipeline.members["a2"].endpoint.stop()
        pipeline.mlfo.chain.timeout = 0.2
        for member in pipeline.members.values():
            member.role.timeout = 0.2
        entries = await pipeline.mlfo.chain.run(3)
        verdict = next(e for e in entries if e.measured == "a2")
        assert not verdict.passed and "no evidence from a2" in verdict.reasons[0]

    run(with_pipeline(["a1", "a2", "a3"], work))


def test_a_step_waits_for_a_silent_agent_but_not_for_ever() -> None:
    """The liveness monitor withdrew a2 (no heartbeat): the step that would challenge it
    waits for it to answer again, HELD_STEPS steps at most; a2 is dead, so it is then
    challenged all the same, and fails."""

    async def work(pipeline: InProcessAgents) -> None:
        await pipeline.members["a2"].endpoint.stop()
        pipeline.mlfo.chain.silent = lambda agent: agent == "a2"
        pipeline.mlfo.chain.timeout = 0.2
        for member in pipeline.members.values():
            member.role.timeout = 0.2
        first = await pipeline.mlfo.chain.step()
        assert first is not None and first.measured == "a1"
        for held in range(1, HELD_STEPS + 1):
            assert await pipeline.mlfo.chain.step() is None
            assert pipeline.mlfo.chain.held[0] == held
        verdict = await pipeline.mlfo.chain.step()
        assert verdict is not None and verdict.measured == "a2" and not verdict.passed
        assert pipeline.mlfo.chain.held[0] == 0

    run(with_pipeline(["a1", "a2", "a3"], work))


def test_malformed_challenges_are_counted_not_answered() -> None:
    async def work(pipeline: InProcessAgents) -> None:
        bus = pipeline.mlfo.control.bus
        a1, a2 = pipeline.members["a1"], pipeline.members["a2"]
        endpoint: AttesterEndpoint = a1.endpoint
        subject = attest_subject("test-pipe", "a1")
        junk = (b"", b"{", b'{"format": "secmas.challenge/1"}', b"\xff" * 10)
        for frame in junk:  # not even envelopes: dropped before the attester sees them
            with pytest.raises(TimeoutError):
                await bus.request(subject, frame, 0.05)
        assert endpoint.malformed == 0 and sum(a1.control.stats.dropped.values()) == 4
        for payload in junk:  # sealed by a member, but not challenges
            with pytest.raises(TimeoutError):
                await a2.control.request(subject, "a1", payload, 0.05)
        # a well-formed challenge from a2 that names another verifier
        challenge = Challenge(bytes(32), "a3", "a1").encode()
        with pytest.raises(TimeoutError):
            await a2.control.request(subject, "a1", challenge, 0.05)
        assert endpoint.malformed == 5

    run(with_pipeline(["a1", "a2"], work))


def test_fifty_agent_plan_keeps_registry_and_chain_consistent() -> None:
    agents = [f"n{i:02d}" for i in range(50)]

    async def work(pipeline: InProcessAgents) -> None:
        pid = pipeline_id("test-pipe")
        registry = pipeline.mlfo.contracts.registry
        records = registry.records(pid)
        assert len(records) == 50 == len(pipeline.mlfo.entries)
        assert all(r.passed for r in records)
        by_address = {m.account.address: a for a, m in pipeline.members.items()}
        assert [by_address[r.measured] for r in records] == agents
        assert [r.verifier for r in records[1:]] == [r.measured for r in records[:-1]]
        assert records[0].verifier == registry.secaas()
        assert [r.new_root for r in records] == [r.measured for r in records]
        assert registry.root_of_trust(pid) == pipeline.members["n49"].account.address
        assert all(registry.is_trusted(pid, m.account.address) for m in pipeline.members.values())
        assert sorted(registry.members(pid)) == sorted(by_address)
        assert registry.plan(pid) == [pipeline.members[a].account.address for a in agents]
        step = registry.current_step(pid)
        assert step is not None and by_address[step.measured] == "n00"

    run(with_pipeline(agents, work))


def native_code_file() -> Path:
    """The ELF file holding this interpreter's executable code (the python binary, or
    libpython when the binary is a thin launcher)."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    mapped = [line.split()[-1] for line in maps if " r-xp " in line and "/" in line]
    candidates = [p for p in mapped if "libpython" in p] or [os.path.realpath(sys.executable)]
    return Path(candidates[0])


def test_native_agent_is_attested_from_its_mapped_code(tmp_path: Path) -> None:
    """A native agent's code is read from /proc/self/mem and checked against the ELF
    sections SECaaS measured; a stale reference (the file changed since) fails."""
    code = native_code_file()
    repository = ReferenceRepository(":memory:")
    genuine = wrap_native_image(code, Ed25519PrivateKey.generate(), repository)
    patched = tmp_path / code.name
    data = bytearray(code.read_bytes())
    text = measure_elf(code).sections[".text"]
    data[text.offset + text.size // 2] ^= 0xFF
    patched.write_bytes(bytes(data))
    stale = wrap_native_image(patched, Ed25519PrivateKey.generate(), repository)
    # n2 runs the genuine code but SECaaS's reference is that of a patched build
    impostor = WrappedImage(stale.manifest, genuine.runtime)

    async def work(pipeline: InProcessAgents) -> None:
        verdicts = {e.measured: e for e in pipeline.mlfo.entries}
        assert verdicts["n1"].passed
        assert not verdicts["n2"].passed and verdicts["n2"].differing == ("text:.text",)

    run(with_pipeline(["n1", "n2", "p3"], work, images={"n1": genuine, "n2": impostor}))


def test_a_step_closed_by_a_revocation_while_verified_does_not_blame_its_verifier() -> None:
    """The MLFO revokes a1 (an SSLA breach, say) while a4 verifies it: the revocation
    closes the open step, so a4's record of it reverts ("wrong step index"). That is the
    timing's doing, not a4's: it stays trusted (a processes run revoked its honest
    verifier this way), and the chain goes on."""

    async def work(pipeline: InProcessAgents) -> None:
        role = pipeline.mlfo.chain.roles["a4"]
        genuine = role.verify_open_step

        async def verify_after_a_revocation(peers: Any, ticket: Any) -> Any:
            await pipeline.mlfo.remove_agent("a1", "revoked by the MLFO meanwhile")
            return await genuine(peers, ticket)

        role.verify_open_step = verify_after_a_revocation  # type: ignore[method-assign]
        assert await pipeline.mlfo.chain.step() is None
        assert pipeline.mlfo.view.admits("a4") and not pipeline.mlfo.view.admits("a1")
        role.verify_open_step = genuine  # type: ignore[method-assign]
        entry = await pipeline.mlfo.chain.step()
        assert entry is not None and entry.passed and entry.measured != "a1"

    run(with_pipeline(["a1", "a2", "a3", "a4"], work))


def test_a_verdict_lost_once_is_asked_for_again_but_not_for_ever() -> None:
    """A broker fail-over loses a4's answer while the step is still open: a4 is asked
    once more and stays trusted (a processes run revoked its honest verifier this way).
    A verifier that does not answer twice is revoked, and the chain goes on."""

    async def work(pipeline: InProcessAgents) -> None:
        role = pipeline.mlfo.chain.roles["a4"]
        genuine = role.verify_open_step
        asked = []

        async def lost(times: int, peers: Any, ticket: Any) -> Any:
            asked.append(ticket.step)
            if len(asked) <= times:
                raise TimeoutError("no authentic reply from a4")
            return await genuine(peers, ticket)

        role.verify_open_step = lambda p, t: lost(1, p, t)  # type: ignore[method-assign]
        entry = await pipeline.mlfo.chain.step()
        assert entry is not None and entry.passed and entry.verifier == "a4"
        assert len(asked) == 2 and asked[0] == asked[1]
        assert pipeline.mlfo.view.admits("a4")
        asked.clear()
        role.verify_open_step = lambda p, t: lost(2, p, t)  # type: ignore[method-assign]
        for _ in range(8):  # a4 verifies again within one rotation
            if len(asked) == 2:
                break
            await pipeline.mlfo.chain.step()
        assert len(asked) == 2 and not pipeline.mlfo.view.admits("a4")

    run(with_pipeline(["a1", "a2", "a3", "a4"], work))
