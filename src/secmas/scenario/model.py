"""Pydantic models of a scenario: the network, the VNF catalogue, goals, traffic, attack,
the monitored CNFs and the incidents injected into them.

Units follow Table 4.1 of the dissertation (`003_…`): CPU cores (U), memory in GB (M),
disk in GB (D), link bandwidth in MB/s (B), latency in ms (L), packet loss in percent (P),
hops (H).
"""

from __future__ import annotations

import math
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from secmas.plugins import NAME, PluginError, plugin
from secmas.scenario.adaptive import CTISharing, MovingTargetDefence
from secmas.scenario.attacks import checked_parameters, installed_kind, traits
from secmas.scenario.base import Id, NonNegative, PoPId, Positive, Strict, at_most
from secmas.scenario.incidents import installed_incident

PLUGIN_NAME = f"^{NAME.pattern}$"
"""What a plug-in's name may be (`secmas.plugins.NAME`), for the JSON schema (the model names the
installed ones instead, which only it can know)."""

MAX_SEED = 2**32 - 1
"""Largest seed of a run (a scenario's `seed`, a sweep's `seeds`, every `--seed`): 32 bits,
what every random generator a run seeds accepts (numpy's legacy seeding takes no more,
torch's no more than 64 bits), so a larger seed is refused at the start instead of failing
mid-run."""


class Resource(StrEnum):
    """Computational resources R_C (Table 4.1)."""

    CPU = "U"
    MEMORY = "M"
    DISK = "D"


class Measure(StrEnum):
    """Network resource R_N and measurements NM a goal constraint may name (Table 4.1)."""

    BANDWIDTH = "B"
    LATENCY = "L"
    LOSS = "P"
    HOPS = "H"


class Operator(StrEnum):
    """Comparison operators allowed in a constraint ⟨n, op, val⟩ (Definition 6)."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, bound: float) -> bool:
        """Whether `value op bound` is true."""
        match self:
            case Operator.LT:
                return value < bound
            case Operator.LE:
                return value <= bound
            case Operator.GT:
                return value > bound
            case Operator.GE:
                return value >= bound
            case Operator.EQ:
                return math.isclose(value, bound)
            case Operator.NE:
                return not math.isclose(value, bound)


class Resources(Strict):
    """An amount of each computational resource."""

    cpu: NonNegative = Field(description="CPU cores (U)")
    memory: NonNegative = Field(description="RAM in GB (M)")
    disk: NonNegative = Field(description="disk in GB (D)")

    def get(self, resource: Resource) -> float:
        """Amount of one resource."""
        return {Resource.CPU: self.cpu, Resource.MEMORY: self.memory, Resource.DISK: self.disk}[
            resource
        ]


class PoP(Strict):
    """An NFVI point of presence: compute for VNFs and the switch that connects it."""

    id: PoPId
    cpu: Positive = Field(description="total CPU cores (U)")
    memory: Positive = Field(description="total RAM in GB (M)")
    disk: Positive = Field(description="total disk in GB (D)")
    region: Id | None = Field(default=None, description="where it is (for residency policies)")
    domain: Id | None = Field(
        default=None, description="administrative domain whose CTI hygiene it shares"
    )

    @property
    def total(self) -> Resources:
        """total_p as a Resources value."""
        return Resources(cpu=self.cpu, memory=self.memory, disk=self.disk)


class Switch(Strict):
    """A transit node without compute: it can forward traffic but host no VNF."""

    id: Id


def _ipv4(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        address = ip_address(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address (four numbers 0..255)") from None
    if not isinstance(address, IPv4Address):
        raise ValueError(f"{value!r} is not an IPv4 address (the data plane is IPv4)")
    return str(address)


class Host(Strict):
    """An end host (server, repository, client) attached to a PoP's or a switch's port."""

    id: Id
    attach: Id = Field(description="id of the PoP or switch the host is connected to")
    ip: Annotated[str | None, AfterValidator(_ipv4)] = None


class Link(Strict):
    """A bidirectional link between two nodes (PoPs, switches or hosts)."""

    a: Id
    b: Id
    bandwidth: Positive = Field(description="B, MB/s")
    latency: NonNegative = Field(default=1.0, description="L, ms")
    loss: float = Field(default=0.0, ge=0, lt=100, description="P, percent")

    @model_validator(mode="after")
    def _distinct_ends(self) -> Link:
        if self.a == self.b:
            raise ValueError(f"link joins {self.a!r} to itself")
        return self


class Repository(Strict):
    """The VNF repository: the server agents download VNF images from."""

    attach: Id = Field(description="id of the PoP or switch the repository is connected to")


class VNF(Strict):
    """An entry of the VNF catalogue (Table 5.6)."""

    id: Id
    requirements: Resources = Field(description="req_v for one unit of the VNF")
    throughput: Positive | None = Field(
        default=None,
        description="traffic one unit can process, MB/s; none means the VNF is not scaled",
    )
    image_size: Positive = Field(default=500.0, description="download size, MB")


class Constraint(Strict):
    """A goal constraint ⟨n, op, val⟩ (Definition 6). Loss is in percent."""

    measure: Measure
    op: Operator
    value: float = Field(allow_inf_nan=False)


class Preferences(Strict):
    """Weights pf_T, pf_C, pf_D of a goal's bid components (Definition 8); they sum to 1."""

    T: float = Field(ge=0, le=1)
    C: float = Field(ge=0, le=1)
    D: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Preferences:
        total = self.T + self.C + self.D
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"preferences T + C + D must sum to 1, got {total:g}")
        return self


class GoalSpec(Strict):
    """Design-time settings of a goal type (Table 5.7): preferences, constraints, VNFs."""

    name: Id
    preferences: Preferences
    constraints: tuple[Constraint, ...] = ()
    vnfs: tuple[Id, ...] = Field(
        default=(), description="VNFs whose plans achieve this goal, in order of preference"
    )


class Placement(Strict):
    """A VNF deployed on a PoP before the run starts (the initial state of the network)."""

    vnf: Id
    pop: Id


ADDRESS_PLAN = 254 * 256
"""Clients an address plan holds: legitimate clients and attackers each get a /16 whose
addresses x.y.z.1 … x.y.z.254 are numbered in order (`secmas.network.dataplane.flows`)."""
_in_address_plan = at_most(
    ADDRESS_PLAN, "a /16 address plan holds 254 × 256 clients (x.y.z.1 … x.y.z.254)"
)
CLIENT_PLANS = {
    "background clients": IPv4Network("10.1.0.0/16"),
    "attackers": IPv4Network("10.66.0.0/16"),
}
"""The /16 address plans of the clients (`LEGIT_PREFIX` and `ATTACK_PREFIX` of
`secmas.network.dataplane.flows`): a host inside one could share a client's address."""


class BackgroundTraffic(Strict):
    """Legitimate clients: video viewers and HTTP clients (Section 5.3)."""

    hosts: Annotated[int, _in_address_plan] = Field(default=50, ge=0)
    http_per_video: int = Field(default=5, ge=0, description="HTTP hosts per video host")
    video_rate: NonNegative = Field(default=0.05, description="MB/s per video stream")
    http_rate: NonNegative = Field(default=0.01, description="MB/s per HTTP client")
    attach: tuple[Id, ...] = Field(min_length=1, description="PoPs/switches clients sit behind")


AttackKind = Annotated[str, AfterValidator(installed_kind)]
"""An installed attack's name (`secmas.scenario.attacks`): the `secmas.attacks` plug-ins."""


def _prefix(value: Any) -> IPv4Network:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 CIDR prefix as text, got {value!r}")
    try:
        network = ip_network(value.strip())
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR prefix: {exc}") from None
    if not isinstance(network, IPv4Network):
        raise ValueError(f"{value!r} is not an IPv4 prefix")
    return network


Prefix = Annotated[IPv4Network, BeforeValidator(_prefix)]


class Attack(Strict):
    """An attack on the service ports of the server.

    `kind` is an installed attack plug-in (`secmas.network.attack`; the built-ins are in
    `secmas.network.attacks`), `parameters` what that kind takes of its own. `rate` is what
    each attacker sends, so a slowloris needs a far smaller one than a flood. With `spoof`,
    the attackers forge their source addresses from that prefix (one per attacker) instead
    of using their own; only attacks that need no handshake can (a SYN flood, an injection).
    """

    kind: AttackKind = Field(
        default="syn_flood",
        json_schema_extra={"pattern": PLUGIN_NAME},
        description="an installed attack: a secmas.attacks plug-in's name (which are "
        "installed, `secmas scenario validate` checks)",
    )
    attackers: Annotated[int, _in_address_plan] = Field(default=8, ge=1)
    rate: Positive = Field(default=0.5, description="MB/s sent by each attacker")
    start: NonNegative = Field(default=20.0, description="simulated seconds")
    stop: Positive | None = Field(default=None, description="simulated seconds; none = never")
    ports: tuple[int, ...] = (8000, 8080)
    attach: tuple[Id, ...] = Field(min_length=1, description="PoPs/switches attackers sit behind")
    spoof: Prefix | None = Field(default=None, description="forge source addresses from this")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="what the attack kind takes of its own"
    )

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, ports: tuple[int, ...]) -> tuple[int, ...]:
        for port in ports:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is outside 1..65535")
        return ports

    @field_validator("parameters")
    @classmethod
    def _own_parameters(cls, given: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind is not None:  # an unknown kind is refused at `kind` already
            checked_parameters(kind, given)
        return given

    @model_validator(mode="after")
    def _window(self) -> Attack:
        if self.stop is not None and self.stop <= self.start:
            raise ValueError(f"attack stop {self.stop:g} s is not after start {self.start:g} s")
        if self.spoof is not None and traits(self.kind).handshakes:
            raise ValueError(
                f"a {self.kind} completes TCP handshakes: its sources cannot be spoofed"
            )
        if self.spoof is not None and self.attackers > self.spoof.num_addresses - 2:
            raise ValueError(
                f"spoof prefix {self.spoof} has {max(0, self.spoof.num_addresses - 2)} host "
                f"addresses for {self.attackers} attackers"
            )
        return self


MAX_STEPS = 100_000
"""Simulator steps a run may take (more than a day of simulated time at 1 s steps)."""


class Traffic(Strict):
    """What flows towards the server, and for how long the run lasts."""

    server: Id = Field(description="id of the host that serves HTTP and video")
    ports: tuple[int, ...] = (8000, 8080)
    duration: Positive = Field(default=240.0, description="simulated seconds")
    step: Positive = Field(default=1.0, description="simulated seconds per simulator step")
    background: BackgroundTraffic

    @model_validator(mode="after")
    def _steps(self) -> Traffic:
        if self.step > self.duration:
            raise ValueError(f"step {self.step:g} s is longer than the run ({self.duration:g} s)")
        if self.duration / self.step > MAX_STEPS:
            raise ValueError(
                f"duration / step is {self.duration / self.step:.0f} steps, above {MAX_STEPS}: "
                "every step is simulated and its telemetry kept for the report"
            )
        return self


class Monitor(Strict):
    """Where the Link Monitor watches (Table 5.2) and what counts as over-usage."""

    pop: Id = Field(description="PoP whose agent runs the Link Monitor")
    link: tuple[Id, Id] = Field(description="the watched link, as its two end ids")
    threshold: Positive = Field(description="MB/s above which the link is over-used")
    hysteresis: float = Field(default=0.8, gt=0, le=1, description="clear below threshold×this")


class Defence(Strict):
    """Design-time parameters of the DDoS resilience strategy (Section 5.1)."""

    monitor: Monitor
    rate: float = Field(default=0.5, gt=0, lt=1, description="RATE: share kept by a limit")
    split_parts: int = Field(default=2, ge=2, description="PARTS of a Load Balancer split")
    serialised: bool = Field(
        default=False, description="one auction at a time with random back-off, as in 003_…"
    )


DEFAULT_BID = "nfva"
"""The bid function of a scenario that names none: the dissertation's U (T, C, D)."""


class AuctionOptions(Strict):
    """How agents price goals (the bid function) and how initiators weigh bids beyond
    Eq. 3.1."""

    bid: str = Field(
        default=DEFAULT_BID,
        json_schema_extra={"pattern": PLUGIN_NAME},
        description="the bid function every agent prices a goal with: the name of a "
        "plug-in of the secmas.bids entry-point group (default nfva, the dissertation's "
        "T, C, D of Section 4.2)",
    )

    reputation_weight: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="weight w of the bidder's reputation in Eq. 3.1: (1 − w)·U + "
        "w·(1 − reputation); 0 (default) is the dissertation's Eq. 3.1 (Table 5.8), 1 "
        "ranks bids by reputation alone",
    )

    @field_validator("bid")
    @classmethod
    def _installed(cls, name: str) -> str:
        """A bid function no installed distribution provides is refused at load."""
        try:
            plugin("secmas.bids", name)
        except PluginError as exc:
            raise ValueError(str(exc)) from exc
        return name


class ServiceVNF(Strict):
    """One VNF of a network service (an NSD's constituent VNF, after ETSI NFV-IFA 014)."""

    id: Id = Field(description="the VNF's name in the service")
    vnfd: Id = Field(description="its descriptor: a VNF of the catalogue")
    pop: Id = Field(description="the PoP (NFVI site) it runs at")


class NetworkService(Strict):
    """A network-service descriptor (NSD) as the SO receives it (`001_…` step 0)."""

    id: Id
    name: str = ""
    vnfs: tuple[ServiceVNF, ...] = Field(min_length=1)
    max_latency: float = Field(
        default=100.0,
        gt=0,
        description="ms within which the MAS pipeline must reach every VNF of the service; "
        ".inf: no bound (the service of a scenario without one)",
    )


class CNF(Strict):
    """A containerised web/video microservice whose resource metrics are monitored.

    `host` is the scenario host whose traffic it serves (its service address); `pop` is
    where its compute runs. It runs `replicas` instances of `cores` CPU cores each, and
    each instance accepts at most `max_connections` open connections.
    """

    id: Id
    host: Id = Field(description="the scenario host whose traffic the CNF serves")
    pop: Id = Field(description="the PoP its instances run at")
    cores: Positive = Field(default=2.0, description="CPU cores per replica")
    replicas: int = Field(default=1, ge=1)
    max_connections: int = Field(default=512, ge=1, description="open connections per replica")


IncidentKind = Annotated[str, AfterValidator(installed_incident)]
"""An installed incident's name (`secmas.scenario.incidents`): the `secmas.incidents`
plug-ins."""


class Incident(Strict):
    """A microservice anomaly injected into a CNF for [start, stop) simulated seconds.

    `kind` is an installed incident plug-in (`secmas.network.incident`; the built-ins, in
    `secmas.network.incidents`, are the five anomalies of the profiling data set of `004_…`
    Section 6.2 and `disk_storm`, a disk-I/O surge the profiler is not trained on).
    """

    kind: IncidentKind = Field(
        json_schema_extra={"pattern": PLUGIN_NAME},
        description="an installed incident: a secmas.incidents plug-in's name (which are "
        "installed, `secmas scenario validate` checks)",
    )
    cnf: Id = Field(description="id of the CNF it happens to")
    start: NonNegative = Field(description="simulated seconds")
    stop: Positive | None = Field(default=None, description="simulated seconds; none = never")
    magnitude: Positive = Field(default=1.0, description="strength, 1 = the usual size")

    @model_validator(mode="after")
    def _window(self) -> Incident:
        if self.stop is not None and self.stop <= self.start:
            raise ValueError(f"incident stop {self.stop:g} s is not after start {self.start:g} s")
        return self


class Slice(Strict):
    """A network slice: the hosts whose traffic it carries and the CNFs serving it. Security
    intents (`secmas.policy`) name slices by id."""

    id: Id
    hosts: tuple[Id, ...] = Field(min_length=1, description="hosts the slice's traffic goes to")
    cnfs: tuple[Id, ...] = Field(default=(), description="CNFs that serve the slice")


class RandomMeasurements(Strict):
    """Unannounced measurements on top of the periodic steps: SECaaS challenges an
    agent chosen at random at the arrivals of a Poisson process, so that code inside
    an agent cannot learn from the period when it is next looked at
    (`secmas.trust.schedule`). Give the rate or the mean interval, one of the two."""

    rate: Positive | None = Field(
        default=None, description="unannounced measurements per simulated second, all agents"
    )
    mean_interval: Positive | None = Field(
        default=None,
        description="mean simulated seconds between two unannounced measurements (1 / rate)",
    )

    @model_validator(mode="after")
    def _one_of_two(self) -> RandomMeasurements:
        if (self.rate is None) == (self.mean_interval is None):
            raise ValueError(
                "give rate (measurements per second) or mean_interval (seconds between "
                "two), one of the two"
            )
        return self

    @property
    def per_second(self) -> float:
        """The Poisson process's rate."""
        return self.rate if self.rate is not None else 1.0 / self.mean_seconds

    @property
    def mean_seconds(self) -> float:
        """Mean seconds between two unannounced measurements."""
        return self.mean_interval if self.mean_interval is not None else 1.0 / self.per_second


DEFAULT_RANDOM = RandomMeasurements(mean_interval=60.0)
"""On by default: one unannounced measurement a minute on average, about one per round of
the reference scenario's plan (six agents, a step every 10 s), which adds a sixth to the
periodic steps' work; the run's report gives each agent's measurement windows. A shorter
interval narrows them at the cost of a ledger record per measurement."""


MIN_ROUND_PERIODS = 3
"""The shortest round of an attestation group among several: two members and a guest."""


class Attestation(Strict):
    """Mutual remote attestation during operation (`001_…` Section 3.B)."""

    period: Positive = Field(
        default=10.0, description="simulated seconds between two background attestation steps"
    )
    plan: tuple[Id, ...] = Field(
        default=(), description="order in which agents (PoP ids) are attested; default PoP order"
    )
    interval: Positive | None = Field(
        default=None,
        description="longest simulated seconds between two attestations of an agent: "
        "the agents are split into attestation groups small enough for it, each its own "
        "chain and root of trust, the groups measuring each other once a round; null: one "
        "chain of all agents (re-attested every agents × period seconds); at least three "
        "periods",
    )
    challenge_timeout: Positive = Field(
        default=5.0,
        description="shortest wall-second wait for an agent's evidence (real time: "
        "lengthened by measured round trips)",
    )
    random: RandomMeasurements | None = Field(
        default=DEFAULT_RANDOM,
        description="unannounced measurements of agents chosen at random, between the "
        "periodic steps; null: periodic steps only",
    )
    block_time: Literal["refuse", "adapt"] = Field(
        default="refuse",
        description="a period shorter than a JSON-RPC chain's block time carries (two "
        "block intervals, measured before a run with agents as processes): refuse the run "
        "(exit 2, naming both) or lengthen the period to fit",
    )

    @model_validator(mode="after")
    def _interval_fits_a_group(self) -> Attestation:
        if self.interval is not None and self.interval < MIN_ROUND_PERIODS * self.period:
            raise ValueError(
                f"interval {self.interval:g} s is shorter than {MIN_ROUND_PERIODS} periods "
                f"({MIN_ROUND_PERIODS * self.period:g} s): a group of two re-attests each "
                f"member every {MIN_ROUND_PERIODS} periods (two steps and its guest step)"
            )
        return self


class Security(Strict):
    """The trust layer of a run: ledger, attestation, liveness."""

    enabled: bool = Field(default=True, description="wrap, register and attest the agents")
    ledger: str = Field(
        default="memory",
        pattern=r"^(memory|https?://\S+)$",
        description="'memory' (in-process EVM) or an Ethereum JSON-RPC URL",
    )
    attestation: Attestation = Attestation()
    heartbeat: Positive = Field(default=5.0, description="simulated seconds between beats")
    encrypt: bool = Field(
        default=True, description="seal every agent-to-agent message (AEAD, per-link keys)"
    )
    cipher: Literal["aes-256-gcm", "chacha20-poly1305"] = "aes-256-gcm"
    vni: int | None = Field(
        default=None,
        ge=0,
        lt=1 << 24,
        description="the pipeline's 24-bit segment id; default derived from the scenario id",
    )
    grace: NonNegative = Field(
        default=5.0, description="wall seconds the previous key epoch is still accepted"
    )


class DataPlaneSettings(Strict):
    """Which data-plane engine runs the scenario (`secmas.network.dataplane` simulates it,
    `secmas.network.emulation` builds it as a real Linux network on this machine)."""

    engine: Literal["simulator", "emulated"] = "simulator"
    scale: float = Field(
        default=0.025,
        gt=0,
        le=1,
        description="emulated engine: share of the scenario's byte and packet rates that "
        "really flows (counters are divided by it, so VNFs see scenario MB/s)",
    )


MAX_SAMPLES = 100_000
MAX_EPOCHS = 1000


def _trainable(limit: int, what: str) -> AfterValidator:
    """Training sizes beyond which the models take hours on a CPU (the reference data set
    of `004_…` Section 6.2 has 2 361 windows, trained for tens of epochs)."""
    return at_most(limit, f"more {what} train for hours on a CPU before the run starts")


class Analytics(Strict):
    """The security closed loop of a run (`002_…` Section II.A; `secmas.analytics`)."""

    detect: bool = Field(
        default=False, description="run monitoring, detection and decisions live beside the agents"
    )
    threshold: Literal["static", "adaptive"] = Field(
        default="static",
        description="autoencoder threshold: 99th percentile of training errors, or adaptive",
    )
    cooldown: Positive = Field(
        default=30.0, description="simulated seconds before the same CNF may alert again"
    )
    trust_threshold: float = Field(
        default=0.4, ge=0, le=1, description="agents trusted less than this may not bid"
    )
    samples: Annotated[int, _trainable(MAX_SAMPLES, "normal windows")] = Field(
        default=2361, ge=50, description="normal windows the autoencoder learns"
    )
    epochs: Annotated[int, _trainable(MAX_EPOCHS, "epochs")] = Field(
        default=30, ge=1, description="autoencoder training epochs"
    )
    profile_epochs: Annotated[int, _trainable(MAX_EPOCHS, "epochs")] = Field(
        default=40, ge=1, description="profiler training epochs"
    )
    training: Literal["central", "federated"] = Field(
        default="central",
        description="how the autoencoder learns normal behaviour: on telemetry pooled in one "
        "place, or by FedAvg over the agents (one per PoP), every exchange a secure sum",
    )
    rounds: Annotated[int, _trainable(MAX_EPOCHS, "rounds")] = Field(
        default=10, ge=1, description="FedAvg rounds of federated training"
    )


MAX_SYNTHETIC_GOALS = 100_000
"""Synthetic goals one agent may be given (003 Figure 5.5 went up to 100)."""


class Load(Strict):
    """Unrelated work on one agent (Section 5.4.3 of `003_…`, Figure 5.5): when the Link
    Monitor perceives the over-usage (the strategy starts), `synthetic_goals` goals are
    posted on `pop`'s agent, each pursued by a plan that takes a random 0–`plan_seconds`
    simulated seconds (`secmas.agents.workload`). They compete with the strategy's goals
    for the agent's intention slots only when they share the agent and the priority."""

    pop: Id = Field(description="PoP whose agent is given the synthetic goals")
    synthetic_goals: Annotated[
        int, at_most(MAX_SYNTHETIC_GOALS, "every goal is a plan run by the agent")
    ] = Field(default=0, ge=0)
    plan_seconds: Positive = Field(
        default=0.1, description="longest a synthetic plan takes, simulated seconds"
    )
    priority: NonNegative = Field(
        default=10.0,
        description="their deliberation priority; 10 is the strategy's PROTECT (003 used "
        "no prioritisation), 0 lets every strategy goal go first",
    )


class Scenario(Strict):
    """A whole scenario: infrastructure, catalogue, goals, initial state, traffic, attack,
    the monitored CNFs and the incidents injected into them."""

    id: Id
    description: str = ""
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="seeds every random draw of the run"
    )
    pops: tuple[PoP, ...] = Field(min_length=1)
    switches: tuple[Switch, ...] = ()
    hosts: tuple[Host, ...] = ()
    links: tuple[Link, ...] = ()
    repository: Repository
    vnfs: tuple[VNF, ...] = Field(min_length=1)
    goals: tuple[GoalSpec, ...] = ()
    placements: tuple[Placement, ...] = ()
    traffic: Traffic | None = None
    attack: Attack | None = None
    cnfs: tuple[CNF, ...] = ()
    incidents: tuple[Incident, ...] = ()
    defence: Defence | None = None
    auction: AuctionOptions = AuctionOptions()
    security: Security = Security()
    service: NetworkService | None = None
    analytics: Analytics = Analytics()
    slices: tuple[Slice, ...] = ()
    policy: str | None = Field(
        default=None, description="security intent file, relative to the scenario file"
    )
    cti: CTISharing | None = None
    mtd: MovingTargetDefence | None = None
    network: DataPlaneSettings = DataPlaneSettings()
    load: Load | None = None

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems = reference_problems(self)
        if problems:
            raise ReferenceProblems(problems)
        return self

    def vnf(self, vnf_id: str) -> VNF:
        """The catalogue entry with this id."""
        for vnf in self.vnfs:
            if vnf.id == vnf_id:
                return vnf
        raise KeyError(vnf_id)

    def goal(self, name: str) -> GoalSpec:
        """The goal settings with this name."""
        for goal in self.goals:
            if goal.name == name:
                return goal
        raise KeyError(name)


Path = tuple[str | int, ...]


class ReferenceProblems(ValueError):
    """Cross-references that do not resolve, each with the field path it was found at."""

    def __init__(self, problems: list[tuple[Path, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{_dotted(path)}: {msg}" for path, msg in problems))


def _dotted(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def reference_problems(scenario: Scenario) -> list[tuple[Path, str]]:
    """Duplicate ids and references to undefined PoPs, switches, hosts, VNFs or CNFs."""
    problems: list[tuple[Path, str]] = []

    def unique(field: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for index, item in enumerate(ids):
            if item in seen:
                problems.append(((field, index, "id"), f"duplicate id {item!r}"))
            seen.add(item)
        return seen

    def known(path: Path, ref: str, pool: set[str], kind: str) -> None:
        if ref not in pool:
            problems.append((path, f"unknown {kind} {ref!r}"))

    pops = unique("pops", [p.id for p in scenario.pops])
    switches = unique("switches", [s.id for s in scenario.switches])
    hosts = unique("hosts", [h.id for h in scenario.hosts])
    vnfs = unique("vnfs", [v.id for v in scenario.vnfs])
    nodes = pops | switches
    for index, pop in enumerate(scenario.pops):
        if pop.id in switches:
            problems.append((("pops", index, "id"), f"id {pop.id!r} is also a switch"))
    for index, host in enumerate(scenario.hosts):
        if host.id in nodes:
            problems.append((("hosts", index, "id"), f"id {host.id!r} is also a PoP or switch"))
        known(("hosts", index, "attach"), host.attach, nodes, "PoP or switch")
    known(("repository", "attach"), scenario.repository.attach, nodes, "PoP or switch")
    endpoints = nodes | hosts
    seen_pairs: set[frozenset[str]] = set()
    for index, link in enumerate(scenario.links):
        known(("links", index, "a"), link.a, endpoints, "node")
        known(("links", index, "b"), link.b, endpoints, "node")
        pair = frozenset((link.a, link.b))
        if pair in seen_pairs:
            problems.append((("links", index), f"duplicate link {link.a!r}–{link.b!r}"))
        seen_pairs.add(pair)
    names: set[str] = set()
    for index, goal in enumerate(scenario.goals):
        if goal.name in names:
            problems.append((("goals", index, "name"), f"duplicate goal {goal.name!r}"))
        names.add(goal.name)
        for v_index, vnf in enumerate(goal.vnfs):
            known(("goals", index, "vnfs", v_index), vnf, vnfs, "VNF")
    for index, placement in enumerate(scenario.placements):
        known(("placements", index, "vnf"), placement.vnf, vnfs, "VNF")
        known(("placements", index, "pop"), placement.pop, pops, "PoP")
    if scenario.traffic is not None:
        known(("traffic", "server"), scenario.traffic.server, hosts, "host")
        for index, node in enumerate(scenario.traffic.background.attach):
            known(("traffic", "background", "attach", index), node, nodes, "PoP or switch")
    if scenario.attack is not None:
        for index, node in enumerate(scenario.attack.attach):
            known(("attack", "attach", index), node, nodes, "PoP or switch")
        if scenario.traffic is not None and scenario.attack.start >= scenario.traffic.duration:
            problems.append(
                (
                    ("attack", "start"),
                    f"the attack starts at {scenario.attack.start:g} s, when the run "
                    f"(traffic.duration {scenario.traffic.duration:g} s) is over",
                )
            )
    cnfs = unique("cnfs", [c.id for c in scenario.cnfs])
    for index, cnf in enumerate(scenario.cnfs):
        known(("cnfs", index, "host"), cnf.host, hosts, "host")
        known(("cnfs", index, "pop"), cnf.pop, pops, "PoP")
    for index, incident in enumerate(scenario.incidents):
        known(("incidents", index, "cnf"), incident.cnf, cnfs, "CNF")
    if scenario.defence is not None:
        monitor = scenario.defence.monitor
        known(("defence", "monitor", "pop"), monitor.pop, pops, "PoP")
        if frozenset(monitor.link) not in seen_pairs:
            problems.append(
                (
                    ("defence", "monitor", "link"),
                    f"no link between {monitor.link[0]!r} and {monitor.link[1]!r}",
                )
            )
    if scenario.service is not None:
        seen_vnfs: set[str] = set()
        for index, vnf in enumerate(scenario.service.vnfs):
            where = ("service", "vnfs", index)
            known((*where, "vnfd"), vnf.vnfd, vnfs, "VNF")
            known((*where, "pop"), vnf.pop, pops, "PoP")
            if vnf.id in seen_vnfs:
                problems.append(((*where, "id"), f"duplicate service VNF {vnf.id!r}"))
            seen_vnfs.add(vnf.id)
    unique("slices", [s.id for s in scenario.slices])
    for index, slice_ in enumerate(scenario.slices):
        for h_index, host in enumerate(slice_.hosts):
            known(("slices", index, "hosts", h_index), host, hosts, "host")
        for c_index, cnf in enumerate(slice_.cnfs):
            known(("slices", index, "cnfs", c_index), cnf, cnfs, "CNF")
    if scenario.analytics.detect and not scenario.cnfs:
        problems.append(
            (("analytics", "detect"), "the closed loop watches CNFs: add a cnfs section")
        )
    if scenario.load is not None:
        known(("load", "pop"), scenario.load.pop, pops, "PoP")
        if scenario.defence is None:
            problems.append((("load",), "synthetic goals start with the Link Monitor: add defence"))
    problems += _adaptive_problems(scenario, names, cnfs)
    problems += _address_problems(scenario)
    problems += _pacing_problems(scenario)
    plan = scenario.security.attestation.plan
    for index, pop in enumerate(plan):
        known(("security", "attestation", "plan", index), pop, pops, "PoP")
        if pop in plan[:index]:
            problems.append(
                (("security", "attestation", "plan", index), f"{pop!r} is already in the plan")
            )
    return problems


def _pacing_problems(scenario: Scenario) -> list[tuple[Path, str]]:
    """Periodic trust work at most once per simulator step: an attestation step or a beat
    every 0.0001 s would run millions of times and never let the run finish."""
    if scenario.traffic is None or not scenario.security.enabled:
        return []
    step = scenario.traffic.step
    security = scenario.security
    paced: list[tuple[Path, float, str]] = [
        (("security", "attestation", "period"), security.attestation.period, ""),
        (("security", "heartbeat"), security.heartbeat, ""),
    ]
    if security.attestation.random is not None:
        where = ("security", "attestation", "random")
        paced.append((where, security.attestation.random.mean_seconds, "a mean interval of "))
    return [
        (
            where,
            f"{what}{value:g} s is shorter than traffic.step ({step:g} s): at most one per step",
        )
        for where, value, what in paced
        if value < step
    ]


def _address_problems(scenario: Scenario) -> list[tuple[Path, str]]:
    """Hosts at addresses clients send from: flows, rules and the Anomaly Detector tell
    traffic apart by its addresses, so a server with a client's address would be limited,
    blocked or diagnosed as that client (and the emulated engine would route it twice)."""
    plans = _plans_in_use(scenario)
    attack = scenario.attack
    problems: list[tuple[Path, str]] = []
    for index, host in enumerate(scenario.hosts):
        if host.ip is None:
            continue
        address = IPv4Address(host.ip)
        at = f"host {host.id!r} at {address}"
        problems += [
            (
                ("hosts", index, "ip"),
                f"{at} is inside the {who}' /16 address plan {plan}: "
                "its address would be a client's",
            )
            for who, plan in plans.items()
            if address in plan
        ]
        if attack is not None and attack.spoof is not None and _forged(attack, address):
            problems.append(
                (
                    ("hosts", index, "ip"),
                    f"{at} is an address the {attack.attackers} attackers forge (attack.spoof "
                    f"{attack.spoof}: its first {attack.attackers} host addresses)",
                )
            )
    return problems


def _plans_in_use(scenario: Scenario) -> dict[str, IPv4Network]:
    """The clients' address plans the scenario hands addresses from: the background
    clients' with traffic, the attackers' with an attack that does not spoof."""
    used = {
        "background clients": scenario.traffic is not None
        and scenario.traffic.background.hosts > 0,
        "attackers": scenario.attack is not None and scenario.attack.spoof is None,
    }
    return {who: plan for who, plan in CLIENT_PLANS.items() if used[who]}


def _forged(attack: Attack, address: IPv4Address) -> bool:
    """Whether a spoofing attacker sends from `address` (the i-th forges its prefix's
    (i+1)-th address, `secmas.network.dataplane.traffic.spoofed_ip`)."""
    assert attack.spoof is not None
    offset = int(address) - int(attack.spoof.network_address)
    return 1 <= offset <= attack.attackers


MOVE_GOAL = "cnfMoved"


def _adaptive_problems(
    scenario: Scenario, goals: set[str], cnfs: set[str]
) -> list[tuple[Path, str]]:
    """References of the cti and mtd sections: sensitive goals, moving CNFs, PoP domains."""
    problems: list[tuple[Path, str]] = []
    if scenario.cti is not None:
        for index, goal in enumerate(scenario.cti.sensitive_goals):
            if goal not in goals:
                problems.append((("cti", "sensitive_goals", index), f"unknown goal {goal!r}"))
        if not any(pop.domain for pop in scenario.pops):
            problems.append((("cti",), "no PoP has a domain: give each PoP its `domain`"))
    if scenario.mtd is not None:
        if MOVE_GOAL not in goals:
            problems.append((("mtd",), f"moving a CNF is the goal {MOVE_GOAL!r}: add it to goals"))
        seen: set[str] = set()
        for index, target in enumerate(scenario.mtd.targets):
            where = ("mtd", "targets", index, "cnf")
            if target.cnf not in cnfs:
                problems.append((where, f"unknown CNF {target.cnf!r}"))
            elif target.cnf in seen:
                problems.append((where, f"CNF {target.cnf!r} is already a target"))
            seen.add(target.cnf)
    return problems
