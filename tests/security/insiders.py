"""Attested insiders for the attack tests: agents of a real run turned in memory once it
runs, whose lie no measurement can see.

An agent's attester measures its agent object and what it acts through, its mailbox
included (`secmas.pipeline.agentwatch`): a method rebound there is revoked at the next
attestation step that measures it (`test_agent_parts_watched.py`). The tests of what an
attested agent can still do (lie in its bids, speak in another's name, break its
promises) are about the protocol, not the measurement: their insider lies in what it
says, as one whose code was never changed could (a compromised configuration, a forged
build that passed). `blind_spot` takes the parts it lies through off its attester's
watch, so it stays attested, as such an insider would.
"""

from __future__ import annotations

from typing import Any


def blind_spot(trust_layer: Any, pop: str, *parts: object) -> None:
    """Take `parts` of `pop`'s agent off what its attester measures (in one process: the
    member for `pop` of the in-process IML driver, which measures with its own image copy)."""
    image = trust_layer.iml.members[pop].image
    image.watched[:] = [ref for ref in image.watched if all(ref() is not p for p in parts)]
