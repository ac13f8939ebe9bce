"""Client of the AgentRegistry contract: agents, attestation plan, chain of trust.

Gas limits are explicit (measured, with headroom) so that no transaction pays for an
`eth_estimateGas` round: estimation costs as much as the transaction on the in-process EVM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eth_abi import encode
from eth_typing import ChecksumAddress
from eth_utils import keccak

from secmas.ledger.abi import indexed_topic
from secmas.ledger.chain import AccountLike, BoundContract, Receipt, address_of
from secmas.ledger.ids import ID_SIZE, id_name
from secmas.ledger.node import BLOCK_GAS_LIMIT

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DEFAULT_AGENT_FUNDING_WEI = 10**18
MAX_AGENTS_PER_REGISTRATION = 128
"""Keeps one registration under ~25 M gas (blocks hold 30 M here and on Hardhat)."""
T = TypeVar("T")

INITIALS_PER_TRANSACTION = 64
"""The SECaaS's attestations one transaction records at most (`record_initials`): their
gas stays under 20 M, within a block."""
MEMBER_PAGE = 256
"""Members per `memberRange` view call: ~20 k gas each (eight cold storage reads), well
within the gas a node allows a call."""

# Measured gas with headroom (a stored 32-byte word costs ~22.7k). Functions that elect the
# next verifier scan the plan past revoked entries (~4.8k gas each): the flat allowance
# covers ~190 revoked entries in a row.
_GAS_ELECTING = 1_000_000
_GAS_INITIAL = 300_000
"""A further attestation of `recordInitials` (168 k measured, the next agent active)."""
_GAS_REGISTER_BASE = 80_000
_GAS_REGISTER_PER_AGENT = 190_000
_GAS_PLAN_PER_ENTRY = (28_500, 50_000)
"""Per plan entry in the first group and in the others (28.2 k and 45.8 k measured): an
agent's group is written beside it, which costs nothing for group 0."""
_GAS_PLAN_PER_GROUP = 40_000  # 35.6 k measured
_GAS_REFERENCE_BASE = 90_000
_GAS_PER_STORED_WORD = 24_000


def _words(data: bytes) -> int:
    return (len(data) + 31) // 32


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) != ID_SIZE:
        raise ValueError(f"{what} must be {ID_SIZE} bytes, got {len(value)}")
    return bytes(value)


@dataclass(frozen=True, slots=True)
class Initial:
    """One of the SECaaS's own attestations: whom, under which fresh nonce, its verdict,
    and the digest of the evidence it appraised (32 bytes; required for a pass)."""

    measured: AccountLike
    nonce: bytes
    passed: bool
    evidence: bytes


@dataclass(frozen=True, slots=True)
class AgentRegistration:
    """An agent to register: its account, id and public keys (Ed25519, X25519; 32 bytes)."""

    account: ChecksumAddress | str
    agent_id: bytes
    signing_key: bytes
    sealing_key: bytes

    def __post_init__(self) -> None:
        _bytes32(self.agent_id, "agent_id")
        _bytes32(self.signing_key, "signing_key")
        _bytes32(self.sealing_key, "sealing_key")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as the registry holds it; `registered` is False for unknown accounts."""

    account: ChecksumAddress
    agent_id: bytes
    signing_key: bytes
    sealing_key: bytes
    registered: bool
    revoked: bool
    trusted: bool
    registered_at: int

    @property
    def name(self) -> str:
        """The agent id as text."""
        return id_name(self.agent_id)

    @property
    def is_trusted(self) -> bool:
        """What `isTrusted` answers for it: passed its last attestation, not revoked."""
        return self.trusted and not self.revoked


def trusted_accounts(infos: tuple[AgentInfo, ...]) -> frozenset[ChecksumAddress]:
    """The accounts among `infos` that `isTrusted` would answer yes for (a `member_pages`
    shape)."""
    return frozenset(info.account for info in infos if info.is_trusted)


@dataclass(frozen=True, slots=True)
class _Page(Generic[T]):
    """One page of members as its reader keeps it, and how many members it held."""

    shaped: T
    size: int


@dataclass(frozen=True, slots=True)
class _MemberPage(Generic[T]):
    """A `memberRange` answer as `AgentInfo`s, turned by `shape`; hashable, so that the
    same answer is shaped once whoever reads it (`BoundContract._read`)."""

    shape: Callable[[tuple[AgentInfo, ...]], T]

    def __call__(self, answer: tuple[Any, ...]) -> _Page[T]:
        accounts, fields = answer
        infos = tuple(AgentInfo(a, *f) for a, f in zip(accounts, fields, strict=True))
        return _Page(self.shape(infos), len(infos))


@dataclass(frozen=True, slots=True)
class AttestationRecord:
    """One attestation: `step` 0 marks the SECaaS's initial attestation; `new_root` is the
    root of trust after it (None when there is none); `nonce` the challenge it answered;
    `tx_hash` when read from the logs."""

    index: int
    step: int
    group: int
    measured: ChecksumAddress
    verifier: ChecksumAddress
    passed: bool
    timestamp: int
    new_root: ChecksumAddress | None
    evidence: bytes
    nonce: bytes
    tx_hash: str | None = None


@dataclass(frozen=True, slots=True)
class StepInfo:
    """The open attestation step of `group`: `verifier` (its RoT) is to measure `measured`
    (a member of another group when `guest`), with the `nonce` the contract drew when the
    step opened."""

    index: int
    verifier: ChecksumAddress
    measured: ChecksumAddress
    reference_provided: bool
    nonce: bytes
    group: int = 0
    guest: bool = False


REFERENCE_TAG = keccak(b"secmas/AgentRegistry/reference/v1")
"""`AgentRegistry.REFERENCE_TAG`: the domain of the digest SECaaS signs for a step."""
_REFERENCE_FIELDS = [
    "bytes32", "uint256", "address", "bytes32", "uint32", "uint32", "bytes32", "address",
    "address", "bytes32",
]  # fmt: skip


def reference_digest(
    chain_id: int, registry: str, pipeline: bytes, step: StepInfo, reference_hash: bytes
) -> bytes:
    """`AgentRegistry.referenceDigest` for `step` of the registry at `registry`:
    keccak256(abi.encode(tag, chain id, registry, pipeline, group, step, nonce, verifier,
    measured, keccak256(sealed reference))), the 32 bytes SECaaS signs (EIP-191)."""
    values = (
        REFERENCE_TAG, chain_id, registry, pipeline, step.group, step.index, step.nonce,
        step.verifier, step.measured, reference_hash,
    )  # fmt: skip
    return keccak(encode(_REFERENCE_FIELDS, values))


@dataclass(frozen=True, slots=True)
class Reference:
    """What the elected verifier reads: the step, whom to measure, the nonce to challenge
    it with, the sealed reference."""

    step: int
    measured: ChecksumAddress
    nonce: bytes
    sealed_reference: bytes


def _root(address: str) -> ChecksumAddress | None:
    return None if address == ZERO_ADDRESS else ChecksumAddress(address)


def _record(values: tuple[Any, ...], index: int, tx_hash: str | None) -> AttestationRecord:
    step, group, measured, verifier, passed, timestamp, new_root, evidence, nonce = values
    return AttestationRecord(
        index,
        step,
        group,
        measured,
        verifier,
        passed,
        timestamp,
        _root(new_root),
        bytes(evidence),
        bytes(nonce),
        tx_hash,
    )


class RegistryClient(BoundContract):
    """AgentRegistry as seen by one sender (the MLFO, the SECaaS, or an agent)."""

    NAME = "AgentRegistry"

    # MLFO (owner) transactions

    def register_agents(
        self,
        pipeline: bytes,
        agents: Sequence[AgentRegistration],
        *,
        funding_per_agent_wei: int = DEFAULT_AGENT_FUNDING_WEI,
    ) -> Receipt:
        """Registers `agents` and sends each `funding_per_agent_wei` for its gas, in one
        transaction of at most MAX_AGENTS_PER_REGISTRATION agents."""
        if not 0 < len(agents) <= MAX_AGENTS_PER_REGISTRATION:
            raise ValueError(
                f"register 1 to {MAX_AGENTS_PER_REGISTRATION} agents per call, got {len(agents)}"
            )
        return self._send(
            "registerAgents",
            pipeline,
            [address_of(a.account) for a in agents],
            [a.agent_id for a in agents],
            [a.signing_key for a in agents],
            [a.sealing_key for a in agents],
            gas=_GAS_REGISTER_BASE + _GAS_REGISTER_PER_AGENT * len(agents),
            value=funding_per_agent_wei * len(agents),
        )

    def revoke(self, pipeline: bytes, account: AccountLike) -> Receipt:
        """Revokes an agent; starts a new key epoch."""
        return self._send("revoke", pipeline, address_of(account), gas=_GAS_ELECTING)

    def set_plans(self, pipeline: bytes, plans: Sequence[Sequence[AccountLike]]) -> list[Receipt]:
        """Splits the pipeline into `len(plans)` attestation groups, each measured in its
        plan's order (cyclic): as many transactions as the plans need to fit a block each
        (`plan_batches`). ValueError for an empty plan or a plan no block holds."""
        lengths = [len(plan) for plan in plans]
        return [
            self._send(
                "setPlans",
                pipeline,
                len(plans),
                first,
                [[address_of(a) for a in plan] for plan in plans[first:end]],
                gas=_plans_gas(lengths, first, end),
            )
            for first, end in plan_batches(lengths)
        ]

    # SECaaS transactions

    def record_initial(
        self, pipeline: bytes, measured: AccountLike, nonce: bytes, passed: bool, evidence: bytes
    ) -> Receipt:
        """The SECaaS's own attestation under its own fresh `nonce`; a pass makes
        `measured` the root of trust. `evidence` is a 32-byte digest of the evidence
        (required for a pass)."""
        return self.record_initials(pipeline, [Initial(measured, nonce, passed, evidence)])

    def record_initials(self, pipeline: bytes, initials: Sequence[Initial]) -> Receipt:
        """Several of the SECaaS's own attestations in one transaction (at most
        INITIALS_PER_TRANSACTION); one the contract refuses refuses them all. The first
        has the gas to scan a long plan for the next verifier, the others the gas an
        election costs when the next agent of the plan is active (a batch that runs out is
        refused: send its attestations one by one)."""
        if not 0 < len(initials) <= INITIALS_PER_TRANSACTION:
            raise ValueError(
                f"{len(initials)} attestations: send 1 to {INITIALS_PER_TRANSACTION} at once"
            )
        return self._send(
            "recordInitials",
            pipeline,
            [address_of(i.measured) for i in initials],
            [_bytes32(i.nonce, "nonce") for i in initials],
            [i.passed for i in initials],
            [_bytes32(i.evidence, "evidence") for i in initials],
            gas=_GAS_ELECTING + _GAS_INITIAL * (len(initials) - 1),
        )

    def open_step(self, pipeline: bytes, group: int = 0) -> Receipt:
        """(Re)opens a step of `group` with its root of trust as verifier (MLFO or SECaaS)."""
        return self._send("openStep", pipeline, group, gas=_GAS_ELECTING)

    def provide_reference(
        self, pipeline: bytes, step: int, sealed_reference: bytes, group: int = 0
    ) -> Receipt:
        """Hands the elected verifier of `step` the reference, sealed to its sealing key."""
        return self._send(
            "provideReference",
            pipeline,
            group,
            step,
            sealed_reference,
            gas=_GAS_REFERENCE_BASE + _GAS_PER_STORED_WORD * (_words(sealed_reference) + 1),
        )

    def sign_reference(self, pipeline: bytes, step: StepInfo, sealed_reference: bytes) -> bytes:
        """SECaaS's signature handing `step`'s verifier `sealed_reference` off chain, for
        `record_step`: over the digest the contract's `referenceDigest` computes for that
        step (`reference_digest`: it binds the chain, the contract, the group, the step,
        its nonce, verifier and measured agent). Computed here from the step as read, not
        asked of the contract: a signature and no call, and it binds exactly the step the
        reference was sealed for (a step closed since is refused on chain)."""
        digest = reference_digest(
            self._chain.chain_id, self.address, pipeline, step, keccak(sealed_reference)
        )
        return self._chain.sign_message(self.sender, digest)

    def reference_digest_on_chain(
        self, pipeline: bytes, sealed_reference: bytes, group: int = 0
    ) -> bytes:
        """What the contract's `referenceDigest` says for the open step of `group` (one
        view call): `reference_digest` must agree."""
        (digest,) = self._call("referenceDigest", pipeline, group, keccak(sealed_reference))
        return bytes(digest)

    # Agent (verifier) calls and transactions

    def reference_for(self, pipeline: bytes, group: int = 0) -> Reference:
        """The open step's sealed reference; only its elected verifier may read it."""
        step, measured, nonce, sealed = self._call("referenceFor", pipeline, group)
        return Reference(step, measured, bytes(nonce), bytes(sealed))

    def record_result(
        self,
        pipeline: bytes,
        step: int,
        nonce: bytes,
        passed: bool,
        evidence: bytes,
        group: int = 0,
    ) -> Receipt:
        """The elected verifier's verdict on step `step` of `group` under the step's
        `nonce`; the group's next step opens with it. `evidence` is a 32-byte digest of
        what was measured (required for a pass)."""
        return self._send(
            "recordResult",
            pipeline,
            group,
            step,
            _bytes32(nonce, "nonce"),
            passed,
            _bytes32(evidence, "evidence"),
            gas=_GAS_ELECTING,
        )

    def record_step(
        self,
        pipeline: bytes,
        step: int,
        nonce: bytes,
        passed: bool,
        evidence: bytes,
        sealed_reference: bytes,
        secaas_signature: bytes,
        group: int = 0,
    ) -> Receipt:
        """The whole step in one transaction: the reference SECaaS signed for it
        (`sign_reference`) and the elected verifier's verdict, as `record_result`."""
        return self._send(
            "recordStep",
            pipeline,
            group,
            step,
            _bytes32(nonce, "nonce"),
            passed,
            _bytes32(evidence, "evidence"),
            sealed_reference,
            secaas_signature,
            gas=_GAS_ELECTING,
        )

    # Views

    def owner(self) -> ChecksumAddress:
        """The MLFO account."""
        return ChecksumAddress(self._call("owner")[0])

    def secaas(self) -> ChecksumAddress:
        """The SECaaS account."""
        return ChecksumAddress(self._call("secaas")[0])

    def agent(self, pipeline: bytes, account: AccountLike) -> AgentInfo:
        """The registry's entry for `account` in `pipeline`."""
        address = address_of(account)
        (fields,) = self._call("agentOf", pipeline, address)
        return AgentInfo(address, *fields)

    def members(self, pipeline: bytes) -> list[ChecksumAddress]:
        """Every agent ever registered in `pipeline`, in registration order."""
        return list(self._call("members", pipeline)[0])

    def member_infos(self, pipeline: bytes) -> list[AgentInfo]:
        """Every agent ever registered in `pipeline` with its entry, in registration order."""
        return [info for page in self.member_pages(pipeline, tuple) for info in page]

    def member_pages(self, pipeline: bytes, shape: Callable[[tuple[AgentInfo, ...]], T]) -> list[T]:
        """The members as `member_infos` reads them, MEMBER_PAGE at a time, each page
        turned by `shape` (a module-level function) into what the caller keeps. A handful
        of calls where `agent` per member would be one per member (and every agent reads
        them all, so N² calls in a pipeline); the same calls for every agent, which the
        node answers once per block, and each answer decoded and shaped once (`_read`), so
        the pages are shared: read them, never change them."""
        pages: list[T] = []
        count = 0
        while True:
            read = self._read(_MemberPage(shape), "memberRange", pipeline, count, MEMBER_PAGE)
            pages.append(read.shaped)
            count += read.size
            if read.size < MEMBER_PAGE:
                return pages

    def key_problem(self, pipeline: bytes, accounts: Sequence[AccountLike]) -> int | None:
        """The index of the first of `accounts` a key push would be refused for (not
        registered, revoked or not trusted), None when every one may be keyed: one view,
        where reading every member's record took four pages at a thousand agents."""
        index, problem = self._call("keyProblem", pipeline, [address_of(a) for a in accounts])
        return int(index) if problem else None

    def plan(self, pipeline: bytes, group: int = 0) -> list[ChecksumAddress]:
        """The attestation plan of `group`."""
        return list(self._call("plan", pipeline, group)[0])

    def group_count(self, pipeline: bytes) -> int:
        """The number of attestation groups (0 before a plan is set)."""
        return int(self._call("groupCount", pipeline)[0])

    def group_of(self, pipeline: bytes, account: AccountLike) -> int:
        """The attestation group `account` is measured in."""
        return int(self._call("groupOf", pipeline, address_of(account))[0])

    def cursor(self, pipeline: bytes, group: int = 0) -> tuple[int, int]:
        """(the group's next turn: a plan position, or the plan's length for its guest
        slot; completed rounds)."""
        position, rounds = self._call("cursor", pipeline, group)
        return int(position), int(rounds)

    def root_of_trust(self, pipeline: bytes, group: int = 0) -> ChecksumAddress | None:
        """The group's last verified agent, None when there is none."""
        return _root(self._call("rootOfTrust", pipeline, group)[0])

    def key_epoch(self, pipeline: bytes) -> int:
        """The pipeline's key epoch (1, then one more per revocation)."""
        return int(self._call("keyEpoch", pipeline)[0])

    def is_trusted(self, pipeline: bytes, account: AccountLike) -> bool:
        """Whether `account` passed its last attestation and is not revoked."""
        return bool(self._call("isTrusted", pipeline, address_of(account))[0])

    def is_active(self, pipeline: bytes, account: AccountLike) -> bool:
        """Whether `account` is registered and not revoked."""
        return bool(self._call("isActive", pipeline, address_of(account))[0])

    def record_count(self, pipeline: bytes) -> int:
        """The number of attestation records."""
        return int(self._call("recordCount", pipeline)[0])

    def last_record(self, pipeline: bytes, group: int = 0) -> AttestationRecord | None:
        """The group's latest record, None when it has none yet."""
        mine = [r for r in self.records(pipeline) if r.group == group]
        return mine[-1] if mine else None

    def records(
        self, pipeline: bytes, start: int = 0, *, from_block: int = 0
    ) -> list[AttestationRecord]:
        """Records from index `start` on, each with the hash of the transaction that wrote
        it, from the `AttestationRecorded` logs of blocks `from_block` on (one log query;
        a record is its log: the contract keeps none in storage)."""
        return [r for r in self._recorded(pipeline, from_block, None) if r.index >= start]

    def recorded_in(
        self, pipeline: bytes, tx_hash: str, block: int, measured: AccountLike, nonce: bytes
    ) -> AttestationRecord | None:
        """The record of `measured` under `nonce` that the transaction `tx_hash` wrote in
        `block`, from its `AttestationRecorded` log (one block's logs of that agent, no
        call: what a relying party checks a verdict's record against; one transaction may
        record several agents); None when it wrote none there."""
        found = [
            r
            for r in self._recorded(pipeline, block, block, measured)
            if r.tx_hash == tx_hash and r.nonce == nonce
        ]
        return found[0] if found else None

    def _recorded(
        self,
        pipeline: bytes,
        from_block: int,
        to_block: int | None,
        measured: AccountLike | None = None,
    ) -> list[AttestationRecord]:
        """The records (of `measured`, or everyone's) logged in a block range, in chain
        order; a record's time is its block's."""
        topics: list[bytes | None] = [self._abi.topic("AttestationRecorded"), pipeline]
        if measured is not None:
            topics.append(indexed_topic("address", address_of(measured)))
        logs = self._chain.logs(self.address, topics, from_block, to_block)
        records = []
        for event in self._decode_logs(logs):
            a = event.args
            values = (a["step"], a["group"], a["measured"], a["verifier"], a["passed"])
            later = (self._chain.block_time(event.block), a["newRoot"], a["evidence"], a["nonce"])
            records.append(_record((*values, *later), a["index"], event.tx_hash))
        return records

    def current_step(
        self, pipeline: bytes, group: int = 0, block: int | None = None
    ) -> StepInfo | None:
        """The group's open step after block `block` (default: the latest), None when no
        step is open. Asked from nobody (it is the same for every asker), so SECaaS and the
        verifier reading it on one block share one call."""
        (fields,) = self._read(_answer, "currentStep", pipeline, group, block=block)
        index, verifier, measured, provided, is_open, guest, nonce = fields
        if not is_open:
            return None
        return StepInfo(
            int(index), verifier, measured, bool(provided), bytes(nonce), group, bool(guest)
        )

    def latest_step(self, pipeline: bytes, group: int = 0) -> tuple[int, StepInfo | None]:
        """(the latest block, the group's open step after it): a verifier told the block
        reads the step on it, the same call (`current_step`), not on the blocks mined
        since, one after the other at a large bring-up."""
        block = self._chain.block_number()
        return block, self.current_step(pipeline, group, block)


def _answer(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A view's answer kept as decoded (a `BoundContract._read` shape)."""
    return values


def _plans_gas(lengths: Sequence[int], first: int, end: int) -> int:
    """Gas for a `setPlans` call writing the plans of groups `first` to `end` (excluded),
    of `lengths` agents each."""
    entries = sum(_GAS_PLAN_PER_ENTRY[g > 0] * lengths[g] for g in range(first, end))
    return _GAS_ELECTING + entries + _GAS_PLAN_PER_GROUP * (end - first)


def most_per_plan(group: int) -> int:
    """The most agents the plan of `group` may hold: one `setPlans` call, one block."""
    room = BLOCK_GAS_LIMIT - _GAS_ELECTING - _GAS_PLAN_PER_GROUP
    return room // _GAS_PLAN_PER_ENTRY[group > 0]


def plan_batches(lengths: Sequence[int]) -> list[tuple[int, int]]:
    """The `setPlans` calls for plans of `lengths` agents: (first, end) group ranges, each
    within a block's gas; ValueError for no plan, an empty one or one no block holds."""
    if not lengths:
        raise ValueError("no attestation plan")
    batches: list[tuple[int, int]] = []
    first = 0
    for group, length in enumerate(lengths):
        if length == 0:
            raise ValueError(f"attestation group {group} has an empty plan")
        if length > most_per_plan(group):
            raise ValueError(
                f"a plan of {length} agents does not fit one block ({BLOCK_GAS_LIMIT} gas): "
                f"at most {most_per_plan(group)} in group {group}"
            )
        if group > first and _plans_gas(lengths, first, group + 1) > BLOCK_GAS_LIMIT:
            batches.append((first, group))
            first = group
    batches.append((first, len(lengths)))
    return batches
