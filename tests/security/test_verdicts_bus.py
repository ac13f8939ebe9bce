"""Attacks on verdicts as an adversary on the bus would make them, on the in-memory bus
and on a real nats-server: answer the MLFO's verification requests in a verifier's
name (an unsigned JSON pass for a tampered agent, an envelope under the adversary's own
keys, a genuine earlier answer replayed, an "error" that would make the MLFO drop an
honest verifier and abort the bring-up), or be a verifier that lies about what it
recorded. The MLFO must act on none of them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.security.conftest import BusPair, run
from tests.trust.test_chain import agent_image

from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.scenario.model import Security
from secmas.transport.bus import Bus
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import Appraisal, SignedVerdict
from secmas.trust.chain import Verdict
from secmas.trust.control import MLFO
from secmas.trust.envelope import Envelopes, Header, Kind
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys

PIPE = "attack-pipe"
AGENTS = ["a1", "a2", "a3", "a4"]


class Adversary:
    """A client of the bus that answers every verification request at once, before the
    genuine verifier can, with the forgeries `forge` makes; it also records every
    genuine reply it sees, to replay later."""

    def __init__(self, bus: Bus, forge: Any) -> None:
        self.bus, self.forge = bus, forge
        self.answered = 0
        self.seen_replies: list[bytes] = []

    async def start(self) -> None:
        await self.bus.subscribe(f"secmas.verify.{PIPE}.*", self._on_request)
        await self.bus.subscribe(f"secmas.reply.{PIPE}.>", self._on_reply)

    async def _on_request(self, subject: str, frame: bytes) -> None:
        header, _ = Header.decode(frame)  # the header is what anyone on the bus reads
        for answer in self.forge(header, subject, self.seen_replies):
            await self.bus.publish(header.reply, answer)
            self.answered += 1

    async def _on_reply(self, _subject: str, frame: bytes) -> None:
        self.seen_replies.append(frame)


def impostor_frame(header: Header, payload: bytes) -> bytes:
    """An answer sealed under keys the adversary holds, in the verifier's name."""
    impostor = AgentIdentity.generate(header.receiver)
    mlfo_guess = AgentIdentity.generate(MLFO)  # the MLFO's key is public; any will do
    envelopes = Envelopes(impostor, {MLFO: PeerKeys.of(mlfo_guess)})
    return envelopes.seal(Kind.REPLY, MLFO, header.reply, payload)


def images(tmp_path: Path, tampered: str | None = None) -> dict[str, WrappedImage]:
    """Every agent runs a small image of its own kind: honest ones share one."""
    honest = agent_image(tmp_path)
    chosen = {a: honest for a in AGENTS}
    if tampered is not None:
        chosen[tampered] = agent_image(tmp_path)
    return chosen


async def pipeline_of(bus: Bus, chosen: dict[str, WrappedImage]) -> InProcessAgents:
    return await bring_up(PIPE, AGENTS, bus, VirtualClock(), Security(), images=chosen)


def test_forged_errors_do_not_abort_the_bring_up(buses: BusPair, tmp_path: Path) -> None:
    """Before: an unsigned {"error": …} answer made the MLFO revoke the honest verifier
    and re-anchor, so anyone on the bus could tear a bring-up down."""

    def forge(header: Header, _subject: str, _seen: list[bytes]) -> list[bytes]:
        error = json.dumps({"error": "LedgerError: verifier crashed"}).encode()
        return [error, impostor_frame(header, error), b"\x01garbage"]

    async def main() -> None:
        async with buses() as (bus, theirs):
            adversary = Adversary(theirs, forge)
            await adversary.start()
            pipeline = await pipeline_of(bus, images(tmp_path))
            try:
                assert adversary.answered >= 3 * (len(AGENTS) - 1)
                assert all(e.passed for e in pipeline.mlfo.entries)
                assert pipeline.mlfo.view.excluded == {}
                assert all(pipeline.mlfo.view.admits(a) for a in AGENTS)
                dropped = pipeline.mlfo.control.stats.dropped
                # The impostor's frames start at counter 1, which the genuine verifier used
                # already (it answered its welcome): the replay window drops them before
                # any decryption is tried, else the tag check would.
                assert dropped["forged"] + dropped["replayed"] >= len(AGENTS) - 1
                assert dropped["version"] + dropped["malformed"] >= len(AGENTS) - 1
            finally:
                await pipeline.close()

    run(main())


def test_a_forged_pass_does_not_save_a_tampered_agent(buses: BusPair, tmp_path: Path) -> None:
    """a3 is patched in memory; when it is measured the adversary answers first with a
    complete-looking pass (plain JSON, signed with its own key), the same sealed under
    its own keys, and a genuine earlier answer replayed."""
    chosen = images(tmp_path, tampered="a3")
    module = sys.modules[chosen["a3"].runtime.layout.name]
    holder: dict[str, InProcessAgents] = {}

    def forge(header: Header, _subject: str, seen: list[bytes]) -> list[bytes]:
        pipeline = holder.get("p")
        if pipeline is None:
            return []
        registry = pipeline.mlfo.contracts.registry  # the chain is public
        step = registry.current_step(pipeline_id(PIPE))
        assert step is not None
        measured = next(p for p in pipeline.mlfo.chain.peers.values() if p.address == step.measured)
        signer = AgentIdentity.generate(header.receiver)
        signed = SignedVerdict(
            PIPE, step.index, step.nonce, measured.name, header.receiver, bytes(range(32)), True
        ).signed_by(signer)
        answer = json.dumps(
            {
                "measured": measured.address,
                "appraisal": Appraisal(measured.name, True, (), bytes(range(32))).to_json(),
                "verdict": signed.to_json(),
                "tx": "0x" + "00" * 32,
                "block": 1,
                "new_root": measured.address,
            }
        ).encode()
        return [answer, impostor_frame(header, answer), *seen[-2:]]

    async def main() -> None:
        async with buses() as (bus, theirs):
            pipeline = await pipeline_of(bus, chosen)
            try:
                assert all(pipeline.mlfo.view.admits(a) for a in AGENTS)
                holder["p"] = pipeline
                adversary = Adversary(theirs, forge)
                await adversary.start()
                module.decide.__code__ = (lambda load: True).__code__  # the implant
                entries = await pipeline.mlfo.chain.run(len(AGENTS))
                assert adversary.answered >= 3 * len(AGENTS)
                verdicts = {e.measured: e.passed for e in entries}
                assert verdicts["a3"] is False
                assert not pipeline.mlfo.view.admits("a3")
                pid = pipeline_id(PIPE)
                registry = pipeline.mlfo.contracts.registry
                assert not registry.is_trusted(pid, pipeline.members["a3"].account.address)
                assert set(pipeline.mlfo.view.excluded) == {"a3"}
                assert all(pipeline.mlfo.view.admits(a) for a in ("a1", "a2", "a4"))
                # forged under other keys, or replayed: dropped before anyone acts on them
                assert sum(pipeline.mlfo.control.stats.dropped.values()) >= 2 * len(AGENTS)
            finally:
                await pipeline.close()

    run(main())


def verdicts_on_a3(pipeline: InProcessAgents, told: Callable[[Verdict], Verdict]) -> None:
    """a2, which verifies a3 once per round, tells the MLFO `told(verdict)` of each verdict
    it reached on a3 (and the truth of the others)."""
    role = pipeline.members["a2"].role
    assert role is not None
    real = role.verify_open_step

    async def telling(peers: Any, ticket: Any) -> Verdict:
        verdict = await real(peers, ticket)
        return told(verdict) if verdict.measured.name == "a3" else verdict

    role.verify_open_step = telling  # type: ignore[method-assign]


@pytest.mark.parametrize("lie", ["flipped", "flipped-and-re-signed", "old-verdict"])
def test_a_lying_verifier_is_not_believed(lie: str, tmp_path: Path) -> None:
    """The verifier of the tampered agent records the fail on chain (it must: the
    contract refuses a pass without evidence under the step's nonce) but tells the MLFO
    it passed. The MLFO compares signature and chain record, trusts nobody on that word,
    and drops the lying verifier instead."""
    chosen = images(tmp_path, tampered="a3")
    module = sys.modules[chosen["a3"].runtime.layout.name]

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await pipeline_of(bus, chosen)
        try:
            liar = pipeline.members["a2"]
            earlier: list[Verdict] = []

            def told(verdict: Verdict) -> Verdict:
                if verdict.appraisal.passed:
                    earlier.append(verdict)  # honest while a3 is genuine
                    return verdict
                passed = replace(verdict.appraisal, passed=True, reasons=())
                if lie == "old-verdict":
                    old = earlier[-1]
                    return replace(old, measured=verdict.measured, appraisal=passed)
                signed = replace(verdict.signed, passed=True)
                if lie == "flipped-and-re-signed":
                    signed = signed.signed_by(liar.identity)
                return replace(verdict, appraisal=passed, signed=signed)

            verdicts_on_a3(pipeline, told)
            await pipeline.mlfo.chain.run(len(AGENTS))  # one honest round: a2 passes a3
            assert [v.measured.name for v in earlier] == ["a3"]
            module.decide.__code__ = (lambda load: True).__code__
            entries = await pipeline.mlfo.chain.run(len(AGENTS))
            assert all(e.measured != "a3" or not e.passed for e in entries)
            assert not pipeline.mlfo.view.admits("a3")
            assert "verdict rejected" in pipeline.mlfo.view.excluded["a2"]
            pid = pipeline_id(PIPE)
            address = pipeline.members["a3"].account.address
            assert not pipeline.mlfo.contracts.registry.is_trusted(pid, address)
        finally:
            await pipeline.close()

    run(main())


@pytest.mark.parametrize("signer", ["another key", "no signature"])
def test_a_true_verdict_its_verifier_could_disown_is_not_believed(
    signer: str, tmp_path: Path
) -> None:
    """The verifier records the truth on chain and tells the MLFO the same, but under a
    signature that is not by its registered key (a key it made for the purpose, or none):
    a verdict it could later disown. The signed verdicts are the MLFO's evidence of who
    vouched for whom, so the MLFO acts on none it cannot hold its verifier to: the chain
    record agreeing is not enough, and the verifier is dropped as for any bad verdict."""

    async def main() -> None:
        pipeline = await pipeline_of(MemoryBus(), images(tmp_path))
        try:
            disowned: list[Verdict] = []

            def deniable(verdict: Verdict) -> Verdict:
                other = AgentIdentity.generate("a2")
                signed = verdict.signed.signed_by(other)
                if signer == "no signature":
                    signed = replace(signed, signature=bytes(64))
                disowned.append(verdict)
                return replace(verdict, signed=signed)

            verdicts_on_a3(pipeline, deniable)
            entries = await pipeline.mlfo.chain.run(len(AGENTS))
            assert [v.appraisal.passed for v in disowned] == [True]  # a3 is genuine
            reason = pipeline.mlfo.view.excluded.get("a2", "")
            assert "bad signature for the verifier's registered key" in reason, reason
            assert not any(e.verifier == "a2" and e.measured == "a3" for e in entries)
        finally:
            await pipeline.close()

    run(main())


def test_an_insiders_answer_for_the_verifier_asked_is_not_taken(tmp_path: Path) -> None:
    """An attested member (a4, with its own real keys) answers the MLFO's verification
    requests to the other verifiers before they can, with an envelope that opens: as
    from a4, not from the verifier asked. Taken as the verifier's answer, its "error"
    makes the MLFO give the step up (or revoke the honest verifier, if it comes before
    the verifier recorded), and the chain stops; the MLFO waits for the party it asked
    instead, and every step is settled."""

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await pipeline_of(bus, images(tmp_path))
        try:
            insider = pipeline.members["a4"].role
            assert insider is not None

            def forge(header: Header, _subject: str, _seen: list[bytes]) -> list[bytes]:
                if header.receiver == "a4":
                    return []
                error = json.dumps({"error": "LedgerError: verifier crashed"}).encode()
                return [insider.control.envelopes.seal(Kind.REPLY, MLFO, header.reply, error)]

            adversary = Adversary(bus, forge)
            await adversary.start()
            entries = await pipeline.mlfo.chain.run(len(AGENTS))
            assert len(entries) == len(AGENTS) and all(e.passed for e in entries)
            assert pipeline.mlfo.view.excluded == {}
            assert adversary.answered >= len(AGENTS) - 1
            assert pipeline.mlfo.control.stats.dropped["impostor"] == adversary.answered
        finally:
            await pipeline.close()

    run(main())
