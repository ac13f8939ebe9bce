"""The multi-process workflow: every agent its own process, over a real NATS server.

`operate_processes` (`secmas.pipeline.outside`, which picks the engine) is `operate` for
agents that share nothing but the bus and the ledger. It starts a `nats-server` (unless
given one) and, for the in-process EVM, a JSON-RPC ledger server; it runs the MLFO and
SECaaS (contracts, registration of the agents that join, initial and mutual attestation
through the agents' own verifier roles, key epochs) and the network (its controller
served on the bus, one tick per step to every agent: the simulator on a scaled wall
clock, `SimulatedNetwork`, or a real emulated network in real time with the agents
inside their PoPs, `secmas.pipeline.emulated_processes`); an IML driver
(`secmas.pipeline.iml`, by default one `secmas agent` process per PoP on this machine)
starts the agents, and their journals and final state make the same report as an
in-process run. A killed agent process stays dead: it is withdrawn from auctions once
silent for its window (`secmas.trust.liveness`), its auctions time out and are
re-auctioned, and it fails its attestation once the chain stops waiting for it
(`AttestationChain.silent`). A revoked agent (a failed attestation, the SSLA manager's
REVOKE) takes no further action: the IML driver stops its process (SIGTERM, then SIGKILL
after a grace), the MLFO journals it, and its goals go to the others as a killed agent's
do. Work the run gives its attested agents (`secmas.pipeline.work`: federated training)
runs after bring-up, before the data plane starts, with each agent process serving its
part from its seat.

The run's step loops (closed loop, SSLA manager, CTI hygiene, moving target defence) run
here, in the MLFO's process, where the data plane and its controller are: after each
tick every live agent reports it perceived it, then the loops look at the step. They
reach the agents only over the bus (`secmas.pipeline.agentcontrol`): goals posted and
followed, beliefs asked, instances listed and stopped, the agents' calls for proposals
checked against the loops' decline policies, and whom the loops' trust rule excludes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.auction import SPACE, Admits, AuctionSettings, paced
from secmas.agents.ddos.agent import World
from secmas.agents.journal import ActionEvent, Journal, apply_json, journal_subject
from secmas.agents.linksync import LinkSync
from secmas.interrupt import uninterrupted
from secmas.ledger.chain import address_of
from secmas.ledger.connection import Contracts, Ledger, connect
from secmas.ledger.errors import LedgerError
from secmas.ledger.funding import Budget, budget, run_steps
from secmas.ledger.rpcserver import LedgerServer
from secmas.network.clock import ScaledClock
from secmas.network.dataplane import DataPlane, Telemetry
from secmas.network.dataplane.controller import Controller, ControllerService, LocalController
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.agent_process import (
    MLFO,
    join_subject,
    ready_subject,
    recipient,
    rekey_subject,
    start_subject,
    stop_subject,
    tick_subject,
    welcome_subject,
)
from secmas.pipeline.agentcontrol import (
    Admission,
    DeclineService,
    GoalTickets,
    RemoteAgent,
    TickBarrier,
)
from secmas.pipeline.bringup import BringUp
from secmas.pipeline.busaccess import BUS_FOLDER, BusAccess, discard_secrets, issue_run_bus
from secmas.pipeline.errors import PipelineError, RunError
from secmas.pipeline.heap import long_lived
from secmas.pipeline.hosts import HostProcesses
from secmas.pipeline.iml import (
    AgentLaunch,
    ChecksItsAgents,
    IMLDriver,
    LocalProcesses,
    OutsideCheck,
    ReportsWork,
    stop_agent,
)
from secmas.pipeline.mlfo import pipeline_name, plan_service
from secmas.pipeline.operate import (
    CapacityCheck,
    OperateResult,
    StepLoop,
    _merged,
    give_work,
    journalled,
)
from secmas.pipeline.registration import register_agents, revoke_active
from secmas.pipeline.secure import WrappedImage, measurer_deadlines, secmas_image, vni_of
from secmas.pipeline.ticklatency import TickLatency
from secmas.pipeline.trustreport import TrustRecords, trust_report
from secmas.pipeline.work import AgentWork, Cohort
from secmas.pipeline.workflow import Told, Workflow
from secmas.scenario.model import Scenario
from secmas.transport.address import BusAddress
from secmas.transport.broker import NatsServer
from secmas.transport.bus import Bus, BusClosed
from secmas.transport.channel import SecureBus
from secmas.transport.tls import issue_run_pki
from secmas.trust.chain import (
    AttestationChain,
    Expected,
    Peer,
    VerifierFailed,
    peers_by_address,
)
from secmas.trust.control import SECAAS, ControlPlane
from secmas.trust.enrolment import Enrolment, EnrolmentError, JoinRequest
from secmas.trust.envelope import Opened
from secmas.trust.epochs import EpochPush, Recipient, push_epoch
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.liveness import LivenessMonitor, admitted
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.measurer import MeasurerError
from secmas.trust.measurer_service import ExternalAttestation
from secmas.trust.repository import ReferenceRepository
from secmas.trust.rotation import Rotation, rotate
from secmas.trust.schedule import Timetable
from secmas.trust.sitelist import held
from secmas.trust.verification import RemoteVerifier, peers_from_registry
from secmas.trust.view import TrustView

logger = logging.getLogger(__name__)

LEDGER_FOLDER = "ledger-tls"
"""Where a run keeps its ledger server's certificate (its key removed when the run ends)."""

Progress = Callable[[float, float], None]
ImageWrap = Callable[[Ed25519PrivateKey, ReferenceRepository], WrappedImage]
"""Steps 3–4: how SECaaS wraps what the agents run, signed with the key, stored."""


@dataclass(frozen=True)
class KillCue:
    """Kill an agent `after` simulated seconds once the run's journal shows it did
    `action` (resilience tests that must hit one stage of the mitigation, whenever a
    loaded machine makes it come)."""

    action: str
    after: float = 0.0


Kill = float | KillCue
"""When an agent process is killed: at a simulated second, or on a cue."""


def kill_due(pop: str, when: Kill, actions: Iterable[ActionEvent]) -> float | None:
    """The simulated second `pop` is due to be killed: `when` itself, or `after` seconds
    past the first of its `actions` its cue names (None while there is none)."""
    if not isinstance(when, KillCue):
        return when
    cued = next((a.time for a in actions if a.agent == pop and a.action == when.action), None)
    return None if cued is None else cued + when.after


TICK_WAIT = 2.0
"""Wall seconds the loops wait for the agents to perceive a step before looking at it."""


@dataclass
class Beside:
    """The step loops' world in the MLFO's process and their bus services."""

    world: World
    links: LinkSync
    tickets: GoalTickets
    barrier: TickBarrier
    admission: Admission = field(init=False)

    @property
    def declines(self) -> bool:
        """Whether a loop holds a decline policy the agents must ask about."""
        return bool(self.world.declines)


@dataclass(frozen=True)
class Members:
    """The agents of a run and the MLFO's rule for them, for an `Admission` of its own."""

    directory: tuple[str, ...]
    admits: Admits


@dataclass
class Driver:
    """MLFO, SECaaS and the network for one multi-process run."""

    scenario: Scenario
    scenario_file: Path
    bus: BusAccess
    ledger_url: str | None
    ledger_keys: tuple[str | None, str | None] | None
    """The MLFO's and SECaaS's keys on the ledger (None: the node's own accounts)."""
    raw: Bus
    workdir: Path
    steps: Told | None = None
    tamper: Mapping[str, float] = field(default_factory=dict)
    workflow: Workflow = field(init=False)
    name: str = ""
    journal: Journal = field(default_factory=Journal)
    iml: IMLDriver | None = None
    """Where the agents run (default: `LocalProcesses` on this machine)."""
    ledger_ca: Path | None = None
    """The CA the ledger's HTTPS certificate chains to (None: plain HTTP or system CAs)."""
    agent_bus: BusAddress | None = None
    """Where the agents reach the bus (None: where the MLFO does)."""
    agent_ledger: str | None = None
    """Where the agents reach the ledger (None: where the MLFO does)."""
    perceived: TickLatency | None = None
    """Measures how long each agent takes to perceive a tick (None: not measured)."""
    wrap_image: ImageWrap = secmas_image
    """What the agents run, wrapped (default: this machine's secmas package; agents in an
    OCI image: `secmas.deploy.imagewrap`)."""
    killed: dict[str, float] = field(default_factory=dict)
    stopped: dict[str, float] = field(default_factory=dict)
    """Revoked agents whose process the IML driver stopped, with the run second it did."""
    joined: dict[str, Peer] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    view: TrustView = field(default_factory=TrustView)
    pushes: list[EpochPush] = field(default_factory=list)
    setup_tx: dict[str, str] = field(default_factory=dict)
    chain: AttestationChain | None = None
    contracts: Contracts | None = None
    keyring: EpochKeyring | None = None
    identity: AgentIdentity = field(default_factory=lambda: AgentIdentity.generate(MLFO))
    """The MLFO's keys on the secure channel (its link keys are pairwise too)."""
    rotations: list[Rotation] = field(default_factory=list)
    secure: Bus | None = None
    ledger: Ledger | None = None
    """The MLFO's ledger connection (None without the trust layer)."""
    budget: Budget | None = None
    """What the run may spend: each agent's funding (`secmas.ledger.funding`)."""
    liveness: LivenessMonitor | None = None
    manifest: ReferenceManifest | None = None
    """The wrapped image the agents run (steps 3–4), for the report."""
    external: OutsideCheck | None = None
    """Each agent checked from outside: this host's measurer measures its process (issue
    21 item 1), or a driver whose agents run an image checks them (issue 33)."""
    secaas: AgentIdentity = field(default_factory=lambda: AgentIdentity.generate(SECAAS))
    directory: dict[str, PeerKeys] = field(default_factory=dict)
    """Public keys of the MLFO, SECaaS and every enrolled agent, by name."""
    control: ControlPlane = field(init=False)
    """The MLFO's control-plane endpoint (joins, welcome, rekey, verdicts, heartbeats)."""
    enrolment: Enrolment = field(init=False)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each live agent's final state, once collected."""
    arrival: BringUp = field(default_factory=BringUp)
    """How long the agents may take to join and be ready (`secmas.pipeline.bringup`)."""
    _all_joined: asyncio.Event = field(default_factory=asyncio.Event)
    _all_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.name = pipeline_name(self.scenario.id)
        self.workflow = Workflow(self.steps)
        if self.iml is None:
            self.iml = LocalProcesses(self.workdir)
        self.directory.update({MLFO: PeerKeys.of(self.identity), SECAAS: PeerKeys.of(self.secaas)})
        self.control = ControlPlane(self.raw, self.identity, self.directory, self.name)
        self.enrolment = Enrolment(self.name, self.identity, self.secaas)

    @property
    def pops(self) -> list[str]:
        return [p.id for p in self.scenario.pops]

    # -- agents joining ----------------------------------------------------------------------
    async def _on_join(self, opened: Opened) -> bytes:
        """A sealed join: admitted only under the one-time credential issued for it."""
        try:
            join = JoinRequest.decode(opened.payload)
            self.enrolment.admit(join, opened.sender, opened.sender_key)
        except EnrolmentError as exc:
            logger.warning("refused a join as %r: %s", opened.sender, exc)
            return json.dumps({"error": str(exc)}).encode()
        member = Peer(join.agent, join.address, join.signing_key, join.sealing_key)
        self.directory[member.name] = PeerKeys(member.sealing_key, member.signing_key)
        self.joined[member.name] = member
        if len(self.joined) == len(self.pops):
            self._all_joined.set()
        return json.dumps({"accepted": member.name}).encode()

    async def _on_ready(self, subject: str, _data: bytes) -> None:
        self.ready.add(subject.rsplit(".", 1)[1])
        self._check_ready()

    def _check_ready(self) -> None:
        """Every agent is ready, but those stopped for good (revoked during bring-up)."""
        if self.ready | self.stopped.keys() >= set(self.pops):
            self._all_ready.set()

    async def _wait(self, event: asyncio.Event, what: str, arrived: Callable[[], set[str]]) -> None:
        """Wait for `event` while the agents keep arriving (`arrived`: those in) or the
        missing ones keep working, failing early (naming the log) when an agent process
        died, or when none arrived or worked for longer than `arrival` allows (naming
        those missing)."""
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
                    "allows "
                    f"(missing: {missing})"
                )
            try:
                await asyncio.wait_for(asyncio.shield(event.wait()), 0.2)
            except TimeoutError:
                continue

    # -- bring-up ----------------------------------------------------------------------------
    async def bring_up(self) -> None:
        """Steps 2–14 with the local-process IML driver."""
        flow = self.workflow
        security = self.scenario.security
        await self.raw.subscribe(ready_subject(self.name, "*"), self._on_ready)
        if security.enabled:
            await self.control.serve(join_subject(self.name), self._on_join, enrolment=True)
        await flow.step(
            "2",
            self._deploy_agents,
            {
                "driver": self.iml.name,
                "bus": (self.agent_bus or self.bus.address).redacted,
                "agents": len(self.pops),
            },
            lambda _: {
                **self.iml.describe(),
                "overlay": f"VNI {vni_of(self.name, security)} on {self.bus.address.redacted}",
                "joined": sorted(self.joined),
            },
        )
        if security.enabled:
            await self._secure()
        await self._wait(self._all_ready, "agents ready", lambda: self.ready | self.stopped.keys())

    async def _deploy_agents(self) -> None:
        """Step 2: one `secmas agent` process per PoP; with the trust layer, each asks to
        join the pipeline."""
        security = self.scenario.security
        ledger = (self.agent_ledger or self.ledger_url) if security.enabled else None
        bus = self.bus
        address = self.agent_bus or bus.address
        platform = self._hand_platform() if security.enabled else None
        for index, pop in enumerate(self.pops):  # spread over the nodes of a cluster
            enrolment = self._hand_credential(pop) if security.enabled else None
            launch = AgentLaunch(
                pop,
                self.scenario_file,
                address.rotated(index),
                self.name,
                ledger,
                self.tamper.get(pop),
                bus_ca=bus.ca_file,
                bus_nkey=bus.nkey(pop),
                bus_auth=bus.address.userinfo,
                enrolment=enrolment,
                ledger_ca=self.ledger_ca,
                platform=platform,
            )
            self.iml.start(launch)
        if security.enabled:
            await self._wait(self._all_joined, "agents joining", lambda: set(self.joined))

    def _hand_platform(self) -> Path | None:
        """The release's signed platform allow-list (`secmas.trust.sitelist`), for agents
        that run this host's install and may not read its release store (another user);
        none for a driver whose agents run files of their own (an image: theirs)."""
        if isinstance(self.iml, ChecksItsAgents):
            return None
        path = self.workdir / "platform.json"
        path.write_text(held().encode(), encoding="utf-8")
        return path

    def _hand_credential(self, pop: str) -> Path:
        """The one-time enrolment credential of `pop` (step 8), in a file only this user
        reads, for the IML driver to hand over; the agent removes it once read."""
        path = self.workdir / f"enrolment-{pop}.json"
        path.unlink(missing_ok=True)
        self.enrolment.issue(pop).write(path)
        return path

    def discard_credentials(self) -> None:
        """Remove credentials no agent took (it died before reading its own)."""
        for pop in self.pops:
            (self.workdir / f"enrolment-{pop}.json").unlink(missing_ok=True)

    async def _secure(self) -> None:
        """Steps 3–14 with agents in other processes; registered agents are revoked if a
        later step fails."""
        flow = self.workflow
        security = self.scenario.security
        assert self.ledger_url is not None
        image = await flow.step(
            "3-4",
            lambda: self.wrap_image(Ed25519PrivateKey.generate(), ReferenceRepository(":memory:")),
            {"artifact": "secmas (Python package)"},
            lambda wrapped: {"image": wrapped.manifest.image, "root": wrapped.manifest.root},
        )
        await flow.step(
            "5",
            lambda: sorted(self.joined),
            {"image": image.manifest.image},
            lambda agents: {"agents": agents, "runs": "the installed secmas package"},
        )
        members = [self.joined[p] for p in self.pops]
        ledger = await flow.step(
            "6-7",
            self._register,
            {"ledger": self.ledger_url, "agents": len(members)},
            lambda _: {
                "AgentRegistry": self.contracts.registry.address if self.contracts else None,
                "tx": dict(self.setup_tx),
            },
        )
        try:
            await flow.step(
                "8",
                self._welcome_all,
                {"agents": len(members)},
                lambda n: {
                    "welcomed": n,
                    "enrolled": sorted(self.enrolment.enrolled),
                    "refused_joins": len(self.enrolment.refused),
                },
            )
            self.manifest = image.manifest
            self._build_chain(ledger, members, image)
            await asyncio.to_thread(self._measure_from_outside, image)
            plan = security.attestation.plan or tuple(self.pops)
            await flow.step(
                "9-12",
                lambda: self._attest(plan),
                {"plan": list(plan)},
                lambda _: {"records": len(self.chain.entries) if self.chain else 0},
            )
            await flow.step(
                "13-14",
                self._push_keys,
                {"encrypt": security.encrypt, "cipher": security.cipher},
                lambda _: {
                    "epoch": self.pushes[-1].epoch,
                    "recipients": len(self.pushes[-1].recipients),
                },
            )
        except PipelineError:
            await asyncio.to_thread(self._revoke_all)
            raise
        if security.encrypt:
            assert self.keyring is not None
            vni = vni_of(self.name, security)
            self.secure = SecureBus(
                self.raw, MLFO, vni, self.keyring, recipient, cipher=security.cipher
            )

    def _register(self) -> Ledger:
        """Steps 6–7: contracts, then every joined agent's account registered and funded
        in one transaction, and the attestation plan."""
        security = self.scenario.security
        mlfo_key, secaas_key = self.ledger_keys or (None, None)
        ledger = connect(
            self.ledger_url, mlfo_key=mlfo_key, secaas_key=secaas_key, ca_file=self.ledger_ca
        )
        contracts = ledger.deploy()
        self.ledger, self.contracts = ledger, contracts
        members = [self.joined[p] for p in self.pops]
        plan = [self.joined[p] for p in security.attestation.plan or self.pops]
        assert self.scenario.traffic is not None
        steps = run_steps(self.scenario.traffic.duration, security.attestation.period, len(plan))
        self.budget = budget(ledger.chain, len(members), steps)
        funding = self.budget.per_agent_wei
        self.setup_tx.update(register_agents(contracts.registry, self.name, members, plan, funding))
        return ledger

    def _revoke_all(self) -> None:
        """Rollback: nothing stays registered after a failed deployment."""
        if self.contracts is not None:
            revoke_active(self.contracts.registry, self.name, self.joined.values())

    async def _welcome_all(self) -> int:
        """Step 8: each agent gets the contracts' addresses and the overlay settings, all
        at once: each answers once it read its peers' keys from the registry and serves
        its verifier role, which N agents do side by side rather than one after another
        (each within the bring-up budget of N agents: they share the cores)."""
        security = self.scenario.security
        assert self.contracts is not None and self.ledger is not None
        welcome = {
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
        payload = json.dumps(welcome).encode()
        ceiling = self.arrival.ceiling(len(self.pops))
        answered: set[str] = set()
        ended = asyncio.Event()

        async def ask(name: str) -> None:
            await self.control.request(welcome_subject(self.name, name), name, payload, ceiling)
            answered.add(name)

        asking = asyncio.gather(*(ask(name) for name in self.pops))
        asking.add_done_callback(lambda _: ended.set())
        try:  # waited for while the agents answer or work, as for their joins
            await self._wait(ended, "agents welcomed", lambda: answered | self.stopped.keys())
            await asking
        finally:
            asking.cancel()
        return len(self.pops)

    def _build_chain(self, ledger: Ledger, members: list[Peer], image: WrappedImage) -> None:
        security = self.scenario.security
        assert self.contracts is not None
        peers = peers_by_address(members)
        expected = {m.name: Expected(image.manifest.image, image.reference) for m in members}
        self.chain = AttestationChain(
            pipeline=self.name,
            control=ControlPlane(self.raw, self.secaas, self.directory, self.name),
            secaas_registry=self.contracts.registry.as_(ledger.secaas),
            mlfo_registry=self.contracts.registry,
            peers=peers,
            expected=expected,
            roles={m.name: RemoteVerifier(self.control, m.name) for m in members},
            view=self.view,
            timeout=security.attestation.challenge_timeout,
            on_halt=self._halt,
            on_revoke=self._rekey,
        )
        vni = vni_of(self.name, security)
        self.keyring = EpochKeyring(
            self.identity, self.name, vni, self.directory, grace=security.grace
        )
        self.liveness = LivenessMonitor(self.name, {m.name for m in members})
        self.liveness.told, self.liveness.gone = journalled(self.journal), self._revoked_for_good
        self.chain.silent = self.liveness.withdrew

    async def _attest(self, plan: tuple[str, ...]) -> None:
        """Steps 9–12: SECaaS's initial attestation, then one mutual round."""
        assert self.chain is not None and self.liveness is not None
        await self.liveness.start(self.control)
        first = await self.chain.initial(plan[0])
        if not first.passed:
            raise PipelineError(f"initial attestation of {first.measured} failed")
        await self.chain.run(len(plan) - 1)

    async def _push_keys(self) -> None:
        """A new epoch's secret to every trusted member; each fetches it when told."""
        assert self.contracts is not None and self.chain is not None and self.keyring is not None
        recipients = [
            Recipient(p.address, p.sealing_key)
            for p in self.chain.peers.values()
            if self.view.admits(p.name)
        ]
        push = await asyncio.to_thread(
            push_epoch,
            self.name,
            self.contracts.registry,
            self.contracts.secret_store,
            recipients,
            keep_secret=True,
        )
        self.pushes.append(push)
        assert push.secret is not None
        self.keyring.install(push.epoch, push.secret)
        admitted = [p.name for p in self.chain.peers.values() if self.view.admits(p.name)]

        async def tell(agent: str, message: dict[str, int]) -> None:
            subject = rekey_subject(self.name, agent)
            payload = json.dumps(message).encode()
            answer = json.loads(await self.control.request(subject, agent, payload, 30.0))
            if "error" in answer:
                raise PipelineError(str(answer["error"]))

        rotation = await rotate(
            push.epoch,
            admitted,
            lambda agent: tell(agent, {"epoch": push.epoch}),
            lambda agent: tell(agent, {"switch": push.epoch}),
            timeout=30.0,
        )
        self.keyring.activate(push.epoch)
        self.rotations.append(rotation)

    async def _halt(self, peer: Peer, reason: str) -> None:
        """A revocation, first: the agent's process is stopped (it takes no further
        action) and the MLFO's keyring closes its links."""
        assert self.keyring is not None
        self.keyring.revoke(peer.name)
        await self._stop_revoked(peer.name, reason)

    async def _rekey(self, peer: Peer, reason: str) -> None:
        """A revocation on chain: the others are keyed in a new epoch without the agent."""
        if self.pushes:  # before the first epoch is pushed, revocation needs no new one
            await self._push_keys()

    async def _stop_revoked(self, agent: str, reason: str) -> None:
        """Have the IML driver stop a revoked agent's process or container (SIGTERM, then
        SIGKILL after a grace: `secmas.pipeline.iml.stop_agent`) and journal it as the
        MLFO's action. Its goals are re-auctioned or adopted as a lost agent's are."""
        if agent in self.stopped:
            return
        now = self.chain.now() if self.chain is not None and self.chain.now else 0.0
        self.stopped[agent] = now
        how = await asyncio.to_thread(stop_agent, self.iml, agent)
        detail = f"{agent}: {how} (revoked: {reason})"
        self.journal.action(ActionEvent(now, MLFO, "stopAgent", detail))
        logger.warning("stopped revoked agent %s", detail)
        self._check_ready()

    # -- the trust layer the step loops see (`secmas.pipeline.operate.TrustLayer`) ------------
    @property
    def plan(self) -> tuple[str, ...]:
        return tuple(self.scenario.security.attestation.plan or self.pops)

    async def remove_agent(self, agent: str, reason: str = "removed by the MLFO") -> None:
        """Stop `agent`'s process, revoke it on chain and re-key the others, who learn
        from the chain that it is no longer trusted and exclude it."""
        peer = self.joined.get(agent)
        if peer is None or self.contracts is None or self.chain is None:
            raise PipelineError(f"remove {agent}: not a registered member of {self.name}")
        if agent in self.view.excluded:  # revoked (and stopped) already: a failed attestation
            return
        await self.chain.revoke(peer, reason)

    # -- work --------------------------------------------------------------------------------
    async def cohort(self) -> Cohort:
        """The agents as the MLFO gives them work after bring-up (`secmas.pipeline.work`):
        their keys read back from the registry; each serves its seat in its own process."""
        assert self.contracts is not None
        on_chain = await asyncio.to_thread(peers_from_registry, self.contracts.registry, self.name)
        agents = tuple(self.pops)
        return Cohort(
            self.name,
            agents,
            tuple(a for a in agents if self.view.admits(a)),
            {p.name: p.signing_key for p in on_chain.values()},
            self.identity,
            self.secure or self.raw,
        )

    # -- operation ---------------------------------------------------------------------------
    async def operate(
        self,
        progress: Progress | None,
        kill: Mapping[str, Kill],
        network: SteppedNetwork,
        loops: Sequence[StepLoop] = (),
    ) -> None:
        """Serve `network`'s controller to the agents, start the shared clock and step the
        network to its end, one tick to every agent per step; the run's step loops look
        at each step once the agents perceived it."""
        bus = self.secure or self.raw
        clock = await network.begin()
        service = ControllerService(network.controller, bus, self.name)
        await service.start()
        await bus.subscribe(journal_subject(self.name), self._on_journal)
        beside = await self._attach(loops, network, clock) if loops else None
        if self.perceived is not None:
            await self.perceived.start(bus)
        start = {
            "origin": clock.origin,
            "speed": clock.speed,
            "declines": bool(beside and beside.declines),
            "barrier": beside is not None or self.perceived is not None,
        }
        await bus.publish(start_subject(self.name), json.dumps(start).encode())
        admission = self._admission(beside, bus)
        if self.liveness is not None:  # the agents beat from the start message on
            security = self.scenario.security
            self.liveness.watch(clock, security.heartbeat, security.attestation.period)
        if beside is not None:
            handles = [RemoteAgent(pop, bus, self.name, beside.tickets) for pop in self.pops]
            for loop in loops:
                await loop.start(handles)
        background = None
        if self.chain is not None:
            self.chain.now = clock.now  # attestation records carry the run's time
            background = asyncio.gather(
                self._attest_periodically(clock), self._watch_measurer(clock)
            )
        pending_kills = dict(kill)
        now = 0.0
        try:
            while now < network.duration - 1e-9:
                now = await network.step()
                if self.perceived is not None:
                    self.perceived.sent(now)
                await bus.publish(tick_subject(self.name), json.dumps({"now": now}).encode())
                for pop, when in list(pending_kills.items()):
                    at = kill_due(pop, when, self.journal.actions)
                    if at is not None and now >= at:
                        self.iml.kill(pop)
                        self.killed[pop] = now
                        del pending_kills[pop]
                if beside is not None:
                    await self._after_step(beside, loops, now)
                if admission is not None:  # whom liveness withdrew or re-admitted since
                    await admission.publish()
                if progress is not None:
                    progress(now, network.duration)
        finally:
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
            if self.liveness is not None:
                await self.liveness.stop()
        await asyncio.sleep(0.5 / clock.speed + 0.2)  # the last tick's effects arrive
        await service.stop()
        if beside is not None:
            await beside.links.stop()

    def _admits(self, agent: str) -> bool:
        """Whether `agent` takes part in auctions: trusted (`view`: an agent whose check
        found the host's measurer down is withdrawn there until measured) and not
        withdrawn for silence (`liveness`, until it beats again). A measurer that is down
        withdraws no agent it was not asked about: withdrawing every agent of the host
        while a successor started made winners give up work in progress (a Classifier's
        download) and stalled every initiator, and the mitigation came too late."""
        return admitted(self.view, self.liveness, agent)

    def _revoked_for_good(self, agent: str) -> bool:
        return agent in self.view.excluded

    def _admission(self, beside: Beside | None, bus: Bus) -> Admission | None:
        """What tells the agents whom the MLFO keeps out of auctions: the step loops' (whose
        rule narrows `_admits`), or one of its own (None without the trust layer)."""
        if beside is not None:
            return beside.admission
        if self.chain is None:
            return None
        return Admission(Members(tuple(self.pops), self._admits), bus, self.name)

    async def _attach(
        self, loops: Sequence[StepLoop], network: SteppedNetwork, clock: ScaledClock
    ) -> Beside:
        """The loops' world in this process (the network and its controller, a copy of
        the infrastructure the agents' link announcements keep in step, the journal the
        agents relay) and the bus services that carry what they need of the agents."""
        bus = self.secure or self.raw
        infra = Infrastructure.from_scenario(self.scenario)
        links = LinkSync(infra, bus, self.name, MLFO)
        await links.start()
        defence = self.scenario.defence
        world = World(
            scenario=self.scenario,
            infra=infra,
            plane=network.plane,
            controller=network.controller,
            bus=self.raw,  # the wire as the agents' frames cross it (taps see them sealed)
            clock=clock,
            journal=self.journal,
            settings=paced(
                AuctionSettings(serialised=bool(defence and defence.serialised)), clock.speed
            ),
            directory=tuple(self.pops),
            space=f"{SPACE}.{self.name}",
            admits=self._admits if self.chain is not None else None,
        )
        chain = self.chain
        for loop in loops:
            loop.attach(world, (lambda: chain.entries) if chain else list, self if chain else None)
        beside = Beside(world, links, GoalTickets(bus, self.name), TickBarrier(bus, self.name))
        beside.admission = Admission(world, bus, self.name)
        await beside.tickets.start()
        await beside.barrier.start()
        if beside.declines:
            await DeclineService(world, bus, self.name).start()
        await beside.admission.publish()
        return beside

    async def _after_step(self, beside: Beside, loops: Sequence[StepLoop], now: float) -> None:
        """Once every live agent perceived the tick, the loops look at the step; then
        the agents hear whom the loops' trust rule keeps out, if that changed."""
        dead = set(self.iml.dead())
        late = await beside.barrier.wait(
            now, lambda: [p for p in self.pops if p not in self.killed and p not in dead], TICK_WAIT
        )
        if late:
            logger.warning("t=%gs: %s did not perceive the step in time", now, ", ".join(late))
        for loop in loops:
            await loop.after_step(now)
        await beside.admission.publish()

    async def _attest_periodically(self, clock: ScaledClock) -> None:
        """The periodic steps and, between them, unannounced checks drawn from a secret of
        this process (real time: `secmas.trust.schedule`)."""
        assert self.chain is not None
        scenario = self.scenario
        timetable = Timetable.for_run(
            scenario.security.attestation, self.name, scenario.seed, False, clock.now()
        )
        while True:
            due = timetable.next()
            await clock.sleep(due.at - clock.now())
            try:
                await self.chain.attest(due)
            except (LedgerError, VerifierFailed, TimeoutError, BusClosed) as exc:
                logger.error("mutual attestation step failed: %s", exc)  # the MAS goes on
            timetable.done(due, clock.now())

    async def _on_journal(self, _subject: str, data: bytes) -> None:
        try:
            apply_json(self.journal, json.loads(data))
        except ValueError as exc:
            logger.warning("dropped a journal event: %s", exc)

    async def collect(self) -> dict[str, dict[str, Any]]:
        """Each live agent's final state (its instances, capacity, channel counters)."""
        bus = self.secure or self.raw
        states: dict[str, dict[str, Any]] = {}
        for pop in self.pops:
            if pop in self.killed or pop in self.stopped:
                continue
            try:
                answer = await bus.request(stop_subject(self.name, pop), b"{}", 10.0)
                states[pop] = json.loads(answer)
            except (TimeoutError, ValueError) as exc:
                logger.warning("no final state from %s: %s", pop, exc)
        return states

    def result(
        self, telemetry: list[Telemetry], now: float, started: float, loops: Sequence[StepLoop]
    ) -> OperateResult:
        """The run's result from the agents' final states (their instances, initial ones
        included, and capacity) and the network's telemetry up to `now`."""
        infra = Infrastructure.from_scenario(self.scenario)
        infra.instances.clear()  # the agents report every instance, initial ones included
        capacity = CapacityCheck(steps=len(telemetry))
        for pop, state in self.states.items():
            capacity.peak_use[pop] = float(state["peak_use"])
            capacity.violations.extend(state["violations"])
            for inst in state["instances"]:
                infra.adopt(pop, inst["vnf"], int(inst["units"]))
        trust = self.trust_report(self.states, now) if self.chain is not None else None
        return OperateResult(
            scenario=self.scenario,
            journal=self.journal,
            telemetry=telemetry,
            capacity=capacity,
            infra=infra,
            messages=bus_messages(self.raw.stats.messages_published, self.states.values()),
            wall_seconds=time.perf_counter() - started,
            trust=trust,
            workflow=self.workflow.to_json(),
            analytics=_merged([loop.report() for loop in loops]),
        )

    def _measure_from_outside(self, image: WrappedImage) -> None:
        """Start this host's measurer (own process, own key) and have the chain consult it
        before acting on a pass; only where the IML driver knows the agents' processes. A
        driver whose agents run an image of their own checks them itself."""
        if self.chain is not None and isinstance(self.iml, ChecksItsAgents):
            self.external = self.iml.outside()
            self.chain.external = self.external.check
            return
        deadlines = measurer_deadlines(self.scenario.security)
        if self.chain is not None and isinstance(self.iml, HostProcesses):  # issue 37 item 5
            remote = self.iml.measure_hosts(image.manifest, deadlines)
            if remote is not None:  # a measurer on each remote host, one here for the local
                self.external = remote
                self.chain.external = remote.check
                return
        pids = self.iml.describe().get("pids")
        if not pids or self.chain is None:
            return
        secaas = Ed25519PrivateKey.generate()  # signs this host's platform reference
        host = ExternalAttestation.start(None, secaas, image.manifest, deadlines=deadlines)
        host.pids.update(pids)
        self.external = host
        self.chain.external = host.check

    async def _watch_measurer(self, clock: ScaledClock) -> None:
        """Each run second, replace this host's measurer if its process is gone, before a
        check finds it missing (a hung one is replaced by the check it fails twice:
        `ExternalAttestation._measured`); the MLFO journals every replacement."""
        host = self.external
        if not isinstance(host, ExternalAttestation):
            return
        journalled = 0
        while True:
            await clock.sleep(1.0)
            try:
                if host.host.process.poll() is not None:
                    await asyncio.to_thread(host.revive)
            except (MeasurerError, OSError) as exc:  # the next check replaces it, or says so
                logger.error("could not replace this host's measurer: %s", exc)
            for why in host.restarts[journalled:]:
                detail = f"{why}: successor {host.host.process.pid}"
                self.journal.action(ActionEvent(clock.now(), MLFO, "restartMeasurer", detail))
            journalled = len(host.restarts)

    def stop_measurer(self) -> None:
        if self.external is not None:
            self.external.stop()

    def _funding_report(self, states: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
        """What each agent was given, what the agents sent back on stop and what their
        accounts still hold (a killed agent's stays: its key died with it)."""
        if self.budget is None or self.ledger is None:
            return None
        return {
            **self.budget.to_json(),
            "funded_wei": self.budget.per_agent_wei * len(self.joined),
            "swept_wei": sum(int(s.get("swept_wei", 0)) for s in states.values()),
            "left_wei": sum(self.ledger.balance(p.address) for p in self.joined.values()),
        }

    def trust_report(self, states: Mapping[str, dict[str, Any]], now: float) -> dict[str, Any]:
        """report.json's trust section (`secmas.pipeline.trustreport`); the agents' own
        states give their channel counts and what they swept back."""
        chain, contracts, ledger = self.chain, self.contracts, self.ledger
        assert chain is not None and contracts is not None and ledger is not None
        security = self.scenario.security
        accounts = {p: self.joined[p].address for p in self.pops}
        channel = None
        if security.encrypt:
            channel = {
                "cipher": security.cipher,
                "vni": vni_of(self.name, security),
                "agents": {p: s["channel"] for p, s in states.items() if s.get("channel")},
            }
        records = TrustRecords(
            pipeline=self.name,
            ledger_url=self.ledger_url,
            contracts=contracts,
            security=security,
            view=self.view,
            accounts=accounts,
            columns={p: {"killed_at": self.killed.get(p)} for p in self.pops},
            plan=self.plan,
            setup_tx=self.setup_tx,
            entries=chain.entries,
            pushes=self.pushes,
            rotations=self.rotations,
            liveness=self.liveness,
            workflow=self.workflow,
            round_trips=chain.deadlines.answers if chain.deadlines else [],
            ledger=ledger,
            funding=self._funding_report(states),
            channel=channel,
            external=None if self.external is None else self.external.report(),
            image=self.manifest,
        )
        return trust_report(records, now)


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of a multi-process run besides its scenario, handed down
    unchanged to the MLFO's part (`run_driver`) on either engine (`operate_processes`
    says what each means)."""

    progress: Progress | None = None
    steps: Told | None = None
    kill: Mapping[str, Kill] | None = None
    tamper: Mapping[str, float] | None = None
    loops: Sequence[StepLoop] = ()
    work: Sequence[AgentWork] = ()
    arrival: BringUp = field(default_factory=BringUp)


class SteppedNetwork(Protocol):
    """The network a multi-process run steps, one tick to the agents per step: the
    simulator on a scaled clock (`SimulatedNetwork`), or an emulated network in real
    time (`secmas.pipeline.emulated_processes.EmulatedSteps`)."""

    @property
    def controller(self) -> Controller: ...

    @property
    def plane(self) -> DataPlane | None:
        """The simulator, for the step loops' world (None: an emulated network)."""
        ...

    @property
    def duration(self) -> float: ...

    async def begin(self) -> ScaledClock:
        """Run time 0 starts (now, or just ahead); the clock every agent shares."""
        ...

    async def step(self) -> float:
        """Wait for the next step and take it; its run time."""
        ...


@dataclass
class SimulatedNetwork:
    """The data-plane simulator, one step per `step_seconds / speed` wall seconds."""

    scenario: Scenario
    speed: float
    plane: DataPlane = field(init=False)
    controller: LocalController = field(init=False)
    clock: ScaledClock | None = None

    def __post_init__(self) -> None:
        self.plane = DataPlane(self.scenario)
        self.controller = LocalController(self.plane)

    @property
    def duration(self) -> float:
        assert self.scenario.traffic is not None
        return self.scenario.traffic.duration

    async def begin(self) -> ScaledClock:
        self.clock = ScaledClock(self.speed, time.time() + 0.2)  # the start arrives first
        return self.clock

    async def step(self) -> float:
        assert self.clock is not None
        await self.clock.sleep_until(self.plane.now + self.plane.step_seconds)
        self.plane.step()
        return self.plane.now


@dataclass(frozen=True)
class ControlAccess:
    """Where the run's clients reach its bus and ledger: the MLFO at `bus` and `ledger`,
    the agents at `agent_bus` and `agent_ledger` (None: where the MLFO does)."""

    bus: BusAccess
    ledger: str | None = None
    ledger_keys: tuple[str | None, str | None] | None = None
    """The MLFO's and SECaaS's keys on the ledger (None: the node's own accounts)."""
    ledger_ca: Path | None = None
    agent_bus: BusAddress | None = None
    agent_ledger: str | None = None


def bus_messages(own: int, states: Iterable[Mapping[str, Any]]) -> int:
    """Every message published on the bus in a run: the MLFO's own (`own`) and what each
    agent process counted it published, its final answer included (issue 37 item 7: the
    MLFO's alone were 620 of at least 2 279). A killed agent's count is lost with it."""
    return own + sum(int(state.get("published", 0)) for state in states)


def _here(call: Callable[[], Any]) -> Any:
    return call()


@dataclass
class RunServers:
    """The bus and ledger a run starts for itself: a `nats-server` with TLS (a CA of the
    run's own, its certificate naming `addresses`) and an nkey per client, and, for the
    in-process EVM, the JSON-RPC ledger over HTTPS. `within` runs each server's start
    where it must listen (default: here; a namespace of the emulated network for agents
    in their PoPs). `stop` stops both and removes their private keys and seeds."""

    workdir: Path
    scenario: Scenario
    addresses: tuple[str, ...] = ("127.0.0.1", "localhost")
    bind: str = "127.0.0.1"
    within: Callable[[Callable[[], Any]], Any] = _here
    bus_server: NatsServer | None = None
    ledger_server: LedgerServer | None = None
    ledger_ca: Path | None = None
    """The CA of the ledger's certificate (its calls go over HTTPS)."""
    bus_folder: Path | None = None

    async def start_bus(self, port: int | None = None, monitor: bool = False) -> BusAccess:
        """The run's own server on `port` (free if None); its access without an address."""
        pops = [p.id for p in self.scenario.pops]
        self.bus_folder = self.workdir / BUS_FOLDER
        name = pipeline_name(self.scenario.id)
        run_bus = issue_run_bus(self.bus_folder, name, pops, self.addresses)
        server = NatsServer(
            port, host=self.bind, tls=run_bus.certificate, users=run_bus.users, monitor=monitor
        )
        self.bus_server = server
        await uninterrupted(lambda: self.within(server.start))  # a stop meanwhile: `stop` after
        return run_bus.access

    def start_ledger(self, port: int = 0) -> LedgerServer:
        """The in-process EVM served over HTTPS on `port` (free if 0)."""
        tls = issue_run_pki(self.workdir / LEDGER_FOLDER, ["ledger"], self.addresses)["ledger"]
        server = LedgerServer(self.bind, port, cert_file=tls.cert_file, key_file=tls.key_file)
        self.ledger_server, self.ledger_ca = server, tls.ca_file
        self.within(server.start)
        return server

    async def local(self, bus: BusAccess | None) -> ControlAccess:
        """The bus (`bus`, else the run's own server) and ledger on this machine's
        loopback, as every client reaches them."""
        if bus is None:
            bus = await self.start_bus()
            assert self.bus_server is not None
            bus = replace(bus, address=BusAddress.parse(self.bus_server.url))
        security = self.scenario.security
        if not security.enabled:
            return ControlAccess(bus)
        if security.ledger != "memory":
            return ControlAccess(bus, security.ledger)
        ledger = self.start_ledger()
        return ControlAccess(bus, ledger.url, (ledger.mlfo_key, ledger.secaas_key), self.ledger_ca)

    def stop(self) -> None:
        ledger, self.ledger_server = self.ledger_server, None
        if ledger is not None:
            ledger.stop()
            discard_secrets(self.workdir / LEDGER_FOLDER)
        server, self.bus_server = self.bus_server, None
        if server is not None:
            server.stop()
        if self.bus_folder is not None:
            discard_secrets(self.bus_folder)


async def run_driver(
    scenario: Scenario,
    scenario_file: Path,
    access: ControlAccess,
    workdir: Path,
    network: SteppedNetwork,
    options: RunOptions,
    *,
    iml: IMLDriver | None = None,
    perceived: TickLatency | None = None,
    wrap_image: ImageWrap = secmas_image,
) -> Driver:
    """The MLFO's part of a multi-process run over `access`: plan, bring-up, the agents'
    work, operation on `network`, their final states, as `options` ask; the agents are
    stopped, the measurer too and untaken credentials removed, however it ends."""
    raw = await access.bus.connect(MLFO, name="secmas-mlfo")
    driver = Driver(
        scenario,
        scenario_file,
        access.bus,
        access.ledger,
        access.ledger_keys,
        raw,
        workdir,
        options.steps,
        tamper=dict(options.tamper or {}),
        iml=iml,
        ledger_ca=access.ledger_ca,
        agent_bus=access.agent_bus,
        agent_ledger=access.agent_ledger,
        perceived=perceived,
        wrap_image=wrap_image,
        arrival=options.arrival,
    )
    async with AsyncExitStack() as teardown:  # each runs, last first, if another fails
        teardown.push_async_callback(raw.close)
        teardown.callback(driver.discard_credentials)
        teardown.callback(driver.stop_measurer)
        teardown.callback(driver.iml.stop_all)
        vni = vni_of(driver.name, scenario.security)
        await plan_service(driver.workflow, scenario, driver.name, vni)
        await driver.bring_up()
        if options.work and driver.chain is None:
            raise RunError("work for the attested agents needs the trust layer: it is off")
        await give_work(driver.cohort, options.work)
        with long_lived():  # what the MLFO built lives for the run
            await driver.operate(options.progress, options.kill or {}, network, options.loops)
        driver.states = await driver.collect()
    return driver
