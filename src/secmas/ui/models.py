"""The API's data, as pydantic models: what `/openapi.json` documents.

The first half reads report.json (schema `secmas.run/1`, written by
`secmas.report.record.build_report`): a file that does not fit is listed as unreadable
with the reason. The second half is what the API answers: the run's pieces reshaped for
looking at them (topology with positions, agents with their attestation history, alerts
from every source with their explanations).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from secmas.ui.adaptive import CtiView, MtdView
from secmas.ui.compliance import SslaView
from secmas.ui.network import NetworkView

# -- report.json --------------------------------------------------------------------------


class _Read(BaseModel):
    """A part of report.json: fields the UI does not show are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Preferences(_Read):
    T: float
    C: float
    D: float


class Constraint(_Read):
    measure: str
    op: str
    value: float


class Bid(_Read):
    agent: str
    vnf: str
    units: int
    T: float | None = Field(description="download time of the VNF image, s")
    C: float | None = Field(description="cost: resource evaluation of the bid (Eq. 4.4)")
    D: float | None = Field(description="decentralisation: distance to the initiator")
    utility: float | None = Field(description="Eq. 3.1 score: the lowest wins")
    path: list[str] = []
    reuses_instance: str | None = None


class Refusal(_Read):
    agent: str
    reason: str


class Auction(_Read):
    goal: str
    goal_name: str
    args: list[str] = []
    initiator: str
    preferences: Preferences
    constraints: list[Constraint] = []
    traffic_mbps: float | None = 0.0
    bids: list[Bid] = []
    refusals: list[Refusal] = []
    winner: str | None = None
    winner_vnf: str | None = None
    status: str
    attempt: int = 1
    sim_start_s: float
    sim_end_s: float
    wall_ms: float | None = 0.0
    messages: int = 0


class PlacementEvent(_Read):
    time: float
    kind: str = Field(description="start, or what ended the instance")
    pop: str
    vnf: str
    units: int
    instance: str
    goal: str = ""


class Action(_Read):
    time: float
    agent: str
    action: str
    detail: str


class Instance(_Read):
    id: str
    vnf: str
    pop: str
    units: int


class TelemetryPoint(_Read):
    t: float
    legit: float | None = Field(description="legitimate traffic delivered to the server, MB/s")
    attack: float | None = Field(description="attack traffic delivered to the server, MB/s")
    offered_legit: float | None
    offered_attack: float | None
    monitored: float | None = Field(
        None, description="load on the link the Link Monitor watches (busier direction), MB/s"
    )
    links: dict[str, float | None] | None = Field(
        None, description='every link\'s load (busier direction), MB/s, keyed "a~b" by its ends'
    )


class WorkflowStep(_Read):
    number: str
    name: str
    seconds: float | None
    outcome: str
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}


class Attestation(_Read):
    kind: str = Field(description="initial (verified by SECaaS) or mutual")
    step: int
    time: float | None = Field(None, description="simulated run time of the record, s")
    measured: str
    verifier: str
    result: str = Field(description="pass or fail")
    root_of_trust: str
    tx: str
    block: int
    wall_ms: float | None
    reasons: list[str] = []
    differing: list[str] = []
    revoke_tx: str | None = None


class TrustAgent(_Read):
    account: str
    trusted: bool
    excluded: str | None = None
    key_epoch: int | None = None
    heartbeats: int = 0


class KeyEpoch(_Read):
    epoch: int
    recipients: int
    tx: str
    batches: int = 1


class Trust(_Read):
    pipeline: str
    ledger: str
    contracts: dict[str, str] = {}
    image: dict[str, Any] = {}
    agents: dict[str, TrustAgent] = {}
    plan: list[str] = []
    setup_tx: dict[str, str] = {}
    attestations: list[Attestation] = []
    key_epochs: list[KeyEpoch] = []
    silent_agents: list[str] = []
    channel: dict[str, Any] | None = None


class Acceptance(_Read):
    attack_reduction: float | None = Field(description="1 - delivered/offered attack, end")
    legit_ratio: float | None = Field(description="legitimate delivered, end / before attack")
    capacity_ok: bool
    not_measured: dict[str, str] = Field(
        default_factory=dict, description="figures the run could not measure, with why"
    )
    passed: bool


class GoalState(_Read):
    id: int
    goal: str
    status: str
    plan: str
    reason: str


class MindChange(_Read):
    time: float
    agent: str
    fresh: bool
    believed: list[str]
    forgotten: list[str]
    goals: list[GoalState]


class Report(_Read):
    """report.json, schema `secmas.run/1`."""

    schema_: Literal["secmas.run/1"] = Field(alias="schema")
    run_id: str
    scenario: str
    seed: int
    pops: int
    wall_seconds: float | None
    simulated_seconds: float
    bus_messages: int
    auctions: list[Auction]
    placements: list[PlacementEvent]
    actions: list[Action]
    final_instances: list[Instance]
    capacity: dict[str, Any]
    telemetry: list[TelemetryPoint]
    acceptance: Acceptance
    trust: Trust | None = None
    workflow: list[WorkflowStep] = []
    analytics: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    cti: dict[str, Any] | None = None
    mtd: dict[str, Any] | None = None
    engine: str = "simulator"
    minds: list[MindChange] = []


# -- what the API answers -------------------------------------------------------------------


class RunSummary(BaseModel):
    """One run folder, as `/api/runs` lists it."""

    id: str = Field(description="the folder's name: the id in /api/runs/{id}")
    readable: bool
    problem: str | None = Field(None, description="why the run cannot be shown, when it cannot")
    run_id: str | None = None
    scenario: str | None = None
    seed: int | None = None
    pops: int | None = None
    simulated_seconds: float | None = None
    wall_seconds: float | None = None
    auctions: int | None = None
    attestations: int | None = None
    alerts: int | None = None
    secure: bool | None = Field(None, description="the trust layer ran (attested, keyed)")
    passed: bool | None = Field(None, description="acceptance figures met")
    policy: bool = False
    analytics: bool = False
    audit: bool = False
    cti: bool = Field(False, description="CTI was shared and steered placement")
    mtd: bool = Field(False, description="the moving target defence moved CNFs")
    cnfs: list[str] = Field([], description="CNFs with metrics (metrics-<cnf>.csv)")
    engine: str | None = Field(None, description="simulator or emulated")
    modified: str = Field(description="when report.json was written (UTC, ISO 8601)")


class Node(BaseModel):
    """A node of the topology drawing; x and y in [0, 1]."""

    id: str
    kind: Literal["pop", "switch", "host", "clients", "attackers"]
    label: str
    x: float
    y: float
    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None
    ip: str | None = None
    region: str | None = None
    count: int | None = Field(None, description="clients or attackers behind the node")


class Edge(BaseModel):
    a: str
    b: str
    kind: Literal["link", "attach"] = "link"
    bandwidth: float | None = Field(None, description="B, MB/s")
    latency: float | None = Field(None, description="L, ms")
    loss: float | None = Field(None, description="P, %")
    monitored: bool = Field(False, description="the Link Monitor watches it")


class Topology(BaseModel):
    nodes: list[Node]
    edges: list[Edge]
    repository: str | None = Field(None, description="where the VNF repository is attached")


class ScenarioView(BaseModel):
    """What ran: the scenario's id, its topology and its traffic and attack windows."""

    id: str
    description: str = ""
    seed: int
    source: str = Field(description="where the topology came from: the run folder, embedded")
    duration: float | None = None
    step: float | None = None
    attack: dict[str, Any] | None = Field(None, description="kind, attackers, start, stop")
    incidents: list[dict[str, Any]] = []
    monitor: dict[str, Any] | None = None
    topology: Topology | None = Field(
        None, description="None when the scenario is not found or cannot be read"
    )
    problem: str | None = Field(
        None, description="why the run folder's scenario.yaml cannot be shown, when it cannot"
    )
    vnfs: list[str] = []


class AgentView(BaseModel):
    """One agent: its PoP, trust status and score, and its attestation history."""

    name: str
    pop: str
    status: str = Field(description="trusted, excluded: reason, silent, or unattested")
    trusted: bool | None = None
    trust_score: float | None = Field(None, description="Trust Manager score (closed loop, SSLA)")
    account: str | None = None
    key_epoch: int | None = None
    heartbeats: int | None = None
    attested: list[Attestation] = Field([], description="steps that measured this agent")
    verified: list[int] = Field([], description="steps this agent verified as root of trust")
    auctions_won: int = 0
    peak_use: float | None = Field(None, description="highest share of a PoP resource used")


class PlacementTimeline(BaseModel):
    """VNF instances over time: those there from the start, then every event."""

    initial: list[Instance]
    events: list[PlacementEvent]
    final: list[Instance]


class Ledger(BaseModel):
    """The trust layer's on-chain side: contracts, the plan, records, key epochs."""

    pipeline: str
    ledger: str
    contracts: dict[str, str]
    image: dict[str, Any]
    plan: list[str]
    setup_tx: dict[str, str]
    attestations: list[Attestation]
    key_epochs: list[KeyEpoch]
    audit_anchors: dict[str, Any] | None = None


class Alert(BaseModel):
    """Something the run raised, from any source, with its explanation."""

    time: float
    source: str = Field(
        description="agents (Link Monitor, detectors), closed loop, ssla, attestation, conflict"
    )
    severity: Literal["info", "warning", "critical"]
    title: str
    explanation: str
    actions: list[str] = Field([], description="what was done about it")


class AuditEntryView(BaseModel):
    seq: int
    time: float
    actor: str
    decision: str
    explanation: str
    hash: str


class AuditView(BaseModel):
    """The run's hash-chained audit log (audit.jsonl), checked against its anchors file."""

    entries: list[AuditEntryView]
    intact: bool
    reason: str | None = None
    anchors_confirmed: int = 0


class Series(BaseModel):
    """Named series over one time axis (simulated s)."""

    t: list[float]
    values: dict[str, list[float | None]]
    units: dict[str, str] = Field({}, description="each series' unit, where known")


class Metrics(BaseModel):
    traffic: Series = Field(description="MB/s delivered to and offered to the server")
    cnfs: dict[str, Series] = Field({}, description="per CNF: metrics-<cnf>.csv")


class Figure(BaseModel):
    """One key figure of a run (`secmas.ui.figures`)."""

    key: str
    label: str
    value: int | float | str | bool | None
    unit: str = ""
    better: Literal["higher", "lower"] | None = Field(
        None, description="which way is better, for figures where one is"
    )


class MindGoal(BaseModel):
    """A current goal of an agent: what it asks, its status and the plan pursuing it."""

    id: int = Field(description="its number in the agent's mind (two goals may read alike)")
    goal: str
    status: str
    plan: str = Field(description="the plan pursuing it; (delegated) while auctioned; empty: none")


class MindView(BaseModel):
    """One agent's beliefs, goals and intentions at one simulated time."""

    agent: str
    time: float
    beliefs: list[str] = Field(description="literals believed, sorted")
    goals: list[MindGoal] = Field(description="current goals, in the order adopted")
    intentions: list[MindGoal] = Field(description="the goals being pursued, with their plans")


class MindIndex(BaseModel):
    """Whose minds a run recorded, and over which simulated time."""

    agents: list[str]
    end: float = Field(description="the last simulated second a mind can be asked at")


class RunDetail(BaseModel):
    """Everything the page shows about one run."""

    summary: RunSummary
    scenario: ScenarioView
    workflow: list[WorkflowStep]
    agents: list[AgentView]
    auctions: list[Auction]
    placements: PlacementTimeline
    actions: list[Action]
    telemetry: list[TelemetryPoint]
    acceptance: Acceptance | None
    ledger: Ledger | None
    alerts: list[Alert]
    audit: AuditView | None
    policy: dict[str, Any] | None = Field(None, description="report.json's policy section")
    analytics: dict[str, Any] | None = Field(None, description="report.json's analytics section")
    ssla: SslaView | None = Field(None, description="SSLA terms over time")
    cti: CtiView | None = Field(None, description="CTI hygiene and sharing decisions")
    mtd: MtdView | None = Field(None, description="moving target defence moves")
    cnf_metrics: dict[str, Series] = Field({}, description="per CNF: metrics-<cnf>.csv")
    network: NetworkView = Field(description="steered paths and blocked flows over time")
    figures: list[Figure] = Field(description="key figures, the same for every run")
    minds: MindIndex = Field(description="whose beliefs, goals and intentions were recorded")


class LiveState(BaseModel):
    """The run in progress (`secmas demo --ui`), as far as it got; `seq` is the number of
    the last event it includes (the event stream goes on from there)."""

    status: Literal["idle", "running", "finished", "failed"]
    seq: int
    run_id: str | None = None
    folder: str | None = Field(None, description="id of the finished run under /api/runs")
    error: str | None = None
    now: float = 0.0
    duration: float = 0.0
    scenario: ScenarioView | None = None
    workflow: list[dict[str, Any]] = []
    auctions: list[Auction] = []
    placements: list[PlacementEvent] = []
    initial: list[Instance] = []
    actions: list[Action] = []
    telemetry: list[TelemetryPoint] = []
    attestations: list[Attestation] = []
    alerts: list[Alert] = []
    plan: list[str] = []
    network: NetworkView | None = None
    minds: dict[str, MindView] = Field({}, description="per agent, its mind now")
