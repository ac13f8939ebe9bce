"""The MLFO's side of a run's trust life, the same for every placement (`001_…` 2–14).

One implementation of workflow steps 2–14 and of what follows them, whether the agents
run as tasks in this process (`secmas.pipeline.inprocess`), as processes on this host,
in containers in their PoPs, in pods or on other hosts (`secmas.pipeline.iml`): the
MLFO reaches its agents only through sealed messages on the run's bus, and they answer
from their memberships (`secmas.pipeline.membership`). In order, it
- has the IML driver start one agent per PoP, each handed a one-time enrolment
  credential out of band, and admits each sealed join made under one (step 2, step 8's
  credentials);
- has SECaaS wrap what the agents run (3–4) and deploys the registry and secret store,
  registering and funding every joined agent in one transaction (6–7);
- welcomes the agents (the contracts, the overlay's settings), each answering once it
  serves its verifier role (8);
- has SECaaS attest the first agent of the plan, the root of trust, then runs a first
  mutual round along the plan, consulting the agents' measurement from outside before it
  acts on a pass (9–12);
- pushes the first key epoch's secret and tells every trusted agent to fetch it and then
  to switch to it (13–14);
- during operation runs a mutual attestation step every period and, between them,
  unannounced checks (`secmas.trust.schedule`); whoever fails is stopped by its IML
  driver and revoked, and the others are keyed in a new epoch without it;
- reports what it kept: records, keys, liveness, funding (`secmas.pipeline.trustreport`).
A step that fails revokes every agent registered by then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.journal import ActionEvent, Journal
from secmas.ledger.chain import address_of
from secmas.ledger.connection import Contracts, Ledger, connect
from secmas.ledger.errors import LedgerError
from secmas.ledger.funding import Budget, budget, run_steps
from secmas.ledger.ids import pipeline_id
from secmas.ledger.node import MEMORY
from secmas.ledger.nodeprocess import warm_up
from secmas.network.clock import Clock
from secmas.pipeline.bringup import BringUp
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.images import WrappedImage, secmas_image
from secmas.pipeline.iml import AgentLaunch, IMLDriver, OutsideCheck, ReportsWork, stop_agent
from secmas.pipeline.membership import (
    join_subject,
    recipient,
    rekey_subject,
    welcome_subject,
)
from secmas.pipeline.registration import register_agents, revoke_active
from secmas.pipeline.trustreport import TrustRecords, trust_report
from secmas.pipeline.work import Cohort
from secmas.pipeline.workflow import Workflow
from secmas.scenario.model import Security
from secmas.transport.bus import Bus, BusClosed
from secmas.transport.channel import SecureBus
from secmas.trust.chain import AttestationChain, ChainEntry, Expected, Peer, VerifierFailed
from secmas.trust.control import MLFO, SECAAS, ControlPlane
from secmas.trust.deadlines import HANDLING_CAP, Deadlines
from secmas.trust.enrolment import Enrolment, EnrolmentError, JoinRequest
from secmas.trust.envelope import Opened
from secmas.trust.epochs import EpochPush, Recipient, keyable, push_epoch
from secmas.trust.groups import attestation_groups
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.liveness import READMITTED, Changed, LivenessMonitor, Presence, admitted
from secmas.trust.measurer import MeasurerAppraisal, MeasurerError
from secmas.trust.measurer_service import ExternalAttestation
from secmas.trust.repository import ReferenceRepository
from secmas.trust.rotation import Rotation, rotate
from secmas.trust.schedule import Timetable
from secmas.trust.verification import RemoteVerifier, peers_from_registry
from secmas.trust.view import TrustView

logger = logging.getLogger(__name__)

REKEY_TIMEOUT_S = 30.0
"""How long one live agent may take to answer one key-service message during operation
(fetch its box, or switch); in the bring-up the agents' progress decides (`_key_agents`)."""

ImageWrap = Callable[[Ed25519PrivateKey, ReferenceRepository], WrappedImage]
"""Steps 3–4: how SECaaS wraps what the agents run, signed with the key, stored."""
Launch = Callable[[str, Path | None], AgentLaunch]
"""Step 2: how the agent of a PoP is started, handed its credential's file (None: the
pipeline runs without the trust layer)."""
Outside = Callable[[WrappedImage], OutsideCheck | None]
"""How the agents of a placement are measured from outside, once their image is known."""


def vni_of(pipeline: str, security: Security) -> int:
    """The pipeline's 24-bit segment id: the scenario's, or one derived from its name."""
    if security.vni is not None:
        return security.vni
    return zlib.crc32(pipeline.encode()) & 0xFFFFFF


def measurer_deadlines(security: Security) -> Deadlines:
    """How long the host measurer may take to answer: its measured round trips, never
    below the declared challenge timeout nor beyond one attestation period, so that a
    stopped or hung measurer is noticed within the period (`Deadlines.bounded`)."""
    attestation = security.attestation
    return Deadlines.bounded(attestation.challenge_timeout, attestation.period)


def journalled(journal: Journal) -> Changed:
    """Each withdrawal of an agent for silence, and its re-admission, as the MLFO's
    action in the run's journal (`secmas.trust.liveness`)."""

    def told(change: Presence) -> None:
        action = "readmitAgent" if change.state == READMITTED else "withdrawAgent"
        detail = f"{change.agent}: {change.reason}"
        journal.action(ActionEvent(change.time, MLFO, action, detail))

    return told


@runtime_checkable
class HaltsItsAgents(Protocol):
    """An IML driver that stops a revoked agent itself, on this event loop (agents in
    this process: what each works on is withdrawn and it takes no further action)."""

    async def halt(self, agent: str, reason: str) -> str: ...


@dataclass
class Orchestrator:
    """The MLFO and SECaaS of one run, for agents placed by `iml` (module docstring)."""

    name: str
    security: Security
    raw: Bus
    iml: IMLDriver
    launch: Launch
    pops: tuple[str, ...]
    clock: Clock
    """The run's clock during bring-up: simulated for agents in this process (every wait
    and record in simulated seconds), real otherwise (`attest_in_background` swaps in
    the clock the run operates on)."""
    ledger_url: str | None = None
    """Where the MLFO reaches the ledger (None: the scenario's)."""
    ledger_keys: tuple[str | None, str | None] | None = None
    """The MLFO's and SECaaS's keys on the ledger (None: the node's own accounts)."""
    ledger_ca: Path | None = None
    ledger_token: str | None = field(default=None, repr=False)
    """The bearer token of a ledger the run serves (None: none, or SECMAS_LEDGER_TOKEN's)."""
    duration: float = 3600.0
    """The run length the agents' funding is sized for (simulated seconds)."""
    simulated: bool = False
    """Whether the run's time is simulated (a virtual clock: no wall-time bound on an
    elected verifier's handling, so a busy machine never changes a verdict)."""
    wrap_image: ImageWrap = secmas_image
    repository: ReferenceRepository = field(default_factory=lambda: ReferenceRepository(":memory:"))
    """Where SECaaS keeps the references it signed (an update's image is checked there)."""
    images: Mapping[str, WrappedImage] = field(default_factory=dict)
    """An agent's own image, where it runs another than the wrapped one (tests that
    compromise one agent)."""
    outside: Outside | None = None
    """How the agents are measured from outside (None: not at all)."""
    workflow: Workflow = field(default_factory=Workflow)
    journal: Journal = field(default_factory=Journal)
    arrival: BringUp = field(default_factory=BringUp)
    workdir: Path | None = None
    """Where the credentials' files are written for the IML driver to hand over."""
    identity: AgentIdentity = field(default_factory=lambda: AgentIdentity.generate(MLFO))
    secaas: AgentIdentity = field(default_factory=lambda: AgentIdentity.generate(SECAAS))
    directory: dict[str, PeerKeys] = field(default_factory=dict)
    """Public keys of the MLFO, SECaaS and every enrolled agent, by name."""
    control: ControlPlane = field(init=False)
    """The MLFO's control-plane endpoint (joins, welcome, rekey, verdicts, heartbeats)."""
    enrolment: Enrolment = field(init=False)
    view: TrustView = field(default_factory=TrustView)
    joined: dict[str, Peer] = field(default_factory=dict)
    plan: tuple[str, ...] = ()
    setup_tx: dict[str, str] = field(default_factory=dict)
    pushes: list[EpochPush] = field(default_factory=list)
    rotations: list[Rotation] = field(default_factory=list)
    ledger: Ledger | None = None
    contracts: Contracts | None = None
    budget: Budget | None = None
    chain: AttestationChain | None = None
    keyring: EpochKeyring | None = None
    liveness: LivenessMonitor | None = None
    image: WrappedImage | None = None
    """What the agents run, as SECaaS wrapped it (steps 3–4)."""
    external: OutsideCheck | None = None
    stopped: dict[str, float] = field(default_factory=dict)
    """Revoked agents whose IML driver stopped them, with the run second it did."""
    on_stopped: Callable[[str], None] | None = None
    """Told of each agent stopped for good (a bring-up waiting for it waits no more)."""
    _channel: SecureBus | None = None
    _all_joined: asyncio.Event = field(default_factory=asyncio.Event)
    _keyed: set[str] = field(default_factory=set)
    """The agents that switched to the latest epoch pushed."""
    _background: asyncio.Future[Any] | None = None

    def __post_init__(self) -> None:
        self.directory.update({MLFO: PeerKeys.of(self.identity), SECAAS: PeerKeys.of(self.secaas)})
        self.control = ControlPlane(self.raw, self.identity, self.directory, self.name)
        self.enrolment = Enrolment(self.name, self.identity, self.secaas)
        planned = self.security.attestation.plan or self.pops
        self.plan = tuple(a for a in planned if a in self.pops)
        attestation = self.security.attestation
        self.groups = attestation_groups(self.plan, attestation.period, attestation.interval)

    # -- steps 2-14 --------------------------------------------------------------------------
    async def bring_up(self, where: str, told: Mapping[str, Any]) -> None:
        """Steps 2–14: the agents started and joined over the bus at `where`, then, with
        the trust layer, wrapped, registered, welcomed, attested and keyed. `told`: what
        the workflow records of where they run."""
        vni = vni_of(self.name, self.security)
        if self.security.enabled and (self.ledger_url or self.security.ledger) == MEMORY:
            warm_up()  # the run's chain is opened at step 6: its host starts beside step 2
        await self.workflow.step(
            "2",
            self.deploy,
            {"driver": self.iml.name, **told, "agents": len(self.pops)},
            lambda _: {
                **self.iml.describe(),
                "overlay": f"VNI {vni} on {where}",
                "joined": sorted(self.joined),
            },
        )
        if self.security.enabled:
            await self.secure()

    async def deploy(self) -> None:
        """Step 2: one agent per PoP; with the trust layer each holds a one-time
        credential and asks to join, which is waited for while they make progress."""
        secure = self.security.enabled
        if secure:
            await self.control.serve(join_subject(self.name), self._on_join, enrolment=True)
        for pop in self.pops:
            self.iml.start(self.launch(pop, self._hand_credential(pop) if secure else None))
        if secure:
            await self.wait(self._all_joined, "agents joining", lambda: set(self.joined))

    async def _on_join(self, opened: Opened) -> bytes:
        """A sealed join: admitted only under the one-time credential issued for it."""
        try:
            join = JoinRequest.decode(opened.payload)
            self.enrolment.admit(join, opened.sender, opened.sender_key)
        except EnrolmentError as exc:
            logger.warning("refused a join as %r: %s", opened.sender, exc)
            return json.dumps({"error": str(exc)}).encode()
        member = Peer(join.agent, join.address, join.signing_key, join.sealing_key)
        self.directory[member.name] = member.keys
        self.joined[member.name] = member
        if set(self.joined) >= set(self.pops):
            self._all_joined.set()
        return json.dumps({"accepted": member.name}).encode()

    def _hand_credential(self, pop: str) -> Path:
        """The one-time enrolment credential of `pop`, in a file only this user reads,
        for the IML driver to hand over; the agent removes it once read."""
        assert self.workdir is not None
        path = self.workdir / f"enrolment-{pop}.json"
        path.unlink(missing_ok=True)
        self.enrolment.issue(pop).write(path)
        return path

    def discard_credentials(self) -> None:
        """Remove credentials no agent took (it died before reading its own)."""
        if self.workdir is not None:
            for pop in self.pops:
                (self.workdir / f"enrolment-{pop}.json").unlink(missing_ok=True)

    async def wait(self, event: asyncio.Event, what: str, arrived: Callable[[], set[str]]) -> None:
        """Wait for `event` while the agents keep arriving (`arrived`: those in) or the
        missing ones keep working, failing early (naming the log) when an agent died, or
        when none arrived or worked for longer than `arrival` allows (naming those
        missing)."""
        began = time.monotonic()
        wait = self.arrival.arrivals(len(self.pops), began, len(arrived()))
        while not event.is_set():
            dead = [a for a in self.iml.dead() if a not in self.stopped]
            if dead:
                tail = self.iml.log_tail(dead[0])
                raise PipelineError(f"{what}: agent {dead[0]} exited\n{tail}")
            now = time.monotonic()
            if isinstance(self.iml, ReportsWork):
                wait.worked(self.iml.cpu_seconds(), set(self.pops) - arrived(), now)
            wait.seen(len(arrived()), now)
            if now > wait.deadline():
                missing = ", ".join(sorted(set(self.pops) - arrived()))
                raise PipelineError(
                    f"{what}: timed out after {now - began:.0f} s with {wait.count} of "
                    f"{len(self.pops)} in, none arrived or worked for longer than their pace "
                    f"allows (missing: {missing})"
                )
            try:
                await asyncio.wait_for(asyncio.shield(event.wait()), 0.2)
            except TimeoutError:
                continue

    # -- steps 3-14 --------------------------------------------------------------------------
    async def secure(self) -> None:
        """Steps 3–14 for the agents that joined; registered agents are revoked if a later
        step fails (or the run is interrupted meanwhile)."""
        flow = self.workflow
        image = await flow.step(
            "3-4",
            lambda: self.wrap_image(Ed25519PrivateKey.generate(), self.repository),
            {"artifact": "secmas (Python package)"},
            lambda wrapped: {
                "image": wrapped.manifest.image,
                "version": wrapped.manifest.version,
                "root": wrapped.manifest.root,
                "entries": len(wrapped.manifest.entries),
            },
        )
        self.image = image
        if self.outside is not None:  # measuring from outside begins beside steps 5-8
            self.external = await asyncio.to_thread(self.outside, image)
        self.images = {pop: self.images.get(pop, image) for pop in self.pops}
        await flow.step(
            "5",
            lambda: sorted(self.joined),
            {"image": image.manifest.image},
            lambda agents: {
                "agents": agents,
                "images": {a: self.images[a].manifest.image for a in agents},
            },
        )
        await flow.step(
            "6-7",
            self._deploy_and_register,
            {"ledger": self.ledger_url or self.security.ledger, "agents": len(self.pops)},
            lambda _: {
                "AgentRegistry": self.contracts.registry.address if self.contracts else None,
                "SecretStore": self.contracts.secret_store.address if self.contracts else None,
                "accounts": {a: p.address for a, p in self.joined.items()},
                "tx": dict(self.setup_tx),
            },
        )
        try:
            await flow.step(
                "8",
                self._welcome_all,
                {"agents": len(self.pops)},
                lambda n: {
                    "welcomed": n,
                    "enrolled": sorted(self.enrolment.enrolled),
                    "refused_joins": len(self.enrolment.refused),
                },
            )
            self._build_chain()
            await flow.step(
                "9-12",
                self._attest_initially,
                {"plan": list(self.plan), "groups": len(self.groups)},
                lambda _: {
                    "records": len(self.entries),
                    "root_of_trust": self.entries[-1].root_of_trust if self.entries else None,
                    "failed": [e.measured for e in self.entries if not e.passed],
                },
            )
            await flow.step(
                "13-14",
                self._key_agents,
                {"encrypt": self.security.encrypt, "cipher": self.security.cipher},
                lambda _: {
                    "epoch": self.pushes[-1].epoch,
                    "recipients": len(self.pushes[-1].recipients),
                    "tx": self.pushes[-1].receipts[-1].tx_hash,
                    "batches": len(self.pushes[-1].receipts),
                },
            )
        except BaseException:
            await self.clock.run_blocking(self._revoke_all)
            raise

    def _deploy_and_register(self) -> None:
        """Steps 6–7: contracts, then every joined agent's account registered and funded
        in one transaction, and the attestation plan."""
        mlfo_key, secaas_key = self.ledger_keys or (None, None)
        ledger = connect(
            self.ledger_url or self.security.ledger,
            mlfo_key=mlfo_key,
            secaas_key=secaas_key,
            ca_file=self.ledger_ca,
            token=self.ledger_token,
        )
        self.contracts = ledger.deploy()
        self.ledger = ledger
        members = [self.joined[p] for p in self.pops]
        period = self.security.attestation.period
        steps = run_steps(self.duration, period, len(self.plan), len(self.groups))
        self.budget = budget(ledger.chain, len(members), steps)
        funding = self.budget.per_agent_wei
        self.setup_tx.update(
            register_agents(
                self.contracts.registry, self.name, members, self._group_peers(), funding
            )
        )

    def _group_peers(self) -> list[list[Peer]]:
        """The attestation groups' plans, as the members the MLFO knows."""
        return [[self.joined[a] for a in group] for group in self.groups]

    def _revoke_all(self) -> None:
        """Rollback: nothing stays registered after a failed deployment."""
        if self.contracts is not None:
            revoke_active(self.contracts.registry, self.name, self.joined.values())

    def _welcome(self) -> bytes:
        security = self.security
        assert self.contracts is not None and self.ledger is not None
        return json.dumps(
            {
                "mlfo": {
                    "sealing_key": self.identity.sealing_public.hex(),
                    "signing_key": self.identity.signing_public.hex(),
                },
                "registry": self.contracts.registry.address,
                "secret_store": self.contracts.secret_store.address,
                "funder": address_of(self.ledger.mlfo),
                "vni": vni_of(self.name, security),
                "cipher": security.cipher,
                "grace": security.grace,
                "encrypt": security.encrypt,
                "timeout": security.attestation.challenge_timeout,
                "heartbeat": security.heartbeat,
            }
        ).encode()

    async def _welcome_all(self, agents: tuple[str, ...] | None = None) -> int:
        """Step 8: each agent gets the contracts' addresses and the overlay settings, all
        at once: each answers once it read its peers' keys from the registry and serves
        its verifier role, which N agents do side by side (each within the bring-up
        budget of N agents: they share the cores)."""
        agents = agents or self.pops
        payload = self._welcome()
        ceiling = self.arrival.ceiling(len(self.pops))
        answered: set[str] = set()
        ended = asyncio.Event()

        async def ask(name: str) -> None:
            await self.control.request(welcome_subject(self.name, name), name, payload, ceiling)
            answered.add(name)

        asking = asyncio.gather(*(ask(name) for name in agents))
        asking.add_done_callback(lambda _: ended.set())
        try:  # waited for while the agents answer or work, as for their joins
            await self.wait(ended, "agents welcomed", lambda: answered | self.stopped.keys())
            await asking
        finally:
            asking.cancel()
        return len(agents)

    def _remote(self, agent: str) -> RemoteVerifier:
        """The MLFO's handle on an elected verifier; on simulated time its step (ledger
        work the clock waits for) is not bounded by wall time."""
        return RemoteVerifier(
            self.control, agent, handling=HANDLING_CAP if self.simulated else None
        )

    def _expected(self, agent: str) -> Expected:
        image = self.images[agent]
        return Expected(image.manifest.image, image.reference)

    def _build_chain(self) -> None:
        security = self.security
        assert self.contracts is not None and self.ledger is not None
        declared = security.attestation.challenge_timeout
        deadlines = (
            Deadlines.run_clock(declared, self.clock.now)
            if self.simulated
            else Deadlines.measured(declared)
        )
        members = [self.joined[p] for p in self.pops]
        self.chain = AttestationChain(
            pipeline=self.name,
            control=ControlPlane(self.raw, self.secaas, self.directory, self.name),
            secaas_registry=self.contracts.registry.as_(self.ledger.secaas),
            mlfo_registry=self.contracts.registry,
            peers={p.address: p for p in members},
            expected={p.name: self._expected(p.name) for p in members},
            roles={p.name: self._remote(p.name) for p in members},
            view=self.view,
            timeout=declared,
            offload=self.clock.run_blocking,
            on_halt=self._halt,
            on_revoke=self._rekey,
            now=self.clock.now,
            deadlines=deadlines,
            groups=self.groups,
        )
        vni = vni_of(self.name, security)
        self.keyring = EpochKeyring(
            self.identity, self.name, vni, self.directory, grace=security.grace
        )
        self.liveness = LivenessMonitor(
            self.name,
            set(self.pops),
            changed=self.view.changed,
            clock=self.clock,
            period=security.heartbeat,
        )
        self.liveness.told = journalled(self.journal)
        self.liveness.gone = self.view.excluded.__contains__
        self.chain.silent = self.liveness.withdrew
        if self.external is not None:
            self.chain.external = self._check_outside

    async def _check_outside(self, agent: str) -> MeasurerAppraisal:
        """The agent measured from outside; on simulated time a blocking check the clock
        waits for, so that a slow measurer never moves a verdict in time."""
        external = self.external
        assert external is not None
        if self.simulated and isinstance(external, ExternalAttestation):
            return await self.clock.run_blocking(external.check_now, agent)
        return await external.check(agent)

    async def _attest_initially(self) -> None:
        """Steps 9–12: in every attestation group side by side, SECaaS attests its first
        agent, then one mutual round; the first group to fail stops the others."""
        assert self.liveness is not None
        await self.liveness.start(self.control)
        groups = [
            asyncio.ensure_future(self._attest_group(g, members))
            for g, members in enumerate(self.groups)
        ]
        try:
            for done in asyncio.as_completed(groups):
                await done
        finally:
            for group in groups:
                group.cancel()
            await asyncio.gather(*groups, return_exceptions=True)

    async def _attest_group(self, group: int, members: tuple[str, ...]) -> None:
        """SECaaS attests the group's first agent (its root of trust), then one round."""
        assert self.chain is not None
        first = await self.chain.initial(members[0])
        if not first.passed:
            raise PipelineError(
                f"initial attestation of {first.measured} failed: {'; '.join(first.reasons)}"
            )
        await self.chain.run(len(members) - 1, group)

    async def _key_agents(self) -> None:
        """Steps 13–14 of the bring-up: as for their joins, no fixed time; each agent may
        answer as late as any request of a bring-up of N agents may be (they share the
        cores), and the wait fails early, naming it, when an agent dies meanwhile or none
        answers or works for longer than their pace allows (`wait`)."""
        ended = asyncio.Event()
        patience = self.arrival.ceiling(len(self.pops))
        pushing = asyncio.ensure_future(self.push_keys(patience=patience))
        pushing.add_done_callback(lambda _: ended.set())
        try:
            await self.wait(ended, "agents keyed", lambda: self._keyed | self.stopped.keys())
            await pushing
        finally:
            pushing.cancel()

    async def push_keys(
        self, newcomers: tuple[str, ...] = (), patience: float = REKEY_TIMEOUT_S
    ) -> None:
        """Steps 13–14: a new epoch's secret to every trusted member, each told to fetch
        it, then to switch to it, within `patience` s; with `newcomers`, the current epoch
        to those only. Trusted means admitted by the MLFO and trusted on chain when the
        push is made: a verifier's FAIL untrusts an agent on chain a moment before the MLFO
        settles it, and the contract refuses a push to it (which failed a whole rekey)."""
        assert self.contracts is not None and self.chain is not None and self.keyring is not None
        registry, store = self.contracts.registry, self.contracts.secret_store
        admitted = [p for p in self.chain.peers.values() if self.view.admits(p.name)]
        if newcomers:
            admitted = [p for p in admitted if p.name in newcomers]
        secret = self.pushes[-1].secret if newcomers else None
        peers: list[Peer] = []

        def push_to_trusted() -> EpochPush:
            keyed = set(keyable(registry, pipeline_id(self.name), [p.address for p in admitted]))
            peers.extend(p for p in admitted if p.address in keyed)
            recipients = [Recipient(p.address, p.sealing_key) for p in peers]
            return push_epoch(
                self.name, registry, store, recipients, keep_secret=True, secret=secret
            )

        push = await self.clock.run_blocking(push_to_trusted)
        self.pushes.append(push)
        assert push.secret is not None
        self.keyring.install(push.epoch, push.secret)
        self._keyed = set()

        # Where each box is: the member reads its log there, with no call to the store.
        install = {p.name: {"epoch": push.epoch, "block": push.blocks[p.address]} for p in peers}

        async def switch(agent: str) -> None:
            await self._tell(agent, {"switch": push.epoch}, patience)
            self._keyed.add(agent)

        rotation = await rotate(
            push.epoch,
            [p.name for p in peers],
            lambda agent: self._tell(agent, install[agent], patience),
            switch,
            timeout=patience,
        )
        self.keyring.activate(push.epoch)
        self.rotations.append(rotation)

    async def _tell(
        self, agent: str, message: Mapping[str, int | bool], patience: float = REKEY_TIMEOUT_S
    ) -> None:
        """One key-service message to `agent`, answered within `patience` s (an error it
        reports raises)."""
        subject = rekey_subject(self.name, agent)
        payload = json.dumps(message).encode()
        answer = json.loads(await self.control.request(subject, agent, payload, patience))
        if "error" in answer:
            raise PipelineError(str(answer["error"]))

    # -- revocation --------------------------------------------------------------------------
    async def _halt(self, peer: Peer, reason: str) -> None:
        """A revocation, first: the agent is stopped by its IML driver (it takes no
        further action) and the MLFO's keyring closes its links."""
        assert self.keyring is not None
        self.keyring.revoke(peer.name)
        await self._stop_revoked(peer.name, reason)

    async def _rekey(self, peer: Peer, reason: str) -> None:
        """A revocation on chain: the others are keyed in a new epoch without the agent."""
        if self.pushes:  # before the first epoch is pushed, revocation needs no new one
            await self.push_keys()

    async def _stop_revoked(self, agent: str, reason: str) -> None:
        """Have the IML driver stop a revoked agent (SIGTERM, then SIGKILL after a grace:
        `secmas.pipeline.iml.stop_agent`; in this process, its halt) and journal it as
        the MLFO's action. Its goals are re-auctioned or adopted as a lost agent's are."""
        if agent in self.stopped:
            return
        now = self.clock.now()
        self.stopped[agent] = now
        if isinstance(self.iml, HaltsItsAgents):
            how = await self.iml.halt(agent, reason)
        else:
            how = await asyncio.to_thread(stop_agent, self.iml, agent)
        detail = f"{agent}: {how} (revoked: {reason})"
        self.journal.action(ActionEvent(now, MLFO, "stopAgent", detail))
        logger.warning("stopped revoked agent %s", detail)
        if self.on_stopped is not None:
            self.on_stopped(agent)

    async def remove_agent(self, agent: str, reason: str = "removed by the MLFO") -> None:
        """Stop `agent`, revoke it on chain and re-key the others, who learn from the
        chain that it is no longer trusted and exclude it."""
        peer = self.joined.get(agent)
        if peer is None or self.chain is None:
            raise PipelineError(f"remove {agent}: not a registered member of {self.name}")
        if agent in self.view.excluded:  # revoked (and stopped) already: a failed attestation
            return
        await self.chain.revoke(peer, reason)

    def admits(self, agent: str) -> bool:
        """Whether `agent` takes part in auctions: trusted (`view`) and not withdrawn for
        silence (`liveness`, until it beats again)."""
        return admitted(self.view, self.liveness, agent)

    # -- reconfiguration ---------------------------------------------------------------------
    async def add_agent(self, agent: str) -> ChainEntry:
        """Add an agent to the running pipeline: started by the IML driver with a fresh
        credential, registered and put at the end of the plan, attested by the current
        root of trust along the chain, then given the current epoch's key."""
        if agent in self.joined or agent in self.pops:
            raise PipelineError(f"add {agent}: already a member of {self.name}")
        chain, contracts = self.chain, self.contracts
        assert chain is not None and contracts is not None and self.budget is not None
        assert self.liveness is not None and self.image is not None
        self.pops = (*self.pops, agent)
        self.plan = (*self.plan, agent)
        self.groups = (*self.groups[:-1], (*self.groups[-1], agent))
        self.images = {**self.images, agent: self.images.get(agent, self.image)}
        self._all_joined.clear()
        self.iml.start(self.launch(agent, self._hand_credential(agent)))
        await self.wait(self._all_joined, f"add {agent}", lambda: set(self.joined))
        peer = self.joined[agent]
        funding = self.budget.per_agent_wei
        await self.clock.run_blocking(
            register_agents, contracts.registry, self.name, [peer], self._group_peers(), funding
        )
        chain.regroup(self.groups)
        chain.peers[peer.address] = peer
        chain.expected[agent] = self._expected(agent)
        chain.roles = {**chain.roles, agent: self._remote(agent)}
        self.liveness.agents = {*self.liveness.agents, agent}
        await self._welcome_all((agent,))
        entry, group = None, chain.group_of(agent)
        for _ in range(len(self.groups[group]) + 1):
            entry = await chain.step(group)
            if entry is None or entry.measured == agent:
                break
        if entry is None or entry.measured != agent or not entry.passed:
            raise PipelineError(f"add {agent}: it did not pass attestation")
        await self.push_keys(newcomers=(agent,))
        others = [a for a in self.pops if a != agent and self.view.admits(a)]
        await asyncio.gather(*(self._tell(a, {"members": True}) for a in others))
        return entry

    # -- work and operation ------------------------------------------------------------------
    @property
    def entries(self) -> list[ChainEntry]:
        return [] if self.chain is None else self.chain.entries

    @property
    def bus(self) -> Bus:
        """The MLFO's end of the pipeline's channel (the bus itself without encryption)."""
        if not self.security.encrypt or self.keyring is None:
            return self.raw
        if self._channel is None:
            self._channel = SecureBus(
                self.raw,
                MLFO,
                vni_of(self.name, self.security),
                self.keyring,
                recipient,
                cipher=self.security.cipher,
            )
        return self._channel

    async def cohort(self, seats: Mapping[str, Any] | None = None) -> Cohort:
        """The agents as the MLFO gives them work after bring-up (`secmas.pipeline.work`):
        their keys read back from the registry; `seats`, the agents' own sides where they
        run in this process (elsewhere each serves its seat where it runs)."""
        assert self.contracts is not None
        on_chain = await self.clock.run_blocking(
            peers_from_registry, self.contracts.registry, self.name
        )
        admitted_now = tuple(a for a in self.pops if self.view.admits(a))
        return Cohort(
            self.name,
            self.pops,
            admitted_now,
            {p.name: p.signing_key for p in on_chain.values()},
            self.identity,
            self.bus,
            {a: s for a, s in (seats or {}).items() if a in admitted_now},
        )

    def watch_liveness(self, clock: Clock) -> None:
        """From now on, on the run's `clock`, an agent silent for its window is withdrawn
        from auctions until it beats again (the agents beat from now on too)."""
        assert self.liveness is not None
        self.liveness.watch(clock, self.security.heartbeat, self.security.attestation.period)

    def attest_in_background(self, clock: Clock, seed: int) -> None:
        """Mutual attestation during operation on the run's `clock`, off the agents'
        critical path, and the host measurer replaced when its process is gone."""
        assert self.chain is not None
        self.clock = clock
        self.chain.now = clock.now  # attestation records carry the run's time
        self._background = asyncio.gather(self._attest_periodically(seed), self._watch_measurer())

    async def _attest_periodically(self, seed: int) -> None:
        """In every attestation group side by side, one mutual attestation step every
        period and, between the first group's, unannounced checks drawn for the run's
        `seed` on simulated time, from a secret of this process in real time
        (`secmas.trust.schedule`)."""
        count = len(self.groups)
        await asyncio.gather(
            *(self._attest_group_periodically(seed, g, count) for g in range(count))
        )

    async def _attest_group_periodically(self, seed: int, group: int, groups: int) -> None:
        assert self.chain is not None
        clock = self.clock
        timetable = Timetable.for_run(
            self.security.attestation,
            self.name,
            seed,
            self.simulated,
            clock.now(),
            group=(group, groups),
        )
        while True:
            due = timetable.next()
            await clock.sleep(due.at - clock.now())
            try:
                await self.chain.attest(due)
            except (LedgerError, VerifierFailed, TimeoutError, BusClosed) as exc:
                logger.error("mutual attestation step failed: %s", exc)  # the MAS goes on
            timetable.done(due, clock.now())

    async def _watch_measurer(self) -> None:
        """Each run second, replace this host's measurer if its process is gone, before a
        check finds it missing; the MLFO journals every replacement."""
        host = self.external
        if not isinstance(host, ExternalAttestation):
            return
        told = 0
        while True:
            await self.clock.sleep(1.0)
            try:
                if host.host.process.poll() is not None:
                    await asyncio.to_thread(host.revive)
            except (MeasurerError, OSError) as exc:  # the next check replaces it, or says so
                logger.error("could not replace this host's measurer: %s", exc)
            for why in host.restarts[told:]:
                detail = f"{why}: successor {host.host.process.pid}"
                self.journal.action(ActionEvent(self.clock.now(), MLFO, "restartMeasurer", detail))
            told = len(host.restarts)

    async def stop_background(self) -> None:
        """Stop the background attestation (a step in flight is cancelled: its ledger
        work still ends in its thread) and the liveness watch."""
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)
            self._background = None
        if self.liveness is not None:
            await self.liveness.stop()

    async def close(self) -> None:
        """The background work, the MLFO's channel and endpoints, the measurer."""
        try:
            await self.stop_background()
            if self._channel is not None:
                await self._channel.close()
            await self.control.close()
            if self.chain is not None:
                await self.chain.control.close()
        finally:
            self.repository.close()
            self.stop_measurer()

    def stop_measurer(self) -> None:
        if self.external is not None:
            self.external.stop()

    # -- report ------------------------------------------------------------------------------
    def funding_report(self, swept: Mapping[str, int]) -> dict[str, Any] | None:
        """What each agent was given, what the agents sent back (`swept`) and what their
        accounts still hold (a killed agent's stays: its key died with it)."""
        if self.budget is None or self.ledger is None:
            return None
        return {
            **self.budget.to_json(),
            "funded_wei": self.budget.per_agent_wei * len(self.joined),
            "swept_wei": sum(swept.values()),
            "left_wei": sum(self.ledger.balance(p.address) for p in self.joined.values()),
        }

    def report(
        self,
        states: Mapping[str, Mapping[str, Any]],
        now: float,
        columns: Mapping[str, Mapping[str, Any]] | None = None,
        round_trips: list[float] | None = None,
    ) -> dict[str, Any]:
        """report.json's trust section (`secmas.pipeline.trustreport`); the agents' final
        states give their channel counts, epochs and what they swept back."""
        chain, contracts, ledger = self.chain, self.contracts, self.ledger
        assert chain is not None and contracts is not None and ledger is not None
        assert self.image is not None
        security = self.security
        channel = None
        if security.encrypt:
            channel = {
                "cipher": security.cipher,
                "vni": vni_of(self.name, security),
                "agents": {p: s["channel"] for p, s in states.items() if s.get("channel")},
            }
        extra = columns or {}
        records = TrustRecords(
            pipeline=self.name,
            ledger_url=ledger.url,
            contracts=contracts,
            security=security,
            view=self.view,
            accounts={p: self.joined[p].address for p in self.pops if p in self.joined},
            columns={
                p: {"key_epoch": states.get(p, {}).get("key_epoch"), **extra.get(p, {})}
                for p in self.pops
            },
            plan=self.plan,
            groups=self.groups,
            setup_tx=self.setup_tx,
            entries=chain.entries,
            pushes=self.pushes,
            rotations=self.rotations,
            liveness=self.liveness,
            workflow=self.workflow,
            round_trips=[
                *(chain.deadlines.answers if chain.deadlines else []),
                *(round_trips or []),
            ],
            ledger=ledger,
            funding=self.funding_report({p: int(s.get("swept_wei", 0)) for p, s in states.items()}),
            channel=channel,
            external=None if self.external is None else self.external.report(),
            image=self.image.manifest,
            plugins=self.image.plugins,
        )
        return trust_report(records, now)
