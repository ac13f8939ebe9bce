"""An agent's side of its pipeline membership, wherever the agent runs (`001_…` 8–14).

The same code serves an agent in its own process (`secmas agent`, over NATS) and an agent
the in-process IML driver runs as a task (over the in-memory bus): the MLFO cannot tell
them apart, because it talks to both only through sealed messages. In order, a member
- starts its attester (answering challenges with what it measures of itself) and asks
  the MLFO to join, sealed under the one-time credential the IML driver handed it out of
  band (`secmas.trust.enrolment`);
- on the MLFO's welcome, reaches the ledger with its own account, reads its peers' keys
  from the registry, serves its verifier role and its key service, and answers the
  welcome once it does (the MLFO starts attesting when every member answered);
- on each rekey message of the MLFO, fetches and opens its box of the new epoch, learns
  from the chain itself whom to trust, and later switches to the epoch
  (`secmas.trust.rotation`);
- beats once the run's clock runs, and at the end sends its money back to the MLFO
  (`secmas.ledger.funding`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from secmas.agents.nfva.subjects import inbox_owner
from secmas.ledger.accounts import Account
from secmas.ledger.connection import Ledger
from secmas.ledger.errors import LedgerError
from secmas.ledger.funding import sweep
from secmas.ledger.ids import pipeline_id
from secmas.ledger.registry import RegistryClient, trusted_accounts
from secmas.ledger.secretstore import SecretStoreClient
from secmas.network.clock import Clock, Offload
from secmas.pipeline.agentcontrol import control_recipient
from secmas.pipeline.work import Seat, work_recipient
from secmas.transport.bus import Bus
from secmas.transport.channel import SecureBus
from secmas.trust.chain import AttesterEndpoint, Peer, VerifierRole
from secmas.trust.control import MLFO, SECAAS, ControlPlane
from secmas.trust.deadlines import Deadlines
from secmas.trust.enrolment import Credential, EnrolmentError, JoinRequest
from secmas.trust.envelope import Opened
from secmas.trust.epochs import PipelineSecret, fetch_secret, secret_pushed
from secmas.trust.identity import AgentIdentity
from secmas.trust.image import Measurable
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.liveness import Heartbeat
from secmas.trust.verification import VerifierEndpoint, peers_from_registry
from secmas.trust.view import TrustView

logger = logging.getLogger(__name__)


def join_subject(pipeline: str) -> str:
    return f"secmas.join.{pipeline}"


def welcome_subject(pipeline: str, agent: str) -> str:
    return f"secmas.welcome.{pipeline}.{agent}"


def rekey_subject(pipeline: str, agent: str) -> str:
    return f"secmas.rekey.{pipeline}.{agent}"


def stop_subject(pipeline: str, agent: str) -> str:
    return f"secmas.stop.{pipeline}.{agent}"


def recipient(subject: str) -> str | None:
    """Whom a subject addresses on the secure channel (None: every member)."""
    owner = inbox_owner(subject)
    if owner is not None:
        return owner
    tokens = subject.split(".")
    loop = control_recipient(tokens)
    if loop is not None:
        return loop or MLFO
    work = work_recipient(subject)
    if work is not None:
        return work
    if tokens[:2] in (["secmas", "controller"], ["secmas", "journal"]):
        return MLFO
    if tokens[:2] == ["secmas", "stop"] and len(tokens) == 4:
        return tokens[3]
    return None


Reach = Callable[[Account], Ledger]
"""How a member reaches the run's ledger with its own account as sender."""


@dataclass
class Membership:
    """One agent's trust-side parts, from its join to its sweep (module docstring)."""

    pipeline: str
    identity: AgentIdentity
    raw: Bus
    credential: Credential
    image: Measurable
    """What the attester answers a challenge with: this agent's image, measured (the
    measurement awaited: the agents of one process share their walks)."""
    reach: Reach
    offload: Offload = asyncio.to_thread
    """Where blocking work (ledger calls, measuring) runs: a thread, or the run's virtual
    clock's `run_blocking`, which the clock waits for before it moves."""
    deadlines: Deadlines | None = None
    """The verifier role's waits for evidence (None: measured round trips)."""
    view: TrustView = field(default_factory=TrustView)
    """Whom this agent trusts: its peers as the chain says at each key epoch."""
    account: Account = field(default_factory=Account.create)
    directory: dict[str, PeerKeys] = field(default_factory=dict)
    control: ControlPlane = field(init=False)
    endpoint: AttesterEndpoint = field(init=False)
    role: VerifierRole | None = None
    keyring: EpochKeyring | None = None
    registry: RegistryClient | None = None
    store: SecretStoreClient | None = None
    ledger: Ledger | None = None
    funder: str | None = None
    peers: dict[str, Peer] = field(default_factory=dict)
    welcome: dict[str, Any] = field(default_factory=dict)
    secret: PipelineSecret | None = None
    """The secret of the latest epoch this member fetched."""
    heartbeat: Heartbeat | None = None
    swept: int | None = None
    _bus: Bus | None = None
    _closing: list[Callable[[], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        credential = self.credential
        self.directory[MLFO] = PeerKeys(credential.mlfo_key, credential.mlfo_signing_key)
        self.directory[SECAAS] = PeerKeys(credential.secaas_key, credential.secaas_signing_key)
        self.control = ControlPlane(self.raw, self.identity, self.directory, self.pipeline)
        self.endpoint = AttesterEndpoint(
            self.identity,
            self.pipeline,
            self._measure,
            self.control,
            offload=self.offload,
            measured=lambda: self.image.measured(self.offload),
        )

    @property
    def name(self) -> str:
        return self.identity.name

    def _measure(self) -> Any:
        return self.image.measure()

    # -- joining -----------------------------------------------------------------------------
    async def join(self, patience: float) -> dict[str, Any]:
        """Attester up, sealed join, then verifier and key service once welcomed. The
        MLFO's answer to the join and its welcome are each waited for `patience` s: it
        welcomes when every member joined, which on a busy host is minutes, not a fixed
        time."""
        await self.endpoint.start()
        welcomed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        serving = asyncio.Event()

        async def on_welcome(opened: Opened) -> bytes | None:
            """Answered once this member serves its verifier role and key fetches."""
            if opened.sender != MLFO:
                return None
            if not welcomed.done():
                welcomed.set_result(json.loads(opened.payload))
            await serving.wait()
            return b"{}"

        await self.control.serve(welcome_subject(self.pipeline, self.name), on_welcome)
        join = JoinRequest.make(self.identity, self.account.address, self.credential)
        answer = json.loads(
            await self.control.enrol(
                join_subject(self.pipeline),
                MLFO,
                self.credential.mlfo_key,
                join.encode(),
                patience,
            )
        )
        if "error" in answer:
            raise EnrolmentError(f"the MLFO refused {self.name}: {answer['error']}")
        self.welcome = await asyncio.wait_for(welcomed, patience)
        await self._serve(self.welcome)
        serving.set()
        return self.welcome

    async def _serve(self, welcome: dict[str, Any]) -> None:
        """The ledger with this member's account, its peers from the registry, its
        verifier role and its key service."""
        self.ledger = await self.offload(self.reach, self.account)
        contracts = self.ledger.attach(welcome["registry"], welcome["secret_store"])
        self.registry, self.store = contracts.registry, contracts.secret_store
        if isinstance(welcome.get("funder"), str):
            self.funder = welcome["funder"]
        peers = await self.offload(peers_from_registry, contracts.registry, self.pipeline)
        self.directory.update({p.name: p.keys for p in peers.values()})
        self.role = VerifierRole(
            self.identity,
            contracts.registry,
            self.control,
            self.pipeline,
            float(welcome["timeout"]),
            offload=self.offload,
            deadlines=self.deadlines,
        )
        verifier = VerifierEndpoint(self.role, peers, self._learn)
        await verifier.start()
        self._closing.append(verifier.stop)
        self.peers = peers
        self.keyring = EpochKeyring(
            self.identity,
            self.pipeline,
            int(welcome["vni"]),
            self.directory,
            grace=float(welcome["grace"]),
        )
        await self.control.serve(rekey_subject(self.pipeline, self.name), self._on_rekey)

    def _learn(self, peers: Mapping[str, Peer]) -> None:
        """Members registered after this one read the registry (the pipeline grew)."""
        self.peers.update(peers)
        self.directory.update({p.name: p.keys for p in peers.values()})

    async def _on_rekey(self, opened: Opened) -> bytes | None:
        """A new key epoch, in two phases: told to install, fetch and open this member's
        box, install it (received, not yet sent under) and learn who is trusted from the
        chain itself (the message only says where to look); told to switch
        (`{"switch": epoch}`, once every member installed it), send under it. Told the
        pipeline grew (`{"members": true}`), read its members again from the registry."""
        if opened.sender != MLFO:
            return None  # only the MLFO starts epochs
        keyring, registry, store = self.keyring, self.registry, self.store
        assert keyring is not None and registry is not None and store is not None
        if is_refresh(opened.payload):  # the pipeline grew: its members read again
            try:
                fresh = await self.offload(peers_from_registry, registry, self.pipeline)
            except LedgerError as exc:
                return json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            self._learn(fresh)
            return json.dumps({"members": len(fresh)}).encode()
        switch = switch_epoch(opened.payload)
        if switch is not None:
            try:
                keyring.activate(switch)
            except LookupError as exc:
                return json.dumps({"error": str(exc)}).encode()
            return json.dumps({"epoch": switch}).encode()
        try:
            secret = await self.offload(self._fetch, store, pushed_in(opened.payload))
            pid = pipeline_id(self.pipeline)
            pages = await self.offload(registry.member_pages, pid, trusted_accounts)
            trusted = {
                self.peers[account].name
                for page in pages
                for account in page
                if account in self.peers
            }
        except (LedgerError, ValueError, OSError) as exc:  # told to the MLFO, which decides
            logger.warning("%s: rekey failed: %s", self.name, exc)
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        keyring.install(secret.epoch, secret.secret)
        self.secret = secret
        for peer in self.peers.values():
            if peer.name in trusted:
                self.view.trust(peer.name)
            elif peer.name != self.name and peer.name not in keyring.revoked:
                keyring.revoke(peer.name)
                self.view.exclude(peer.name, "not trusted on chain")
        return json.dumps({"epoch": secret.epoch}).encode()

    def _fetch(self, store: SecretStoreClient, pushed: tuple[int, int] | None) -> PipelineSecret:
        """This member's secret of the epoch being installed: from its box's log in the
        block the MLFO named (`pushed`: epoch, block), or asked of the store when none is
        named or that block holds none (the store's refusal then says why). A thousand
        agents' store calls were most of a bring-up's step 14."""
        if pushed is not None:
            secret = secret_pushed(self.pipeline, store, self.identity, *pushed)
            if secret is not None:
                return secret
        return fetch_secret(self.pipeline, store, self.identity)

    # -- operation ---------------------------------------------------------------------------
    @property
    def bus(self) -> Bus:
        """This member's end of the pipeline's channel: sealed with its link keys, or the
        bus itself when the pipeline does not encrypt."""
        if self._bus is None:
            welcome = self.welcome
            if welcome.get("encrypt", False):
                assert self.keyring is not None
                self._bus = SecureBus(
                    self.raw,
                    self.name,
                    int(welcome["vni"]),
                    self.keyring,
                    recipient,
                    cipher=welcome["cipher"],
                )
            else:
                self._bus = self.raw
        return self._bus

    def beat(self, clock: Clock) -> None:
        """Heartbeats from now on, on the run's clock."""
        if self.heartbeat is None:
            self.heartbeat = Heartbeat(self.control, clock, float(self.welcome["heartbeat"]))
            self.heartbeat.start()

    def seat(self, agents: tuple[str, ...]) -> Seat:
        """This member's side of the run's work (`secmas.pipeline.work`)."""
        return Seat(
            self.pipeline,
            self.name,
            agents,
            self.identity,
            self.bus,
            {p.name: p.signing_key for p in self.peers.values()},
            self.credential.mlfo_signing_key,
        )

    def sweep(self) -> int:
        """Send the account's money back to the MLFO, once (blocking: offload it); what
        was sent (0: nothing, or refused)."""
        if self.swept is not None:
            return self.swept
        self.swept = 0
        if self.ledger is None or self.funder is None:
            return 0
        try:
            self.swept = sweep(self.ledger.chain, self.account, self.funder).value
        except LedgerError as exc:
            logger.error("%s could not sweep its account back: %s", self.name, exc)
        return self.swept

    def state(self) -> dict[str, Any]:
        """What this member adds to its agent's final state: its channel's counters and
        the epoch it holds."""
        channel = None
        if isinstance(self._bus, SecureBus):
            stats = self._bus.channel_stats
            channel = {
                "sealed": stats.sealed,
                "opened": stats.opened,
                "dropped": dict(stats.dropped),
            }
        epoch = None if self.secret is None else self.secret.epoch
        return {"channel": channel, "key_epoch": epoch, "swept_wei": self.swept or 0}

    async def close(self) -> None:
        """Stop beating, answering and verifying (the channel stays with its agent)."""
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        await self.endpoint.stop()
        for closing in reversed(self._closing):
            await closing()
        self._closing.clear()
        await self.control.close()


def switch_epoch(data: bytes) -> int | None:
    """The epoch a rekey message says to switch to; None for an install."""
    return _count(_message(data), "switch")


def pushed_in(data: bytes) -> tuple[int, int] | None:
    """The (epoch, block) an install message says this member's box was pushed in; None
    when it names none."""
    message = _message(data)
    epoch, block = _count(message, "epoch"), _count(message, "block")
    return None if epoch is None or block is None else (epoch, block)


def _message(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _count(message: dict[str, Any], key: str) -> int | None:
    """`message[key]` when it is a whole number (not a boolean, not negative)."""
    value = message.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def is_refresh(data: bytes) -> bool:
    """Whether a rekey message says the pipeline grew (read its members again)."""
    return _message(data).get("members") is True
