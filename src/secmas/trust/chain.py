"""The attestation chain: initial attestation by SECaaS, then mutual attestation with a
rotating software root of trust, recorded on the ledger (`001_…` steps 9–12 and the
operation phase; `000_…` Section III.B).

Roles (RFC 9334): every agent is an attester (`AttesterEndpoint`, answering challenges
on the bus) and, when the registry contract elects it, the verifier of the next agent in
the plan (`VerifierRole`); SECaaS holds the reference measurements and hands each one to
the elected verifier sealed to that verifier's key, so other (possibly infected) agents
never learn it, with SECaaS's ledger signature for the step (`Ticket`): the verifier
records the reference and its verdict in one transaction (`RegistryClient.record_step`),
so that a step waits for one block, not two; the MLFO is the relying party
(`AttestationChain`) that revokes an agent whose attestation failed, which starts a
new key epoch on chain.

Challenges and evidence travel as envelopes between the verifier's and the attester's
identity keys (`secmas.trust.control`); the verifier challenges with the nonce the
contract drew when the step opened, records under it, and signs its verdict. The relying
party acts on a verdict only when its signature verifies under the verifier's registered
key and the on-chain record of the step says the same (verifier, measured agent, nonce,
evidence digest, result); anything else is the verifier's failure, never the measured
agent's.

A group attack (one corrupted agent vouching for another) fails because the chain starts
at an agent SECaaS verified itself, and the contract never makes a failed agent the root
of trust: a corrupted agent is measured by a genuine one and excluded before it could
verify anybody.

Large pipelines run several chains side by side, one per attestation group
(`secmas.trust.groups`), each with its own root of trust; every round of a group ends
with a guest step in which its root of trust measures a member of another group. Agents
corrupted after they passed could otherwise take a whole group and pass each other for
good; a guest step (or SECaaS's unannounced check) that fails one of them has SECaaS
audit its whole group itself (`audit`), so the group falls within one cross-check.

A verifier can still lie the other way: attested, it records and signs FAIL for whomever it
measures. So a FAIL is acted on only once an independent appraisal agrees: SECaaS
challenges the agent itself, beside the host measurer's check of the step. A refuted FAIL
costs its verifier its role, its trust and the root of trust (it is revoked; SECaaS's
recorded pass makes the agent it failed the root), never the agent it failed.

Ledger calls are blocking (the EVM, or HTTP to a node); they run in worker threads
(`Offload`) so that agents keep auctioning while an attestation step waits for its
transactions.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

from secmas.ledger.chain import Receipt
from secmas.ledger.errors import LedgerRevert
from secmas.ledger.ids import pipeline_id
from secmas.ledger.registry import AttestationRecord, Initial, RegistryClient
from secmas.network.clock import Offload
from secmas.transport.bus import BusClosed, NoResponders, Subscription
from secmas.trust.attestation import (
    NONCE_BYTES,
    Appraisal,
    Challenge,
    Evidence,
    EvidenceError,
    Measurement,
    Reference,
    SignedVerdict,
    Verifier,
    produce_evidence,
    unmeasured,
    unmeasured_reason,
)
from secmas.trust.control import SECAAS, ControlPlane
from secmas.trust.deadlines import Deadlines
from secmas.trust.envelope import Opened
from secmas.trust.identity import AgentIdentity
from secmas.trust.initials import InitialRecords
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.schedule import Due
from secmas.trust.sealing import SealError, open_sealed, seal
from secmas.trust.view import TrustView

logger = logging.getLogger(__name__)


UNREACHABLE_PAUSES = (0.5, 1.0)
"""Wall seconds before a challenge that found nobody or went unanswered is sent again
(with twice the timeout the last time): an attester unreachable for a moment (a broker
restart, a host busy measuring) is not one that fails, and is not revoked for it."""

VERIFIER_PAUSES = (0.5, 1.0, 2.0, 4.0)
"""Wall seconds before an elected verifier that nobody answered for (no subscription: the
broker restarted and its client is not back yet) is asked again rather than replaced."""

HELD_STEPS = 3
"""Steps in a row the chain waits for a silent agent (`AttestationChain.silent`) before it
challenges it, or asks it to verify, all the same."""


def challenge_lifetime(timeout: float) -> float:
    """How long a challenge stays answerable: every try `_retried` makes and its pauses,
    so that evidence an attester slow to measure sends on the last try is not stale."""
    return 4 * timeout + sum(UNREACHABLE_PAUSES)


async def _retried(call: Callable[[float], Awaitable[Any]], timeout: float, what: str) -> Any:
    """`call(timeout)`, asked again after each of UNREACHABLE_PAUSES when it times out or
    finds nobody; the last try waits twice as long. Raises what the last try raised."""
    for pause in UNREACHABLE_PAUSES:
        try:
            return await call(timeout)
        except TimeoutError as exc:  # NoResponders too
            logger.warning("%s unreachable (%s); again in %g s", what, type(exc).__name__, pause)
            await asyncio.sleep(pause)
    return await call(2 * timeout)


class VerifierFailed(RuntimeError):
    """An elected verifier could not verify the open step (its reason is the text)."""


class VerdictRejected(VerifierFailed):
    """A verdict the relying party does not act on: its signature or the chain disagree."""


Measure = Callable[[], Measurement]
"""An agent's runtime measurement subroutine."""
Measured = Callable[[], Awaitable[Measurement]]
"""The same, awaited (`AttesterEndpoint`'s `measured`)."""


def attest_subject(pipeline: str, agent: str) -> str:
    """The bus subject an agent's attester listens on."""
    return f"secmas.attest.{pipeline}.{agent}"


def reference_context(pipeline: str, step: int) -> bytes:
    """Associated data binding a sealed reference to its pipeline and step."""
    return f"secmas/reference/{pipeline}/{step}".encode()


@dataclass(frozen=True)
class Peer:
    """A pipeline member as the chain knows it: name, account and registered keys."""

    name: str
    address: str
    signing_key: bytes
    sealing_key: bytes

    @cached_property
    def keys(self) -> PeerKeys:
        """Its keys as a link key directory holds them: made once per `Peer`, which the
        agents of one process share (a directory entry per agent, not a copy)."""
        return PeerKeys(self.sealing_key, self.signing_key)


class AttesterEndpoint:
    """An agent's attester: measures itself on every challenge and signs the result.

    Challenges arrive sealed from their verifier (SECaaS or a member); one whose sender is
    not the verifier it names, or that is not for this agent, is counted and left
    unanswered; the challenger then times out, which its verifier records as a failure.

    Measuring and signing run through `offload` (a worker thread; on the virtual clock,
    work the clock waits for), never on the agent's event loop: an agent being measured
    still answers its calls for proposals in time (`000_…`: security that does not
    impede near-real-time work). Without `offload` they run inline. With `measured` the
    measurement is awaited instead (it offloads its own work, and may share it with the
    other agents of the process: `RuntimeImage.measured`); signing still goes through
    `offload`."""

    def __init__(
        self,
        identity: AgentIdentity,
        pipeline: str,
        measure: Measure,
        control: ControlPlane,
        offload: Offload | None = None,
        measured: Measured | None = None,
    ):
        self.identity = identity
        self.pipeline = pipeline
        self.measure = measure
        self.control = control
        self.offload = offload
        self.measured = measured
        self.answered = 0
        self.malformed = 0
        self.unmeasured = 0
        """Challenges it could not measure itself for (each answered as such)."""
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.control.serve(
            attest_subject(self.pipeline, self.identity.name), self._on_challenge
        )

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_challenge(self, opened: Opened) -> bytes | None:
        try:
            challenge = Challenge.decode(opened.payload)
        except EvidenceError as exc:
            self.malformed += 1
            logger.warning("%s: dropped a malformed challenge: %s", self.identity.name, exc)
            return None
        if challenge.measured != self.identity.name or challenge.verifier != opened.sender:
            self.malformed += 1
            return None
        try:
            if self.offload is None:
                evidence = self._evidence(challenge)
            elif self.measured is not None:
                measurement = await self.measured()
                evidence = await self.offload(self._signed, challenge, measurement)
            else:
                evidence = await self.offload(self._evidence, challenge)
        except Exception as exc:  # fail the step now: silence would hold it for its wait
            logger.exception("%s: could not measure itself", self.identity.name)
            self.unmeasured += 1
            return unmeasured(self.identity.name, f"{type(exc).__name__}: {exc}")
        self.answered += 1
        return evidence

    def _evidence(self, challenge: Challenge) -> bytes:
        """Measure now and sign the measurement with the challenge's nonce."""
        return self._signed(challenge, self.measure())

    def _signed(self, challenge: Challenge, measurement: Measurement) -> bytes:
        return produce_evidence(self.identity, challenge, measurement).encode()


async def challenge_over_bus(
    control: ControlPlane, verifier: Verifier, measured: str, nonce: bytes, deadlines: Deadlines
) -> Evidence | Appraisal:
    """Challenge `measured` with `nonce`, sealed: its evidence, or a failed appraisal when
    no well-formed evidence comes back from it within the waits `deadlines` set."""
    subject = attest_subject(control.pipeline, measured)
    wait = deadlines.wait(measured)
    lifetime = challenge_lifetime(wait)

    async def ask(patience: float) -> bytes:
        challenge = verifier.challenge(measured, nonce, lifetime)  # fresh on every try
        started = time.perf_counter()
        answer = await control.request(
            subject, measured, challenge.encode(), patience, handling=deadlines.handling
        )
        deadlines.answered(measured, time.perf_counter() - started)
        return answer

    try:
        answer = await _retried(ask, wait, f"attester {measured}")
        refused = unmeasured_reason(answer)
        if refused is not None:
            return Appraisal(measured, False, (f"{measured} could not measure itself: {refused}",))
        return Evidence.decode(answer)
    except (TimeoutError, BusClosed, LookupError) as exc:
        reason = f"no evidence from {measured} ({type(exc).__name__})"
    except EvidenceError as exc:
        reason = f"malformed evidence from {measured}: {exc}"
    return Appraisal(measured, False, (reason,))


async def appraise_over_bus(
    control: ControlPlane,
    verifier: Verifier,
    measured: Peer,
    reference: bytes,
    nonce: bytes,
    deadlines: Deadlines,
) -> Appraisal:
    """Challenge `measured` and appraise its evidence against the `reference` root."""
    got = await challenge_over_bus(control, verifier, measured.name, nonce, deadlines)
    if isinstance(got, Appraisal):
        return got
    return verifier.appraise(got, reference, measured.signing_key)


@dataclass(frozen=True)
class Ticket:
    """What SECaaS hands the elected verifier of step `step` off chain: the reference
    sealed to the verifier and SECaaS's ledger signature over it and the step
    (`RegistryClient.sign_reference`), which the contract checks when the verifier records
    both with its verdict."""

    step: int
    sealed_reference: bytes
    signature: bytes
    group: int = 0
    block: int | None = None
    """The block SECaaS read the step on, which the verifier reads it on too (None: the
    latest). What it reads there is the chain's word, not SECaaS's: a block where another
    step was open leads to a verdict the contract refuses."""


@dataclass(frozen=True)
class Verdict:
    """What the elected verifier reports: whom it attested, how, its signed verdict and
    the chain record."""

    measured: Peer
    appraisal: Appraisal
    signed: SignedVerdict
    tx: str
    block: int
    new_root: str


class Verifies(Protocol):
    """An elected verifier, in this process (`VerifierRole`) or another (`RemoteVerifier`)."""

    async def verify_open_step(self, peers: Mapping[str, Peer], ticket: Ticket) -> Verdict: ...


@dataclass
class VerifierRole:
    """What an agent does when the contract elects it verifier of the open step: open
    the sealed reference SECaaS handed it, challenge the measured agent, record the
    reference and the verdict on chain in one transaction."""

    identity: AgentIdentity
    registry: RegistryClient
    control: ControlPlane
    pipeline: str
    timeout: float = 5.0
    offload: Offload = asyncio.to_thread
    deadlines: Deadlines | None = None
    """How long to wait for evidence and on which clock; default: measured round trips,
    never below `timeout` (`Deadlines.measured`)."""
    verifier: Verifier = field(init=False)

    def __post_init__(self) -> None:
        if self.deadlines is None:
            self.deadlines = Deadlines.measured(self.timeout)
        self.verifier = _verifier(self.identity.name, self.deadlines)

    async def verify_open_step(self, peers: Mapping[str, Peer], ticket: Ticket) -> Verdict:
        """Attest the open step's measured agent with the reference in `ticket`; `peers`
        maps addresses to members."""
        pid = pipeline_id(self.pipeline)
        step = await self.offload(self.registry.current_step, pid, ticket.group, ticket.block)
        if (
            step is None
            or step.index != ticket.step
            or step.verifier != self.registry.sender.address
        ):
            raise VerifierFailed(f"no open step {ticket.step} for {self.identity.name} to verify")
        measured = peers[step.measured]
        try:
            context = reference_context(self.pipeline, step.index)
            reference = Reference.decode(
                open_sealed(ticket.sealed_reference, self.identity.sealing, context)
            )
        except (SealError, EvidenceError) as exc:
            appraisal = Appraisal(measured.name, False, (f"unusable reference: {exc}",))
        else:
            appraisal = await appraise_over_bus(
                self.control, self.verifier, measured, reference.root, step.nonce, self.deadlines
            )
        signed = SignedVerdict(
            self.pipeline,
            step.index,
            step.nonce,
            measured.name,
            self.identity.name,
            appraisal.evidence,
            appraisal.passed,
        ).signed_by(self.identity)
        try:
            receipt = await self.offload(
                self.registry.record_step,
                pid,
                step.index,
                step.nonce,
                appraisal.passed,
                appraisal.evidence,
                ticket.sealed_reference,
                ticket.signature,
                ticket.group,
            )
        except LedgerRevert as exc:  # the step closed after the block it was read on
            raise VerifierFailed(f"step {step.index}: the verdict was refused: {exc}") from exc
        return Verdict(
            measured,
            appraisal,
            signed,
            receipt.tx_hash,
            receipt.block,
            _new_root(receipt, step.nonce),
        )


@dataclass(frozen=True)
class Expected:
    """What SECaaS's reference repository says an agent must measure."""

    image: str
    measurement: Measurement

    def reference(self, agent: str) -> Reference:
        """The compact reference (the root) sealed to a verifier."""
        return Reference(agent, self.image, self.measurement.root)


RANDOM = "random"
"""The kind of a `ChainEntry` SECaaS settled unannounced (`AttestationChain.attest`)."""

REFUTED_SILENCES = 2
"""Refuted FAILs for evidence that never came before their verifier is revoked: the
first may be an honest verifier's report of a busy agent (`AttestationChain._cross_check`)."""

CROSS_CHECK = "cross-check"
"""The kind of a `ChainEntry` in which SECaaS's own appraisal refuted a verifier's FAIL
(`AttestationChain._cross_check`)."""

AUDIT = "audit"
"""The kind of a `ChainEntry` SECaaS settled auditing a group one of whose members was
failed from outside it (`AttestationChain.audit`)."""

GUEST = "guest"
"""The kind of a `ChainEntry` of a guest step: a group's root of trust measured a member
of another group."""


@dataclass(frozen=True)
class ChainEntry:
    """One attestation as recorded on chain, with what only the verifier saw (reasons)."""

    kind: str  # "initial", "random", "audit" (by SECaaS), "mutual", "guest", "cross-check"
    step: int
    measured: str
    verifier: str
    passed: bool
    root_of_trust: str
    tx: str
    block: int
    wall_ms: float
    reasons: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()
    revoke_tx: str | None = None
    time: float | None = None
    """Run time (simulated seconds) when the relying party settled it; None without a clock."""
    unmeasured: bool = False
    """The host's measurer did not answer: no verdict on the agent, which is withdrawn
    until a check passes, not revoked (reported as `unmeasured`, not `fail`)."""
    group: int = 0
    """The attestation group whose chain recorded it (the measured agent's, for SECaaS's)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step": self.step,
            "group": self.group,
            "time": None if self.time is None else round(self.time, 3),
            "measured": self.measured,
            "verifier": self.verifier,
            "result": "pass" if self.passed else "unmeasured" if self.unmeasured else "fail",
            "root_of_trust": self.root_of_trust,
            "tx": self.tx,
            "block": self.block,
            "wall_ms": round(self.wall_ms, 3),
            "reasons": list(self.reasons),
            "differing": list(self.differing),
            "revoke_tx": self.revoke_tx,
        }


Revoked = Callable[[Peer, str], Awaitable[None]]
"""Told after the MLFO revoked an agent (with the reason): e.g. push a new key epoch."""

INITIAL_TRIES = 3
"""How often the initial attestation is made while the host's measurer leaves it
unanswered (`AttestationChain.initial`)."""

ExternalCheck = Callable[[str], Awaitable[MeasurerAppraisal]]
"""The host measurer's verdict on an agent's process, from a party the agent cannot
answer for (`secmas.trust.measurer_service.ExternalAttestation.check`)."""


@dataclass
class AttestationChain:
    """Drives the chain for one pipeline: SECaaS's initial attestation, then steps in
    which SECaaS hands the elected verifier the sealed reference (`Ticket`), it attests, and the
    MLFO (relying party) revokes whoever failed; between the steps, SECaaS's unannounced
    checks of agents picked at random (`attest`)."""

    pipeline: str
    control: ControlPlane
    """SECaaS's control-plane endpoint (its identity challenges the first agent)."""
    secaas_registry: RegistryClient
    mlfo_registry: RegistryClient
    peers: dict[str, Peer]  # by address
    expected: dict[str, Expected]  # by agent name
    roles: Mapping[str, Verifies]  # by agent name
    view: TrustView
    timeout: float = 5.0
    offload: Offload = asyncio.to_thread
    on_halt: Revoked | None = None
    """Told first when an agent is revoked, before the revocation's transaction: the
    agent takes no further action from the verdict on, not a ledger round trip later
    (seconds on a loaded machine, in which a revoked agent went on acting)."""
    on_revoke: Revoked | None = None
    """Told once the revocation is on chain (its new key epoch keys the others)."""
    entries: list[ChainEntry] = field(default_factory=list)
    external: ExternalCheck | None = None
    """Consulted before a pass is acted on: a failed external measurement revokes too.
    Each check starts with its step, so that the host measurer (another process) works
    while the agent measures itself."""
    now: Callable[[], float] | None = None
    """The run's clock (simulated seconds): each entry records when it was settled."""
    deadlines: Deadlines | None = None
    """SECaaS's waits for evidence; default: measured round trips, never below `timeout`."""
    silent: Callable[[str], bool] | None = None
    """Whether an agent is silent now (the liveness monitor withdrew it from auctions):
    nothing challenges it, or asks it to verify, until it answers again (`_waits_for`)."""
    held: dict[int, int] = field(default_factory=dict)
    """Per group, its steps that waited in a row for a silent agent."""
    refuted: dict[str, int] = field(default_factory=dict)
    """Per verifier, its refuted FAILs that claimed no evidence came (`_cross_check`)."""
    groups: tuple[tuple[str, ...], ...] = ()
    """The attestation groups, each in its plan's order (`secmas.trust.groups`), as set
    on chain; default: one group of every peer."""

    def __post_init__(self) -> None:
        if self.deadlines is None:
            self.deadlines = Deadlines.measured(self.timeout)
        self._secaas_verifier = _verifier(SECAAS, self.deadlines)
        self._pid = pipeline_id(self.pipeline)
        self._initials = InitialRecords(self.secaas_registry, self._pid, self.offload)
        self.regroup(self.groups or (tuple(p.name for p in self.peers.values()),))

    def group_of(self, agent: str) -> int:
        """The attestation group `agent` is measured in."""
        return self._group_of.get(agent, 0)

    def regroup(self, groups: tuple[tuple[str, ...], ...]) -> None:
        """The groups as set on chain anew (an agent added to the pipeline)."""
        self.groups = groups
        self._group_of = {name: g for g, members in enumerate(groups) for name in members}

    @property
    def secaas(self) -> AgentIdentity:
        return self.control.identity

    def peer(self, name: str) -> Peer:
        """The member called `name`."""
        for peer in self.peers.values():
            if peer.name == name:
                return peer
        raise KeyError(name)

    async def initial(self, first: str) -> ChainEntry:
        """Steps 9–12: SECaaS attests `first` itself; a pass makes it the root of trust.

        A check the host's measurer left unanswered says nothing of the agent (it is
        withdrawn, not revoked): it is made again, up to `INITIAL_TRIES` times in all (a
        measurer that missed twice is replaced meanwhile). On a loaded machine a measurer
        busy for the first check's wait failed the whole bring-up."""
        entry = await self._by_secaas(first, "initial")
        for _ in range(INITIAL_TRIES - 1):
            if entry.passed or entry.revoke_tx is not None:
                break
            logger.warning("%s unmeasured at the initial attestation; asked again", first)
            entry = await self._by_secaas(first, "initial")
        return entry

    async def attest(self, due: Due) -> ChainEntry | None:
        """What the timetable says is due (`secmas.trust.schedule`): the periodic mutual
        step, or an unannounced check of a trusted agent picked at random (None when
        nobody is trusted)."""
        if not due.unannounced:
            return await self.step(due.group)
        trusted = [
            p.name for p in self.peers.values() if self.view.admits(p.name) and not self._mute(p)
        ]
        if not trusted:
            return None
        entry = await self._by_secaas(due.pick(trusted), RANDOM)
        await self._audit_if_failed(entry)
        return entry

    async def audit(self, group: int, besides: str = "") -> None:
        """SECaaS attests every admitted member of `group` (but `besides`) itself: one of
        them was failed from outside the group, so the group's own chain vouched for a
        corrupted agent, and none of its passes since is worth anything. Whoever fails
        is revoked; the group falls at once, not one step at a time (the entries)."""
        logger.warning("auditing attestation group %d", group)
        for name in self.groups[group]:
            if name != besides and self.view.admits(name):
                await self._by_secaas(name, AUDIT)

    async def _audit_if_failed(self, entry: ChainEntry | None) -> None:
        """Audit the group of an agent that a check from outside its group failed and
        revoked; with one group there is no outside, and SECaaS's checks go on as before."""
        if len(self.groups) > 1 and entry is not None and entry.revoke_tx is not None:
            await self.audit(self.group_of(entry.measured), besides=entry.measured)

    async def _by_secaas(self, agent: str, kind: str) -> ChainEntry:
        """SECaaS attests `agent` itself under its own fresh nonce, recorded on chain as
        an initial attestation is (a pass makes `agent` the root of trust, which the step
        then open is handed to). The agent learns of it only from the challenge, so an
        unannounced check (`kind` RANDOM) is nothing it can prepare for; nobody appraises
        itself."""
        started = time.perf_counter()
        peer = self.peer(agent)
        outside = self._outside(agent)
        appraisal, nonce = await self._appraised_by_secaas(peer)
        try:
            verdict = await self._recorded_by_secaas(peer, appraisal, nonce)
        finally:
            checked = await _outcome(outside)
        group = self.group_of(agent)
        return await self._settle(kind, 0, SECAAS, verdict, started, checked, group)

    async def _appraised_by_secaas(self, peer: Peer) -> tuple[Appraisal, bytes]:
        """SECaaS challenges `peer` itself under a fresh nonce of its own and appraises
        the evidence against the full reference it holds: the appraisal and the nonce."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        appraisal = await appraise_over_bus(
            self.control,
            self._secaas_verifier,
            peer,
            self.expected[peer.name].measurement.root,
            nonce,
            self.deadlines,
        )
        return appraisal, nonce

    async def _recorded_by_secaas(self, peer: Peer, appraisal: Appraisal, nonce: bytes) -> Verdict:
        """SECaaS's appraisal signed and recorded on chain as an initial attestation (a
        pass makes `peer` trusted and the root of trust), checked as any verdict is."""
        signed = SignedVerdict(
            self.pipeline, 0, nonce, peer.name, SECAAS, appraisal.evidence, appraisal.passed
        ).signed_by(self.secaas)
        receipt = await self._initials.recorded(
            Initial(peer.address, nonce, appraisal.passed, appraisal.evidence)
        )
        verdict = Verdict(
            peer, appraisal, signed, receipt.tx_hash, receipt.block, _new_root(receipt, nonce)
        )
        secaas = self.secaas_registry.sender.address
        group = self.group_of(peer.name)
        await self._check(verdict, 0, nonce, self.secaas.signing_public, secaas, group)
        return verdict

    async def step(self, group: int = 0) -> ChainEntry | None:
        """One mutual attestation step of `group`; None when no step can open (no root of
        trust) or the open one waits for a silent agent. A guest step that fails its
        guest has SECaaS audit the guest's group (`audit`)."""
        entry = await self._step(group)
        if entry is not None and entry.kind == GUEST:
            await self._audit_if_failed(entry)
        return entry

    async def _step(self, group: int) -> ChainEntry | None:
        started = time.perf_counter()
        block, step = await self.offload(self.secaas_registry.latest_step, self._pid, group)
        if step is None:
            return await self._restart(group)
        verifier, measured = self.peers[step.verifier], self.peers[step.measured]
        if self._waits_for(verifier, measured, group):
            return None
        sealed = seal(
            self.expected[measured.name].reference(measured.name).encode(),
            verifier.sealing_key,
            reference_context(self.pipeline, step.index),
        )
        signature = await self.offload(self.secaas_registry.sign_reference, self._pid, step, sealed)
        role = self.roles.get(verifier.name)
        if role is None:
            raise RuntimeError(f"verifier {verifier.name} has no verifier role in this process")
        outside = self._outside(measured.name)
        ticket = Ticket(step.index, sealed, signature, group, block)
        try:
            verdict = await self._ask(role, verifier.name, ticket)
            if verdict.measured.address != measured.address:
                raise VerdictRejected(f"verdict on {verdict.measured.name}, not {measured.name}")
            await self._check(
                verdict, step.index, step.nonce, verifier.signing_key, verifier.address, group
            )
        except VerdictRejected as exc:
            await _outcome(outside)
            self.view.withdraw(measured.name)  # re-attested by an honest verifier later
            return await self._reanchor(verifier, f"verdict rejected: {exc}")
        except (TimeoutError, BusClosed, VerifierFailed) as exc:
            await _outcome(outside)
            if await self._superseded(ticket):
                logger.warning(
                    "step %d closed while %s verified it: %s", step.index, verifier.name, exc
                )
                return None  # the MLFO revoked someone meanwhile: not the verifier's fault
            return await self._reanchor(verifier, f"elected verifier unresponsive: {exc}")
        checked = await _outcome(outside)
        kind = GUEST if step.guest else "mutual"
        if not verdict.appraisal.passed:
            return await self._cross_check(verifier, verdict, ticket, kind, started, checked)
        return await self._settle(kind, step.index, verifier.name, verdict, started, checked, group)

    async def _cross_check(
        self,
        verifier: Peer,
        verdict: Verdict,
        ticket: Ticket,
        kind: str,
        started: float,
        outside: MeasurerAppraisal | None,
    ) -> ChainEntry:
        """A verifier's FAIL is acted on only once an independent appraisal agrees (issue
        38 item 2): SECaaS challenges the measured agent itself, and the host measurer has
        checked it during the step. The FAIL stands when SECaaS fails the agent too or the
        measurer did. Otherwise it is refuted: it stays on record, not acted on; SECaaS's
        pass is recorded, which trusts the agent again and makes it the root of trust; and
        the verifier is revoked, losing its role and its trust, so that one lying verifier
        can take out nobody but itself. A FAIL for evidence that never came may be the
        honest report of a busy agent that answers SECaaS a moment later: its verifier is
        revoked on its second such refuted FAIL (`REFUTED_SILENCES`), not its first."""
        measured, step, group = verdict.measured, ticket.step, ticket.group
        second, nonce = await self._appraised_by_secaas(measured)
        measurer_failed = outside is not None and not (outside.passed or outside.measurer_down)
        if not second.passed or measurer_failed:
            return await self._settle(kind, step, verifier.name, verdict, started, outside, group)
        overturned = (*verdict.appraisal.reasons, "overturned: SECaaS's own appraisal passed it")
        lie = replace(verdict.appraisal, reasons=overturned)
        self.entries.append(self._entry(kind, step, verifier.name, verdict, lie, started, group))
        recorded = await self._recorded_by_secaas(measured, second, nonce)
        own = self.group_of(measured.name)
        entry = await self._settle(CROSS_CHECK, 0, SECAAS, recorded, started, outside, own)
        if verdict.appraisal.evidence == bytes(32):
            strikes = self.refuted[verifier.name] = self.refuted.get(verifier.name, 0) + 1
            if strikes < REFUTED_SILENCES:
                logger.warning(
                    "%s found no evidence from %s, which answered SECaaS: FAIL overturned",
                    verifier.name,
                    measured.name,
                )
                return entry
        logger.warning("%s failed %s, refuted by SECaaS: revoking it", verifier.name, measured.name)
        await self.revoke(verifier, f"its FAIL of {measured.name} (step {step}) was refuted")
        return entry

    async def _superseded(self, ticket: Ticket) -> bool:
        """Whether the ticket's step is no longer its group's open one: a revocation (the
        SSLA manager's, a loop's) or SECaaS's own check closed it while its verifier
        worked, so that the verifier's record of it reverts ("wrong step index") through
        no fault of its own."""
        step = await self.offload(self.secaas_registry.current_step, self._pid, ticket.group)
        return step is None or step.index != ticket.step

    def _mute(self, peer: Peer) -> bool:
        return self.silent is not None and self.silent(peer.name)

    def _waits_for(self, verifier: Peer, measured: Peer, group: int) -> bool:
        """Whether the open step waits for its verifier or measured agent, silent now: it
        is challenged once it answers again, so that a stop (SIGSTOP, a hung loop) is not
        failed, nor revoked, as a broken agent is (and one tampered with while stopped is
        caught then). After HELD_STEPS waits in a row the step goes on all the same: a
        dead agent delays the others' attestation that long at most."""
        mute = [p.name for p in (verifier, measured) if self._mute(p)]
        held = self.held.get(group, 0)
        if not mute or held >= HELD_STEPS:
            self.held[group] = 0
            return False
        self.held[group] = held + 1
        logger.info("attestation step waits for %s, silent (%d)", ", ".join(mute), held + 1)
        return True

    def _outside(self, agent: str) -> asyncio.Future[MeasurerAppraisal] | None:
        """The host measurer's check of `agent`, started now (None without a measurer)."""
        return None if self.external is None else asyncio.ensure_future(self.external(agent))

    async def _check(
        self,
        verdict: Verdict,
        step: int,
        nonce: bytes,
        signing_key: bytes,
        verifier: str,
        group: int,
    ) -> None:
        """The relying party's checks before it acts: the verdict is signed by the step's
        verifier over this step and nonce, agrees with the appraisal it came with, and the
        group's chain holds the same record. VerdictRejected says which check failed."""
        signed, appraisal = verdict.signed, verdict.appraisal
        if not signed.valid(signing_key):
            raise VerdictRejected("bad signature for the verifier's registered key")
        claims = (signed.pipeline, signed.step, signed.nonce, signed.measured)
        if claims != (self.pipeline, step, nonce, verdict.measured.name):
            raise VerdictRejected(f"verdict signed for another step: {claims[:2]}")
        if (signed.passed, signed.evidence) != (appraisal.passed, appraisal.evidence):
            raise VerdictRejected("the signed verdict and its appraisal differ")
        record = await self.offload(self._record_of, verdict, nonce, group)
        if record is None:
            raise VerdictRejected("no record on chain under the step's nonce")
        seen = (record.step, record.measured, record.verifier, record.passed, record.evidence)
        said = (step, verdict.measured.address, verifier, signed.passed, signed.evidence)
        if seen != said:
            raise VerdictRejected("the on-chain record differs from the signed verdict")

    def _record_of(self, verdict: Verdict, nonce: bytes, group: int) -> AttestationRecord | None:
        """The record the verdict's transaction wrote, if it wrote one for `group` under
        `nonce`: read from that transaction's log in its block (no contract call)."""
        measured = verdict.measured.address
        record = self.mlfo_registry.recorded_in(
            self._pid, verdict.tx, verdict.block, measured, nonce
        )
        if record is None or record.group != group:
            return None
        return record

    async def _ask(self, role: Verifies, name: str, ticket: Ticket) -> Verdict:
        """The elected verifier's verdict on the step `ticket` hands it; asked again while
        nobody answers for it (a broker restart), and once more when its answer does not
        come while the step is still open (a reply lost in a fail-over), so that an
        unreachable verifier is not taken for a dead one."""
        pauses, asked_again = iter(VERIFIER_PAUSES), False
        while True:
            try:
                return await role.verify_open_step(self.peers, ticket)
            except NoResponders:
                pause = next(pauses, None)
                if pause is None:
                    raise
                logger.warning("verifier %s unreachable; asked again in %g s", name, pause)
                await asyncio.sleep(pause)
            except TimeoutError as exc:
                if asked_again or await self._superseded(ticket):
                    raise
                asked_again = True
                logger.warning("no verdict from %s (%s); asked once more", name, exc)

    async def _restart(self, group: int) -> ChainEntry | None:
        """No step of `group` is open: when that is because its chain lost its root of
        trust (the MLFO revoked an agent the chain had passed), SECaaS attests the group's
        first trusted member itself, the new root; None when there is a root (nothing to
        measure) or nobody."""
        if await self.offload(self.mlfo_registry.root_of_trust, self._pid, group) is not None:
            return None
        first = next((name for name in self.groups[group] if self.view.admits(name)), None)
        return None if first is None else await self.initial(first)

    async def _reanchor(self, verifier: Peer, reason: str) -> ChainEntry | None:
        """A dead root of trust stalls the chain: the MLFO revokes it (which closes the
        step) and SECaaS attests the next trusted agent itself, the new root of trust."""
        logger.warning("%s: %s; revoking it and re-anchoring the chain", verifier.name, reason)
        await self.revoke(verifier, reason)
        names = list(self.groups[self.group_of(verifier.name)])
        start = names.index(verifier.name)
        for name in names[start + 1 :] + names[:start]:
            if self.view.admits(name):
                return await self.initial(name)
        return None

    async def run(self, steps: int, group: int = 0) -> list[ChainEntry]:
        """Up to `steps` mutual steps of `group` (fewer when its chain cannot go on)."""
        done = []
        for _ in range(steps):
            entry = await self.step(group)
            if entry is None:
                break
            done.append(entry)
        return done

    async def _settle(
        self,
        kind: str,
        step: int,
        verifier: str,
        verdict: Verdict,
        started: float,
        outside: MeasurerAppraisal | None,
        group: int,
    ) -> ChainEntry:
        """Act as relying party on the verdict and keep the entry for the report; SECaaS's
        full reference names the parts that differ. A pass stands only if the host
        measurer's check (`outside`) passed too; when the measurer did not answer, the
        agent is unmeasured, not failed: withdrawn (not revoked) until a check passes."""
        measured, appraisal = verdict.measured, verdict.appraisal
        unmeasured = appraisal.passed and outside is not None and outside.measurer_down
        if appraisal.passed and outside is not None and not outside.passed:
            reasons = tuple(f"external measurement: {r}" for r in outside.reasons[:5])
            appraisal = replace(appraisal, passed=False, reasons=reasons)
        entry = self._entry(kind, step, verifier, verdict, appraisal, started, group)
        if appraisal.passed:
            self.view.trust(measured.name)
        elif unmeasured:
            entry = replace(entry, unmeasured=True)
            self.view.withdraw(measured.name)
            logger.warning("%s: %s; withdrawn until measured", measured.name, appraisal.reasons)
        else:
            reason = "; ".join(appraisal.reasons) or "attestation failed"
            differing = f": {', '.join(entry.differing)}" if entry.differing else ""
            logger.warning(
                "%s failed attestation (%s%s): revoked", measured.name, reason, differing
            )
            # Recorded before the revocation: its re-keying may outlast the run, whose end
            # cancels it, and the failure must stay on the record all the same.
            self.entries.append(entry)
            at = len(self.entries) - 1
            entry = self.entries[at] = replace(entry, revoke_tx=await self.revoke(measured, reason))
            return entry
        self.entries.append(entry)
        return entry

    async def revoke(self, peer: Peer, reason: str) -> str:
        """The MLFO excludes `peer` and halts it (`on_halt`), then revokes it on chain
        (which takes the root of trust from it if it holds it) and tells `on_revoke`:
        the revocation's transaction."""
        self.view.exclude(peer.name, reason)
        if self.on_halt is not None:
            await self.on_halt(peer, reason)
        receipt = await self.offload(self.mlfo_registry.revoke, self._pid, peer.address)
        if self.on_revoke is not None:
            await self.on_revoke(peer, reason)
        return receipt.tx_hash

    def _entry(
        self,
        kind: str,
        step: int,
        verifier: str,
        verdict: Verdict,
        appraisal: Appraisal,
        started: float,
        group: int,
    ) -> ChainEntry:
        """The report's entry for `verdict` as the relying party settled it (`appraisal`);
        SECaaS's full reference names the parts of a failed agent's report that differ."""
        root, report = verdict.new_root, verdict.appraisal.measurement
        differing: tuple[str, ...] = ()
        if not verdict.appraisal.passed and report is not None:
            differing = tuple(report.differing(self.expected[verdict.measured.name].measurement))
        return ChainEntry(
            kind=kind,
            step=step,
            measured=verdict.measured.name,
            verifier=verifier,
            passed=appraisal.passed,
            root_of_trust=self.peers[root].name if root in self.peers else "",
            tx=verdict.tx,
            block=verdict.block,
            wall_ms=(time.perf_counter() - started) * 1000,
            reasons=appraisal.reasons,
            differing=differing,
            time=None if self.now is None else self.now(),
            group=group,
        )


async def _outcome(
    check: asyncio.Future[MeasurerAppraisal] | None,
) -> MeasurerAppraisal | None:
    """A started external check's appraisal, waited for before the chain goes on (its
    worker thread must not overlap the next step's)."""
    return None if check is None else await check


def _verifier(name: str, deadlines: Deadlines) -> Verifier:
    """A verifier judging freshness on the deadlines' clock."""
    return Verifier(name, max_age=challenge_lifetime(deadlines.declared), clock=deadlines.clock)


def _new_root(receipt: Receipt, nonce: bytes) -> str:
    """The root of trust after an attestation, from its record's event (one transaction
    may record several: the one under its `nonce`)."""
    for event in receipt.events:
        if event.name == "AttestationRecorded" and event.args["nonce"] == nonce:
            return str(event.args["newRoot"])
    return ""
