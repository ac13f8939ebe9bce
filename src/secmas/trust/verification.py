"""Mutual attestation across processes: the chain driver asks the elected verifier, an
agent in another process or host, to verify the open step.

The agent does the work with its own keys and its own ledger account (`VerifierRole`);
the driver learns the verdict, signed by the agent's identity key, and checks it against
the chain before it acts (`AttestationChain`). The measured agent's report travels with
the verdict so that SECaaS, which holds the full reference, can name what changed.

Request and answer are envelopes between the MLFO's and the agent's identity keys
(`secmas.trust.control`): the agent serves the MLFO only, and the MLFO takes only the
answer that opens as from the agent it asked, so nobody else on the bus can answer in
its name (a forged pass, or an error that would make the MLFO drop an honest verifier).

Wire format (JSON inside the envelopes, subject `secmas.verify.<pipeline>.<agent>`):
request `{"step": N, "group": G, "reference": HEX, "signature": HEX}` (the `Ticket`: the
attestation group's open step, the reference sealed to the agent and SECaaS's ledger
signature for the step), answer `{"measured":
ADDRESS, "appraisal": {...}, "verdict": {...}, "tx": HASH, "block": N, "new_root":
ADDRESS}` or `{"error": TEXT}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from secmas.ledger.errors import LedgerError
from secmas.ledger.ids import pipeline_id
from secmas.ledger.registry import AgentInfo, RegistryClient
from secmas.transport.bus import Subscription
from secmas.transport.nesting import too_deep
from secmas.trust.attestation import Appraisal, EvidenceError, SignedVerdict
from secmas.trust.chain import Peer, Ticket, Verdict, VerifierFailed, VerifierRole
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.envelope import Opened

logger = logging.getLogger(__name__)

MAX_DEPTH = 6


def verify_subject(pipeline: str, agent: str) -> str:
    return f"secmas.verify.{pipeline}.{agent}"


def peers_from_registry(registry: RegistryClient, pipeline: str) -> dict[str, Peer]:
    """Every registered member with its keys, by address, as the chain knows them. Each
    agent of a pipeline reads them all; the `Peer`s of one answer are made once and shared
    (`RegistryClient.member_pages`), so N agents in one process cost N dictionaries, not
    N² peers."""
    pages = registry.member_pages(pipeline_id(pipeline), _peers)
    return {peer.address: peer for page in pages for peer in page}


def _peers(infos: tuple[AgentInfo, ...]) -> tuple[Peer, ...]:
    return tuple(Peer(i.name, i.account, i.signing_key, i.sealing_key) for i in infos)


class VerifierEndpoint:
    """An agent's side: verifies the open step when the driver asks. A step about a
    member it does not know (one registered after it read the registry: the pipeline
    grew) has it read the members again from the registry, the only source it trusts,
    and `learned` is told of them (the agent's keys for the newcomer)."""

    def __init__(
        self,
        role: VerifierRole,
        peers: Mapping[str, Peer],
        learned: Callable[[Mapping[str, Peer]], None] | None = None,
    ) -> None:
        self.role = role
        self.peers = dict(peers)
        self.learned = learned
        self._sub: Subscription | None = None

    async def start(self) -> None:
        subject = verify_subject(self.role.pipeline, self.role.identity.name)
        self._sub = await self.role.control.serve(subject, self._verify)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _verify(self, opened: Opened) -> bytes | None:
        if opened.sender != MLFO:
            return None  # only the MLFO runs the chain
        try:
            verdict = await self._verify_step(ticket_from(opened.payload))
        except (LedgerError, KeyError, VerifierFailed) as exc:
            logger.warning("%s: cannot verify the open step: %s", self.role.identity.name, exc)
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        return json.dumps(
            {
                "measured": verdict.measured.address,
                "appraisal": verdict.appraisal.to_json(),
                "verdict": verdict.signed.to_json(),
                "tx": verdict.tx,
                "block": verdict.block,
                "new_root": verdict.new_root,
            }
        ).encode()

    async def _verify_step(self, ticket: Ticket) -> Verdict:
        try:
            return await self.role.verify_open_step(self.peers, ticket)
        except KeyError:  # a member registered since: read the members again, once
            role = self.role
            fresh = await role.offload(peers_from_registry, role.registry, role.pipeline)
            self.peers.update(fresh)
            if self.learned is not None:
                self.learned(fresh)
            return await self.role.verify_open_step(self.peers, ticket)


class RemoteVerifier:
    """The driver's side: an elected verifier reached over the bus."""

    def __init__(
        self,
        control: ControlPlane,
        agent: str,
        timeout: float = 30.0,
        handling: float | None = None,
    ) -> None:
        self.control = control
        self.agent = agent
        self.subject = verify_subject(control.pipeline, agent)
        self.timeout = timeout
        self.handling = handling
        """Wall seconds the verifier may take over its step (`ControlPlane.request`)."""

    async def verify_open_step(self, peers: Mapping[str, Peer], ticket: Ticket) -> Verdict:
        request = json.dumps(
            {
                "step": ticket.step,
                "group": ticket.group,
                "block": ticket.block,
                "reference": ticket.sealed_reference.hex(),
                "signature": ticket.signature.hex(),
            }
        ).encode()
        answer = await self.control.request(
            self.subject, self.agent, request, self.timeout, handling=self.handling
        )
        return _verdict(answer, peers)


def ticket_from(request: bytes) -> Ticket:
    """The `Ticket` in a verify request; VerifierFailed names what is wrong with it."""
    try:
        data: Any = json.loads(request.decode())
        step, group, block = data["step"], data["group"], data.get("block")
        if not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise ValueError(f"step {step!r} is not a step number")
        if not isinstance(group, int) or isinstance(group, bool) or not 0 <= group < 2**32:
            raise ValueError(f"group {group!r} is not a group number")
        if block is not None and (
            not isinstance(block, int) or isinstance(block, bool) or block < 0
        ):
            raise ValueError(f"block {block!r} is not a block number")
        return Ticket(
            step,
            bytes.fromhex(data["reference"]),
            bytes.fromhex(data["signature"]),
            group,
            block,
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise VerifierFailed(f"malformed verify request: {exc}") from None


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
            SignedVerdict.from_json(data["verdict"]),
            str(data["tx"]),
            int(data["block"]),
            str(data["new_root"]),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, EvidenceError) as exc:
        raise VerifierFailed(f"malformed verdict: {exc}") from None
