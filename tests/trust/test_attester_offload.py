"""An agent under attestation still bids on time (`000_…`: security that does not impede
near-real-time work).

Real parts throughout: two NFV-A Mailboxes on a MemoryBus with the wall clock (a real-time
run), a sealed control plane, and an attester whose measurement is a real one that takes
about a second: the native image of libtorch_cpu (hundreds of MB of mapped code read from
this process's memory and hashed). A challenge reaches the bidder just before a call for
proposals with a 0.3 s bid deadline. Measured off the event loop, the bid arrives while
the measurement is still running; measured on the loop (the old behaviour, kept as the
contrast), the call expires unanswered.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.agents.test_auction import request, star

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.nfva.settings import AuctionSettings
from secmas.network.clock import Offload, ScaledClock
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.images import WrappedImage, wrap_native_image
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import Evidence, Verifier
from secmas.trust.chain import AttesterEndpoint, attest_subject
from secmas.trust.control import ControlPlane
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.repository import ReferenceRepository

PIPELINE = "offload-test"
TWO = [("A", 4, 8, 100, 50, 5, 0.0), ("B", 4, 8, 100, 50, 5, 0.0)]
LIBTORCH = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"


@pytest.fixture(scope="module")
def big_image() -> WrappedImage:
    """A native image whose runtime measurement takes about a second."""
    key = Ed25519PrivateKey.generate()
    return wrap_native_image(LIBTORCH, key, ReferenceRepository(":memory:"))


async def _execute(req: GoalRequest, bid: Bid, payload: dict[str, Any]) -> dict[str, Any]:
    return {"done": req.goal}


async def _bid_while_measured(image: WrappedImage, offload: Offload | None) -> dict[str, Any]:
    """Challenge B, then call for proposals at once; what B bid and when its evidence came."""
    infra = Infrastructure.from_scenario(star(TWO))
    bus, clock = MemoryBus(), ScaledClock()
    settings = AuctionSettings(bid_deadline=0.3, attempts=1)
    boxes = {n: Mailbox(n, infra, bus, clock, _execute, settings, seed=3) for n in ("A", "B")}
    for box in boxes.values():
        await box.start()
    bidder, verifier = AgentIdentity.generate("B"), AgentIdentity.generate("V")
    directory = {i.name: PeerKeys.of(i) for i in (bidder, verifier)}
    measuring, measured = threading.Event(), threading.Event()
    proposals: list[bool] = []  # per PROPOSE from B: was B's measurement still running?

    def measure() -> Any:
        measuring.set()
        try:
            return image.runtime.measure()
        finally:
            measured.set()

    async def spy(subject: str, data: bytes) -> None:
        message = ACLMessage.decode(data)
        if message.performative is Performative.PROPOSE and message.sender == "B":
            proposals.append(measuring.is_set() and not measured.is_set())

    await bus.subscribe("nfva.agent.*", spy)

    attester = AttesterEndpoint(
        bidder, PIPELINE, measure, ControlPlane(bus, bidder, directory, PIPELINE), offload
    )
    await attester.start()
    challenge = Verifier("V").challenge("B")
    asking = asyncio.ensure_future(
        ControlPlane(bus, verifier, directory, PIPELINE).request(
            attest_subject(PIPELINE, "B"), "B", challenge.encode(), 60.0
        )
    )
    goal = request("linkRateLimited", "A", 0.0, "pop6~server")
    record = await boxes["A"].auction(goal, {}, ["A", "B"])
    evidence = Evidence.decode(await asking)
    for box in boxes.values():
        await box.stop()
    await bus.close()
    return {
        "bidders": sorted(b.bidder for b in record.outcome.bids),
        "measured": measured.is_set(),
        "proposed_while_measured": proposals,
        "evidence_ok": evidence.measurement.root == image.reference.root,
    }


def test_a_bidder_being_measured_off_its_loop_bids_in_time(big_image: WrappedImage) -> None:
    seen = asyncio.run(_bid_while_measured(big_image, asyncio.to_thread))
    assert seen["bidders"] == ["A", "B"]
    assert seen["proposed_while_measured"] == [True]
    assert seen["measured"] and seen["evidence_ok"]


def test_a_bidder_measured_on_its_loop_misses_the_call(big_image: WrappedImage) -> None:
    seen = asyncio.run(_bid_while_measured(big_image, None))
    assert seen["bidders"] == ["A"]
    assert seen["proposed_while_measured"] == [False]  # late, once the loop was free again
    assert seen["measured"] and seen["evidence_ok"]
