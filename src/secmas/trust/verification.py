"""Mutual attestation across processes: the chain driver asks the elected verifier, an
agent in another process or host, to verify the open step.

The agent does the work with its own keys and its own ledger account (`VerifierRole`);
the driver only learns the verdict, which it could also read back from the chain. The
measured agent's report travels with the verdict so that SECaaS, which holds the full
reference, can name what changed.

Wire format (JSON over request/reply, subject `secmas.verify.<pipeline>.<agent>`):
request `{}`, answer `{"measured": ADDRESS, "appraisal": {...}, "tx": HASH, "block": N,
"new_root": ADDRESS}` or `{"error": TEXT}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from secmas.ledger.errors import LedgerError
from secmas.ledger.ids import pipeline_id
from secmas.ledger.registry import RegistryClient
from secmas.transport.bus import Bus, Subscription
from secmas.transport.nesting import too_deep
from secmas.trust.attestation import Appraisal, EvidenceError
from secmas.trust.chain import Peer, Verdict, VerifierFailed, VerifierRole

logger = logging.getLogger(__name__)

MAX_DEPTH = 6


def verify_subject(pipeline: str, agent: str) -> str:
    return f"secmas.verify.{pipeline}.{agent}"


def peers_from_registry(registry: RegistryClient, pipeline: str) -> dict[str, Peer]:
    """Every registered member with its keys, by address, as the chain knows them."""
    pid = pipeline_id(pipeline)
    peers = {}
    for address in registry.members(pid):
        info = registry.agent(pid, address)
        peers[address] = Peer(info.name, address, info.signing_key, info.sealing_key)
    return peers


class VerifierEndpoint:
    """An agent's side: verifies the open step when the driver asks."""

    def __init__(self, role: VerifierRole, peers: Mapping[str, Peer]) -> None:
        self.role = role
        self.peers = peers
        self._sub: Subscription | None = None

    async def start(self) -> None:
        subject = verify_subject(self.role.pipeline, self.role.identity.name)
        self._sub = await self.role.bus.subscribe(subject, self._verify)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _verify(self, _subject: str, _data: bytes) -> bytes:
        try:
            verdict = await self.role.verify_open_step(self.peers)
        except (LedgerError, KeyError) as exc:
            logger.warning("%s: cannot verify the open step: %s", self.role.identity.name, exc)
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        return json.dumps(
            {
                "measured": verdict.measured.address,
                "appraisal": verdict.appraisal.to_json(),
                "tx": verdict.tx,
                "block": verdict.block,
                "new_root": verdict.new_root,
            }
        ).encode()


class RemoteVerifier:
    """The driver's side: an elected verifier reached over the bus."""

    def __init__(self, bus: Bus, pipeline: str, agent: str, timeout: float = 30.0) -> None:
        self.bus = bus
        self.subject = verify_subject(pipeline, agent)
        self.timeout = timeout

    async def verify_open_step(self, peers: Mapping[str, Peer]) -> Verdict:
        answer = await self.bus.request(self.subject, b"{}", self.timeout)
        return _verdict(answer, peers)


def _verdict(answer: bytes, peers: Mapping[str, Peer]) -> Verdict:
    try:
        text = answer.decode()
        if too_deep(text, MAX_DEPTH):
            raise ValueError("answer nested too deeply")
        data: Any = json.loads(text)
        if "error" in data:
            raise VerifierFailed(str(data["error"]))
        return Verdict(
            peers[data["measured"]],
            Appraisal.from_json(data["appraisal"]),
            str(data["tx"]),
            int(data["block"]),
            str(data["new_root"]),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, EvidenceError) as exc:
        raise VerifierFailed(f"malformed verdict: {exc}") from None
