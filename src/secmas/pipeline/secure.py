"""Bringing up a genuine MAS pipeline: wrap, register, attest, key (`001_…` steps 3–14).

For the agents of one run this module
- has SECaaS wrap the agent image (a signed reference manifest in the reference
  repository, steps 3–4);
- deploys the registry and secret-store contracts, creates an account and keys per agent
  and registers them in one transaction (steps 6–8);
- runs the initial attestation (SECaaS verifies the first agent of the plan, which becomes
  the root of trust) and a first mutual round along the plan (steps 9–12);
- pushes the pipeline secret of the first key epoch, which each agent fetches (13–14);
- carries every trust message (challenge, evidence, verdict, heartbeat) as an envelope
  between identity keys over the shared bus, exactly as across processes; the MLFO acts
  on a verdict only once its signature and the on-chain record agree;
- during operation, runs a mutual attestation step every `period` seconds of the run's
  clock, in the background, and between the steps has SECaaS measure agents picked at
  random at unannounced times (`secmas.trust.schedule`), revoking whoever fails and
  pushing a new epoch; agents ignore revoked agents in auctions through the `TrustView`,
  and agents the liveness monitor withdrew for silence until they beat again (`admits`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import secmas
from secmas.agents.auction import inbox_owner
from secmas.ledger.accounts import Account
from secmas.ledger.connection import Contracts, Ledger, connect
from secmas.ledger.errors import LedgerError
from secmas.ledger.funding import Budget, Sweep, budget, run_steps, sweep
from secmas.ledger.ids import pipeline_id
from secmas.ledger.keyfile import LEDGER_OWN, LedgerKeys
from secmas.network.clock import Clock, VirtualClock
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.mlfo import AGENT_IMAGE
from secmas.pipeline.registration import register_agents, revoke_active
from secmas.pipeline.trustreport import TrustRecords, trust_report
from secmas.pipeline.work import Cohort, Seat, work_recipient
from secmas.pipeline.workflow import Workflow
from secmas.scenario.model import Security
from secmas.transport.bus import Bus
from secmas.transport.channel import SecureBus
from secmas.trust.attestation import Measurement
from secmas.trust.chain import (
    AttestationChain,
    AttesterEndpoint,
    ChainEntry,
    Expected,
    Measure,
    Peer,
    VerifierRole,
    peers_by_address,
)
from secmas.trust.control import MLFO, SECAAS, ControlPlane
from secmas.trust.deadlines import HANDLING_CAP, Deadlines
from secmas.trust.epochs import EpochPush, PipelineSecret, Recipient, fetch_secret, push_epoch
from secmas.trust.identity import AgentIdentity
from secmas.trust.image import NativeImage, RuntimeImage
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.liveness import Heartbeat, LivenessMonitor, admitted
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.measurer_service import ExternalAttestation, HostMeasurer
from secmas.trust.release import installed_release
from secmas.trust.repository import ReferenceRepository
from secmas.trust.rotation import Rotation, rotate
from secmas.trust.schedule import Timetable
from secmas.trust.verification import RemoteVerifier, VerifierEndpoint, peers_from_registry
from secmas.trust.view import TrustView
from secmas.trust.wrap import wrap

logger = logging.getLogger(__name__)

Halt = Callable[[str], Awaitable[None]]
"""Stops an agent of this process for good, told why (`PoPAgent.revoke`)."""

DEFAULT_RUN_S = 3600.0
"""The run length the agents' funding is sized for when the caller names none."""


def vni_of(pipeline: str, security: Security) -> int:
    """The pipeline's 24-bit segment id: the scenario's, or one derived from its name."""
    if security.vni is not None:
        return security.vni
    return zlib.crc32(pipeline.encode()) & 0xFFFFFF


def agent_recipient(subject: str) -> str | None:
    """Whom a subject addresses: the agent of an NFV-A inbox, the agent or the MLFO of
    the run's work (`secmas.pipeline.work`); None (the whole pipeline) for the rest."""
    return inbox_owner(subject) or work_recipient(subject)


@dataclass(frozen=True)
class WrappedImage:
    """An agent image after SECaaS wrapping: the signed manifest and how to measure it."""

    manifest: ReferenceManifest
    runtime: RuntimeImage | NativeImage

    @cached_property
    def reference(self) -> Measurement:
        """What a genuine agent running this image measures (once per image: the manifest
        is immutable, and every agent placed on the image expects the same)."""
        return self.runtime.reference(self.manifest)


def wrap_agent_image(
    root: Path, package: str, version: str, key: Ed25519PrivateKey, repository: ReferenceRepository
) -> WrappedImage:
    """Steps 3–4: measure the agent package, sign the reference, store it."""
    manifest = wrap(root, key, image=f"{AGENT_IMAGE}:{package}", version=version)
    repository.put(manifest, replace=True)
    return WrappedImage(manifest, RuntimeImage.of(manifest, root))


def wrap_native_image(
    path: Path,
    key: Ed25519PrivateKey,
    repository: ReferenceRepository,
    pid: int | None = None,
) -> WrappedImage:
    """Steps 3–4 for a native agent: its ELF file measured and signed; at runtime its
    mapped code is read from process `pid` (default this one)."""
    manifest = wrap(path, key, image=f"{AGENT_IMAGE}:{path.name}")
    repository.put(manifest, replace=True)
    return WrappedImage(manifest, NativeImage(path, pid))


def secmas_image(_run_key: Ed25519PrivateKey, repository: ReferenceRepository) -> WrappedImage:
    """The image every in-process agent runs: the `secmas` package itself, as SECaaS
    released it. Its reference is the signed release reference, made once (not by this
    run's key, `secmas.trust.release`); an installed package that differs fails the step."""
    root = Path(secmas.__file__).parent
    release = installed_release(root, f"{AGENT_IMAGE}:secmas", secmas.__version__)
    if release.first_use:
        logger.warning("release reference of secmas %s made on first use", secmas.__version__)
    repository.put(release.manifest, replace=True)
    return WrappedImage(release.manifest, RuntimeImage.of(release.manifest, root))


@dataclass
class Member:
    """One agent's trust-side parts: identity, account, control-plane endpoint, attester,
    verifier, key."""

    identity: AgentIdentity
    account: Account
    image: WrappedImage
    control: ControlPlane
    endpoint: AttesterEndpoint
    role: VerifierRole
    heartbeat: Heartbeat
    keyring: EpochKeyring
    secret: PipelineSecret | None = None
    verifier: VerifierEndpoint | None = None

    async def serve(self, peers: Mapping[str, Peer]) -> None:
        """Answer challenges, and verify the open step when the MLFO asks."""
        self.verifier = VerifierEndpoint(self.role, peers)
        await self.endpoint.start()
        await self.verifier.start()

    async def stop(self) -> None:
        await self.heartbeat.stop()
        await self.endpoint.stop()
        if self.verifier is not None:
            await self.verifier.stop()
        await self.control.close()


def deadlines_for(clock: Clock, security: Security) -> Deadlines:
    """On the virtual clock, freshness in simulated seconds and no wall-time bound on an
    attester's handling, so a busy machine never changes a verdict; in real time, waits
    from measured round trips (`secmas.trust.deadlines`)."""
    declared = security.attestation.challenge_timeout
    if isinstance(clock, VirtualClock):
        return Deadlines.run_clock(declared, clock.now)
    return Deadlines.measured(declared)


def measurer_deadlines(security: Security) -> Deadlines:
    """How long the host measurer may take to answer: its measured round trips, never
    below the declared challenge timeout nor beyond one attestation period, so that a
    stopped or hung measurer is noticed within the period (`Deadlines.bounded`)."""
    attestation = security.attestation
    return Deadlines.bounded(attestation.challenge_timeout, attestation.period)


def _remote(control: ControlPlane, agent: str, clock: Clock | None) -> RemoteVerifier:
    """The MLFO's handle on an elected verifier; on the virtual clock its step (ledger
    work the clock waits for) is not bounded by wall time."""
    virtual = isinstance(clock, VirtualClock)
    return RemoteVerifier(control, agent, handling=HANDLING_CAP if virtual else None)


def _keys(member: Member) -> tuple[bytes, bytes]:
    return member.identity.signing_public, member.identity.sealing_public


def _member(
    agent: str,
    image: WrappedImage,
    pipeline: str,
    security: Security,
    ledger: Ledger,
    contracts: Contracts,
    bus: Bus,
    clock: Clock,
    directory: dict[str, PeerKeys],
) -> Member:
    """A new agent's trust-side parts: fresh keys and account, attester over its image,
    verifier role on its account, heartbeat, keyring (its public keys entered in the
    `directory` every keyring derives pairwise link keys from)."""
    identity = AgentIdentity.generate(agent)
    directory[agent] = PeerKeys.of(identity)
    control = ControlPlane(bus, identity, directory, pipeline)
    account = ledger.new_account()
    measure: Measure = image.runtime.measure
    role = VerifierRole(
        identity,
        contracts.registry.as_(account),
        control,
        pipeline,
        security.attestation.challenge_timeout,
        offload=clock.run_blocking,
        deadlines=deadlines_for(clock, security),
    )
    return Member(
        identity,
        account,
        image,
        control,
        AttesterEndpoint(identity, pipeline, measure, control, offload=clock.run_blocking),
        role,
        Heartbeat(control, clock, security.heartbeat),
        EpochKeyring(
            identity, pipeline, vni_of(pipeline, security), directory, grace=security.grace
        ),
    )


@dataclass
class SecurePipeline:
    """The trust layer of one run, from wrapping to periodic mutual attestation."""

    name: str
    security: Security
    ledger: Ledger
    contracts: Contracts
    repository: ReferenceRepository
    members: dict[str, Member]
    chain: AttestationChain
    view: TrustView
    liveness: LivenessMonitor
    plan: tuple[str, ...]
    mlfo: ControlPlane
    """The MLFO's control-plane endpoint: it asks verifiers, takes heartbeats."""
    setup_tx: dict[str, str] = field(default_factory=dict)
    pushes: list[EpochPush] = field(default_factory=list)
    rotations: list[Rotation] = field(default_factory=list)
    directory: dict[str, PeerKeys] = field(default_factory=dict)
    """Every member's registered public keys, for the pairwise link keys."""
    workflow: Workflow = field(default_factory=Workflow)
    bus: Bus | None = None
    _clock: Clock | None = None
    _channels: dict[str, SecureBus] = field(default_factory=dict)
    _background: asyncio.Task[None] | None = None
    external: ExternalAttestation | None = None
    """The host measurer, when the run measures its agents from outside."""
    _stopping: bool = False
    _in_step: bool = False
    coordinator: AgentIdentity | None = None
    """The MLFO's identity (it gives the agents their work after bring-up)."""
    _mlfo_bus: SecureBus | None = None
    halts: dict[str, Halt] = field(default_factory=dict)
    """How each agent of this process is stopped when it is revoked (its in-flight work
    withdrawn), registered by the run once the agents exist."""
    budget: Budget | None = None
    """What the run may spend: each agent's funding (`secmas.ledger.funding`)."""
    sweeps: list[Sweep] = field(default_factory=list)
    """Each agent's money sent back to the MLFO when the run ended."""

    # -- bring-up ----------------------------------------------------------------------------
    @classmethod
    async def bring_up(
        cls,
        name: str,
        agents: Sequence[str],
        bus: Bus,
        clock: Clock,
        security: Security,
        *,
        images: Mapping[str, WrappedImage] | None = None,
        workflow: Workflow | None = None,
        measure_from_outside: bool = False,
        keys: LedgerKeys = LEDGER_OWN,
        duration: float = DEFAULT_RUN_S,
    ) -> SecurePipeline:
        """Steps 2–14 for `agents` with the in-process IML driver; `images` gives an agent
        another image than `secmas` (tests use it to compromise one agent only). A step
        that fails stops the workflow; agents registered by then are revoked. With
        `measure_from_outside`, a measurer process of its own measures this process (every
        agent's) before the chain acts on a pass (issue 21 item 1). `keys`: the MLFO's and
        SECaaS's ledger accounts (default the ledger's own); the agents are funded for
        `duration` simulated seconds of attestation steps."""
        flow = workflow or Workflow()
        vni = vni_of(name, security)
        await flow.step(
            "2",
            lambda: list(agents),
            {"driver": "in-process", "agents": len(agents)},
            lambda deployed: {"agents": deployed, "overlay": f"VNI {vni} on the in-memory bus"},
        )
        repository = ReferenceRepository(":memory:")
        secaas_key = Ed25519PrivateKey.generate()
        # Started now, the measurer measures this process while steps 3-7 run here.
        measurer = HostMeasurer.launch(ahead=os.getpid()) if measure_from_outside else None
        try:
            default = await flow.step(
                "3-4",
                lambda: secmas_image(secaas_key, repository),
                {"artifact": "secmas (Python package)"},
                lambda image: {
                    "image": image.manifest.image,
                    "version": image.manifest.version,
                    "root": image.manifest.root,
                    "entries": len(image.manifest.entries),
                },
            )

            # SECaaS hashes the host's files for the platform reference beside steps 5-7
            # (hashlib releases the GIL) while the measurer measures ahead in its process;
            # the first check waits for both, not the bring-up.
            external = (
                ExternalAttestation.begin(
                    secaas_key,
                    default.manifest,
                    measurer,
                    shared=True,
                    deadlines=measurer_deadlines(security),
                )
                if measurer is not None
                else None
            )

            def deploy_images() -> dict[str, WrappedImage]:
                placed = {a: (images or {}).get(a, default) for a in agents}
                for image in {id(i): i for i in placed.values()}.values():
                    # As IMA measures at load: the first challenge then costs what changed.
                    image.runtime.measure()
                return placed

            chosen = await flow.step(
                "5",
                deploy_images,
                {"image": default.manifest.image},
                lambda placed: {a: i.manifest.image for a, i in placed.items()},
            )

            def deploy_and_register() -> SecurePipeline:
                mlfo_key, secaas_key = keys.hex()
                ledger = connect(security.ledger, mlfo_key=mlfo_key, secaas_key=secaas_key)
                contracts = ledger.deploy()
                pipeline = cls._assemble(
                    name, security, ledger, contracts, repository, chosen, bus, clock
                )
                planned = security.attestation.plan or tuple(agents)
                pipeline.plan = tuple(a for a in planned if a in agents)
                steps = run_steps(duration, security.attestation.period, len(pipeline.plan))
                pipeline.budget = budget(ledger.chain, len(agents), steps)
                pipeline._register()
                return pipeline

            pipeline = await flow.step(
                "6-7",
                deploy_and_register,
                {"ledger": security.ledger, "agents": len(agents)},
                lambda p: {
                    "AgentRegistry": p.contracts.registry.address,
                    "SecretStore": p.contracts.secret_store.address,
                    "accounts": {a: m.account.address for a, m in p.members.items()},
                    "tx": dict(p.setup_tx),
                },
            )
        except BaseException:
            if measurer is not None:
                measurer.stop()
            raise
        pipeline.workflow = flow
        if external is not None:
            pipeline._measure_from_outside(external, clock)
        try:
            await flow.step(
                "8",
                pipeline._distribute_credentials,
                {"agents": len(agents)},
                lambda _: {"attesters": len(pipeline.members), "verifiers": len(pipeline.members)},
            )
            await flow.step(
                "9-12",
                pipeline._attest_initially,
                {"plan": list(pipeline.plan)},
                lambda _: {
                    "records": len(pipeline.entries),
                    "root_of_trust": pipeline.entries[-1].root_of_trust,
                    "failed": [e.measured for e in pipeline.entries if not e.passed],
                },
            )
            await flow.step(
                "13-14",
                pipeline._push_keys,
                {"encrypt": security.encrypt, "cipher": security.cipher},
                lambda _: {
                    "epoch": pipeline.pushes[-1].epoch,
                    "recipients": len(pipeline.pushes[-1].recipients),
                    "tx": pipeline.pushes[-1].receipt.tx_hash,
                },
            )
        except BaseException:  # a failed step, or the run interrupted meanwhile
            await pipeline.rollback()
            raise
        for member in pipeline.members.values():
            member.heartbeat.start()
        await pipeline.liveness.start(pipeline.mlfo)
        pipeline.liveness.watch(clock, security.heartbeat, security.attestation.period)
        return pipeline

    async def _distribute_credentials(self) -> None:
        """Step 8: each agent holds its account and starts answering challenges (sealed
        to its identity key) and the MLFO's requests to verify."""
        for member in self.members.values():
            await member.serve(self.chain.peers)

    def _measure_from_outside(self, external: ExternalAttestation, clock: Clock) -> None:
        """The host measurer (launched at the start of the bring-up, `external` begun
        after wrapping) for a run whose agents all live in this process."""
        external.pids.update(dict.fromkeys(self.members, os.getpid()))
        self.external = external

        async def check(agent: str) -> MeasurerAppraisal:
            return await clock.run_blocking(external.check_now, agent)

        self.chain.external = check

    async def rollback(self) -> None:
        """A failed deployment leaves nothing half-registered: every agent registered so
        far is revoked on chain, and the attesters stop."""
        if self.external is not None:
            self.external.stop()
        revoke_active(self.contracts.registry, self.name, self._peers())
        for member in self.members.values():
            await member.stop()
        await self._sweep()
        await self.mlfo.close()
        await self.chain.control.close()

    def _peers(self) -> list[Peer]:
        """The members as the chain knows them."""
        return [Peer(a, m.account.address, *_keys(m)) for a, m in self.members.items()]

    def _planned(self, peers: list[Peer]) -> list[Peer]:
        """`peers` in attestation-plan order."""
        by_name = {p.name: p for p in peers}
        return [by_name[a] for a in self.plan]

    @classmethod
    def _assemble(
        cls,
        name: str,
        security: Security,
        ledger: Ledger,
        contracts: Contracts,
        repository: ReferenceRepository,
        images: Mapping[str, WrappedImage],
        bus: Bus,
        clock: Clock,
    ) -> SecurePipeline:
        secaas, mlfo = AgentIdentity.generate(SECAAS), AgentIdentity.generate(MLFO)
        directory = {SECAAS: PeerKeys.of(secaas), MLFO: PeerKeys.of(mlfo)}
        mlfo_control = ControlPlane(bus, mlfo, directory, name)
        members = {
            agent: _member(agent, image, name, security, ledger, contracts, bus, clock, directory)
            for agent, image in images.items()
        }
        peers = peers_by_address(Peer(a, m.account.address, *_keys(m)) for a, m in members.items())
        expected = {
            a: Expected(m.image.manifest.image, m.image.reference) for a, m in members.items()
        }
        view = TrustView()
        timeout = security.attestation.challenge_timeout
        chain = AttestationChain(
            pipeline=name,
            control=ControlPlane(bus, secaas, directory, name),
            secaas_registry=contracts.registry.as_(ledger.secaas),
            mlfo_registry=contracts.registry,
            peers=peers,
            expected=expected,
            roles={a: _remote(mlfo_control, a, clock) for a in members},
            view=view,
            timeout=timeout,
            offload=clock.run_blocking,
            now=clock.now,
            deadlines=deadlines_for(clock, security),
        )
        liveness = LivenessMonitor(name, set(members), changed=view.changed)
        pipeline = cls(
            name,
            security,
            ledger,
            contracts,
            repository,
            members,
            chain,
            view,
            liveness,
            (),
            mlfo_control,
        )
        pipeline.bus = bus
        pipeline._clock = clock
        pipeline.directory = directory
        pipeline.coordinator = mlfo
        chain.on_halt, chain.on_revoke = pipeline._halt, pipeline._rekey
        chain.silent, liveness.gone = liveness.withdrew, view.excluded.__contains__
        return pipeline

    def _register(self) -> None:
        """Steps 6–7: register and fund every agent account, then set the plan."""
        peers = self._peers()
        assert self.budget is not None
        funding = self.budget.per_agent_wei
        txs = register_agents(
            self.contracts.registry, self.name, peers, self._planned(peers), funding
        )
        self.setup_tx.update(txs)

    async def _attest_initially(self) -> None:
        """Steps 9–12: SECaaS attests the first agent, then one mutual round."""
        first = await self.chain.initial(self.plan[0])
        if not first.passed:
            raise PipelineError(
                f"initial attestation of {first.measured} failed: {'; '.join(first.reasons)}"
            )
        await self.chain.run(len(self.plan) - 1)

    async def _push_keys(self) -> None:
        """Steps 13–14: the MLFO pushes the epoch's secret, every trusted agent fetches it.

        An epoch is pushed once: a revocation during the first round already keyed it."""
        epoch = await self.chain.offload(self.contracts.registry.key_epoch, pipeline_id(self.name))
        if self.pushes and self.pushes[-1].epoch == epoch:
            return
        recipients = [
            Recipient(m.account.address, m.identity.sealing_public)
            for a, m in self.members.items()
            if self.view.admits(a)
        ]
        await self._push(recipients)
        epoch = self.pushes[-1].epoch

        async def install(agent: str) -> None:
            await self._fetch(self.members[agent])

        async def switch(agent: str) -> None:
            self.members[agent].keyring.activate(epoch)

        admitted = [a for a in self.members if self.view.admits(a)]
        timeout = self.security.attestation.challenge_timeout
        self.rotations.append(
            await rotate(epoch, admitted, install, switch, timeout=timeout, limit=1)
        )

    async def _push(self, recipients: list[Recipient], secret: bytes | None = None) -> None:
        registry, store = self.contracts.registry, self.contracts.secret_store
        push = await self.chain.offload(
            lambda: push_epoch(
                self.name, registry, store, recipients, keep_secret=True, secret=secret
            )
        )
        self.pushes.append(push)

    async def _fetch(self, member: Member) -> None:
        store = self.contracts.secret_store.as_(member.account)
        member.secret = await self.chain.offload(fetch_secret, self.name, store, member.identity)
        member.keyring.install(member.secret.epoch, member.secret.secret)

    # -- reconfiguration ---------------------------------------------------------------------
    async def add_agent(self, agent: str, image: WrappedImage | None = None) -> ChainEntry:
        """Add an agent to the running pipeline: keys and account, registered and put at
        the end of the plan, attested by the current root of trust along the chain, then
        given the current epoch's key. Its NFV-A messages are admitted from then on."""
        if agent in self.members:
            raise PipelineError(f"add {agent}: already a member of {self.name}")
        image = image or next(iter(self.members.values())).image
        assert self._clock is not None
        member = _member(
            agent,
            image,
            self.name,
            self.security,
            self.ledger,
            self.contracts,
            self.mlfo.bus,
            self._clock,
            self.directory,
        )
        self.members[agent] = member
        self.plan = (*self.plan, agent)
        peer = Peer(agent, member.account.address, *_keys(member))
        plan = self._planned(self._peers())
        registry = self.contracts.registry
        assert self.budget is not None
        funding = self.budget.per_agent_wei
        await self.chain.offload(register_agents, registry, self.name, [peer], plan, funding)
        self.chain.peers[peer.address] = peer
        self.chain.expected[agent] = Expected(image.manifest.image, image.reference)
        self.chain.roles = {**self.chain.roles, agent: _remote(self.mlfo, agent, self._clock)}
        self.liveness.agents = {*self.liveness.agents, agent}
        await member.serve(self.chain.peers)
        for _ in self.plan:
            entry = await self.chain.step()
            if entry is None or entry.measured == agent:
                break
        if entry is None or entry.measured != agent or not entry.passed:
            raise PipelineError(f"add {agent}: it did not pass attestation")
        newcomer = Recipient(member.account.address, member.identity.sealing_public)
        await self._push([newcomer], secret=self.pushes[-1].secret)
        await self._fetch(member)
        member.heartbeat.start()
        return entry

    async def remove_agent(self, agent: str, reason: str = "removed by the MLFO") -> None:
        """Take an agent out: revoked on chain (a new key epoch for the others), excluded
        from auctions, the agent stopped (`halts`), its attester and heartbeat too."""
        member = self.members.get(agent)
        if member is None:
            raise PipelineError(f"remove {agent}: not a member of {self.name}")
        if agent in self.view.excluded:  # revoked (and stopped) already: a failed attestation
            return
        await self.chain.revoke(Peer(agent, member.account.address, *_keys(member)), reason)
        await member.stop()

    async def _halt(self, peer: Peer, reason: str) -> None:
        """A revocation, first: the agent takes no further action (its halt: what it works
        on is withdrawn, it stops)."""
        halt = self.halts.pop(peer.name, None)
        if halt is not None:
            await halt(reason)

    async def _rekey(self, peer: Peer, reason: str) -> None:
        """A revocation on chain: a new epoch keys the agents that are still trusted, and
        every link to or from the revoked agent closes at once."""
        self.members[peer.name].secret = None
        for member in self.members.values():
            if member.identity.name != peer.name:
                member.keyring.revoke(peer.name)
        await self._push_keys()

    def admits(self, agent: str) -> bool:
        """Whether `agent` takes part in auctions: attested and not revoked (`view`), and
        not withdrawn for silence (`liveness`: until it beats again)."""
        return admitted(self.view, self.liveness, agent)

    @property
    def admission_changes(self) -> list[str]:
        """Every agent whose `admits` changed, in order: one log for the view and the
        liveness monitor, which the goal boards read instead of asking about everyone."""
        return self.view.changed

    def bus_for(self, agent: str) -> Bus:
        """The bus `agent` talks to the others through: its SecureBus over the shared
        bus (every NFV-A message sealed with its link keys), or the bus itself when the
        scenario turns encryption off."""
        if not self.security.encrypt:
            return self.bus
        channel = self._channels.get(agent)
        if channel is None:
            member = self.members[agent]
            channel = SecureBus(
                self.bus,
                agent,
                vni_of(self.name, self.security),
                member.keyring,
                agent_recipient,
                cipher=self.security.cipher,
            )
            self._channels[agent] = channel
        return channel

    # -- work --------------------------------------------------------------------------------
    async def cohort(self) -> Cohort:
        """The agents as the MLFO gives them work after bring-up (`secmas.pipeline.work`):
        their keys read back from the registry, the MLFO's end of the secure channel keyed
        with the epoch secret it pushed, and each admitted agent's seat in this process."""
        assert self.coordinator is not None and self.bus is not None
        on_chain = await self.chain.offload(peers_from_registry, self.contracts.registry, self.name)
        registered = {p.name: p.signing_key for p in on_chain.values()}
        agents = tuple(self.members)
        admitted = tuple(a for a in agents if self.view.admits(a))
        mlfo_key = self.coordinator.signing_public
        seats = {
            a: Seat(
                self.name,
                a,
                agents,
                self.members[a].identity,
                self.bus_for(a),
                registered,
                mlfo_key,
            )
            for a in admitted
        }
        return Cohort(
            self.name,
            agents,
            admitted,
            registered,
            self.coordinator,
            self._mlfo_channel(),
            seats,
        )

    def _mlfo_channel(self) -> Bus:
        """The MLFO's end of the secure channel (the bus itself without encryption)."""
        assert self.coordinator is not None and self.bus is not None
        if not self.security.encrypt:
            return self.bus
        channel = self._mlfo_bus
        if channel is None:
            vni = vni_of(self.name, self.security)
            keyring = EpochKeyring(self.coordinator, self.name, vni, self.directory)
            current = self.pushes[-1]  # the MLFO pushed it, so it holds the secret
            assert current.secret is not None
            keyring.install(current.epoch, current.secret)
            for agent in self.members:
                if not self.view.admits(agent):
                    keyring.revoke(agent)
            channel = SecureBus(
                self.bus, MLFO, vni, keyring, agent_recipient, cipher=self.security.cipher
            )
            self._mlfo_bus = channel
        return channel

    # -- operation ---------------------------------------------------------------------------
    def start_background(self, clock: Clock, seed: int = 0) -> None:
        """Mutual attestation during operation, off the agents' critical path: they never
        wait for it. Its unannounced checks are drawn for the run's `seed` on the virtual
        clock, from a secret of this process in real time (`secmas.trust.schedule`)."""
        timetable = Timetable.for_run(
            self.security.attestation,
            self.name,
            seed,
            simulated=isinstance(clock, VirtualClock),
            now=clock.now(),
        )
        self._background = asyncio.ensure_future(self._rounds(clock, timetable))

    async def _rounds(self, clock: Clock, timetable: Timetable) -> None:
        """One mutual attestation step every `period` seconds (each agent re-attested once
        per plan length × period, the cost per simulated second bounded however many
        agents there are) and, between them, unannounced checks of agents at random."""
        while not self._stopping:
            due = timetable.next()
            await clock.sleep(due.at - clock.now())
            if self._stopping:
                return
            self._in_step = True
            try:
                await self.chain.attest(due)
            except LedgerError as exc:
                logger.error("mutual attestation step failed: %s", exc)
            finally:
                self._in_step = False
            timetable.done(due, clock.now())

    async def close(self) -> None:
        """Stop the background rounds (a step in flight finishes first), then the beats
        and attesters. The measurer process and its folder go whatever else fails or is
        interrupted on the way (Ctrl-C during the close left its folder behind)."""
        self._stopping = True
        try:
            if self._background is not None:
                if not self._in_step:
                    self._background.cancel()
                with suppress(asyncio.CancelledError):
                    await self._background
            for channel in (*self._channels.values(), self._mlfo_bus):
                if channel is not None:
                    await channel.close()
            for member in self.members.values():
                await member.stop()
            await self._sweep()
            await self.liveness.stop()
            await self.mlfo.close()
            await self.chain.control.close()
        finally:
            self.repository.close()
            if self.external is not None:
                self.external.stop()

    async def _sweep(self) -> None:
        """Every agent's money back to the MLFO, which funded it (issue 37 item 1): the
        run is over, or its bring-up failed; one refused sweep does not keep the others."""
        for agent, member in self.members.items():
            try:
                swept = await self.chain.offload(
                    sweep, self.ledger.chain, member.account, self.ledger.mlfo
                )
            except LedgerError as exc:
                logger.error("could not sweep %s's account back to the MLFO: %s", agent, exc)
            else:
                self.sweeps.append(swept)

    def _funding_report(self) -> dict[str, Any] | None:
        """What each agent was given and what came back (wei)."""
        if self.budget is None:
            return None
        return {
            **self.budget.to_json(),
            "funded_wei": self.budget.per_agent_wei * len(self.members),
            "swept_wei": sum(s.value for s in self.sweeps),
            "left_wei": sum(s.left for s in self.sweeps),
        }

    def _channel_report(self) -> dict[str, Any] | None:
        """Per agent: frames sealed and opened, and frames dropped by reason."""
        if not self.security.encrypt:
            return None
        return {
            "cipher": self.security.cipher,
            "vni": vni_of(self.name, self.security),
            "agents": {
                agent: {
                    "sealed": bus.channel.stats.sealed,
                    "opened": bus.channel.stats.opened,
                    "dropped": dict(bus.channel.stats.dropped),
                }
                for agent, bus in self._channels.items()
            },
        }

    # -- report ------------------------------------------------------------------------------
    @property
    def entries(self) -> list[ChainEntry]:
        return self.chain.entries

    def report(self, now: float) -> dict[str, Any]:
        """report.json's trust section (`secmas.pipeline.trustreport`)."""
        members = self.members
        records = TrustRecords(
            pipeline=self.name,
            ledger_url=self.ledger.url,
            contracts=self.contracts,
            security=self.security,
            view=self.view,
            accounts={a: m.account.address for a, m in members.items()},
            columns={
                a: {"key_epoch": m.secret.epoch if m.secret else None} for a, m in members.items()
            },
            plan=self.plan,
            setup_tx=self.setup_tx,
            entries=self.entries,
            pushes=self.pushes,
            rotations=self.rotations,
            liveness=self.liveness,
            workflow=self.workflow,
            round_trips=self._round_trips(),
            ledger=self.ledger,
            funding=self._funding_report(),
            channel=self._channel_report(),
            external=None if self.external is None else self.external.report(),
            image=next(iter(members.values())).image.manifest,
        )
        return trust_report(records, now)

    def _round_trips(self) -> list[float]:
        """Challenge → evidence round trips of the verifiers in this process: SECaaS's
        (initial attestations) and each member's as elected verifier."""
        deadlines = [self.chain.deadlines, *(m.role.deadlines for m in self.members.values())]
        return [t for d in deadlines if d is not None for t in d.answers]
