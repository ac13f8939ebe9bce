"""An attester that cannot measure itself fails its step at once.

Its measurement raised (a bug in a plug-in's measured code once did), the challenge went
unanswered, and a verifier on the virtual clock, whose waits for an in-process attester
are bounded only by `HANDLING_CAP` wall seconds, held the step for three tries of that:
a secure in-process run hung at bring-up for 20 minutes instead of failing. The attester
now answers that it could not measure, and the verifier fails the step with the reason.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from secmas.network.clock import ScaledClock
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import NONCE_BYTES, Appraisal, Verifier
from secmas.trust.chain import AttesterEndpoint, challenge_over_bus
from secmas.trust.control import ControlPlane
from secmas.trust.deadlines import HANDLING_CAP, Deadlines
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys

PIPELINE = "failing-attester"


def broken_measure() -> Any:
    raise TypeError("unhashable type: 'dict'")


async def challenge_a_broken_attester() -> tuple[Appraisal | Any, AttesterEndpoint]:
    bus, clock = MemoryBus(), ScaledClock()
    attester, verifier = AgentIdentity.generate("B"), AgentIdentity.generate("V")
    directory = {i.name: PeerKeys.of(i) for i in (attester, verifier)}
    endpoint = AttesterEndpoint(
        attester,
        PIPELINE,
        broken_measure,
        ControlPlane(bus, attester, directory, PIPELINE),
        asyncio.to_thread,
    )
    await endpoint.start()
    deadlines = Deadlines.run_clock(5.0, clock.now)
    assert deadlines.handling == HANDLING_CAP  # the wait an unanswered challenge gets
    control = ControlPlane(bus, verifier, directory, PIPELINE)
    # a guard for the suite only: the old behaviour waited 3 × HANDLING_CAP
    got = await asyncio.wait_for(
        challenge_over_bus(control, Verifier("V"), "B", os.urandom(NONCE_BYTES), deadlines),
        HANDLING_CAP / 10,
    )
    await endpoint.stop()
    await bus.close()
    return got, endpoint


def test_a_measurement_that_raises_fails_the_step_with_its_reason() -> None:
    got, endpoint = asyncio.run(challenge_a_broken_attester())
    assert isinstance(got, Appraisal)
    assert not got.passed
    assert got.reasons == ("B could not measure itself: TypeError: unhashable type: 'dict'",)
    assert (endpoint.unmeasured, endpoint.answered) == (1, 0)
