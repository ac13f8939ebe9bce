"""report.json (schema `secmas.run/1`) as a pydantic model: the contract of what
`secmas.report.record.build_report` writes, from which its JSON Schema is generated
(`secmas.schemas`).

Every key the run writes is required, and no other is allowed, down to the sections
whose shape is fixed (auctions, placements, telemetry, acceptance, workflow steps, the
trust layer's records). The sections each feature fills in its own way (`analytics`,
`policy`, `cti`, `mtd`, `emulation`; a step's `inputs` and `outputs`) are objects, or
null when the feature was off. The file is strict JSON (`secmas.strictjson`): any number
that was infinite or NaN is written as null and listed under `non_finite`, so every
non-integer number here may be null.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from secmas.agents.bdi import GoalStatus
from secmas.scenario.model import Measure, Operator

Number = Annotated[float | None, Field(description="null: not finite (see non_finite)")]
"""A JSON number, or null where it was infinite or NaN (strict JSON)."""
Object = dict[str, Any]


class _Record(BaseModel):
    """A part of report.json: every field is written, none other."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Preferences(_Record):
    T: Number
    C: Number
    D: Number


class Constraint(_Record):
    measure: Measure
    op: Operator
    value: Number


class Bid(_Record):
    agent: str
    vnf: str
    units: int
    T: Number = Field(description="download time of the VNF image, s")
    C: Number = Field(description="cost: resource evaluation of the bid (Eq. 4.4)")
    D: Number = Field(description="decentralisation: distance to the initiator")
    utility: Number = Field(description="Eq. 3.1 score: the lowest wins")
    path: list[str]
    reuses_instance: str | None


class Refusal(_Record):
    agent: str
    reason: str


class Auction(_Record):
    goal: str
    goal_name: str
    args: list[str]
    initiator: str
    preferences: Preferences
    constraints: list[Constraint]
    traffic_mbps: Number
    bids: list[Bid]
    refusals: list[Refusal]
    winner: str | None
    winner_vnf: str | None
    status: Literal["done", "no-bids", "failed", "winner-lost"]
    attempt: int
    sim_start_s: Number
    sim_end_s: Number
    wall_ms: Number
    messages: int


class Placement(_Record):
    time: Number
    kind: Literal["start", "terminate"]
    pop: str
    vnf: str
    units: int
    instance: str
    goal: str = Field(description="the goal it was started for; for a termination, its cause")


class Action(_Record):
    time: Number
    agent: str
    action: str
    detail: str
    wall: Number = Field(
        description="Unix time the acting agent journalled it (real time, not deterministic)"
    )


class Execution(_Record):
    goal: str
    count: int = Field(description="times a winner's plan acted for the goal")
    initiators: list[str]
    winners: list[str]
    times: list[Number]


class Instance(_Record):
    id: str
    vnf: str
    pop: str
    units: int


class Capacity(_Record):
    steps_checked: int
    violations: list[str] = Field(description="must be empty")
    peak_use: dict[str, Number] = Field(description="per PoP, highest share of any resource")


class TelemetryPoint(_Record):
    t: Number
    legit: Number = Field(description="legitimate traffic delivered to the server, MB/s")
    attack: Number = Field(description="attack traffic delivered to the server, MB/s")
    offered_legit: Number
    offered_attack: Number
    monitored: Number = Field(description="load on the link the Link Monitor watches, MB/s")
    latency: Number = Field(description="legitimate traffic's one-way latency, ms")
    links: dict[str, Number] | None = Field(
        description="every link's load, MB/s (the busier direction), keyed a~b by its ends"
    )


class Acceptance(_Record):
    attack_reduction: Number
    legit_ratio: Number
    capacity_ok: bool
    end_window_s: Number
    pre_attack_legit: Number
    end_legit: Number
    end_attack: Number
    end_offered_attack: Number
    telemetry_until: Number = Field(
        description="where the run's samples end (the last one's start plus a step), s; "
        "null without telemetry"
    )
    not_measured: dict[str, str] = Field(
        description="each figure the run had to meet but could not measure, with why: "
        "such a run has not passed"
    )
    reasons: list[str]
    passed: bool
    required: Number


class WorkflowStep(_Record):
    number: str = Field(description="0, 1, 2, 3-4, 5, 6-7, 8, 9-12 or 13-14")
    name: str
    seconds: Number
    outcome: str = Field(description="ok, or failed: reason")
    inputs: Object
    outputs: Object


class TrustAgent(_Record):
    account: str
    trusted: bool
    excluded: str | None = Field(description="why the agent is excluded")
    heartbeats: int
    key_epoch: int | None = Field(default=None, description="agents in the run's process")
    killed_at: Number = Field(default=None, description="agents as OS processes (--processes)")


class Attestation(_Record):
    kind: Literal["initial", "mutual", "guest", "random", "cross-check", "audit"] = Field(
        description="by SECaaS at bring-up, in a periodic mutual step, in a group's guest "
        "step (its root of trust measuring a member of another group), by SECaaS "
        "unannounced, by SECaaS refuting a mutual step's FAIL, or by SECaaS auditing a "
        "group one of whose members was failed from outside it"
    )
    check: int = Field(description="1, 2, …: each attestation's number, in the order settled")
    step: int = Field(
        description="the chain's step: 0 for SECaaS's checks (initial, unannounced, "
        "cross-check, audit)"
    )
    group: int = Field(
        description="the attestation group whose chain recorded it (the measured agent's "
        "for SECaaS's checks); 0 with one group"
    )
    time: Number = Field(description="simulated second the verdict was settled")
    measured: str
    verifier: str
    result: Literal["pass", "fail", "unmeasured"]
    root_of_trust: str
    tx: str
    block: int
    wall_ms: Number
    reasons: list[str]
    differing: list[str] = Field(description="modules that changed")
    revoke_tx: str | None


class AgentWindows(_Record):
    """When one agent was measured, and the gaps in between (`secmas.trust.windows`)."""

    times: list[float] = Field(description="simulated seconds of each measurement")
    longest_gap_s: Number = Field(description="longest time between two measurements")
    mean_gap_s: Number = Field(description="mean time between two measurements")
    since_last_s: Number = Field(description="unmeasured when the run ended")


class MeasurementWindows(_Record):
    """How long agents went unmeasured: periodic steps plus unannounced measurements."""

    period_s: Number = Field(description="seconds between two periodic steps of a group")
    interval_s: Number = Field(
        description="the longest gap the attestation groups were sized for; null: one chain"
    )
    longest_gap_s: Number = Field(
        description="the longest gap between two measurements of any agent; null: none yet"
    )
    random_mean_interval_s: Number = Field(
        description="mean seconds between two unannounced measurements; null: none"
    )
    random: int = Field(description="unannounced measurements that ran")
    agents: dict[str, AgentWindows]


class KeyEpoch(_Record):
    epoch: int
    recipients: int
    tx: str | None
    """The last of its pushes; null when nobody was trusted to push to (none made)."""
    batches: int = 1
    """Transactions the push took (each fits the block gas limit)."""


class RoundTrips(_Record):
    """Wall time from a challenge to its evidence, over the run process's verifiers."""

    count: int
    p50_ms: Number
    p99_ms: Number
    max_ms: Number


class LoopEpisode(_Record):
    """One detection and the rule enforced for it, in real time (`secmas.report.looplatency`)."""

    detection: str = Field(description="overUsage, detectIntrusion or classifyFlows")
    detector: str
    time: Number = Field(description="simulated second of the detection")
    event_wall: Number = Field(
        description="Unix time the data-plane step was taken (overUsage, made on a step); "
        "the detection's own for the others, which end an analysis on a timer"
    )
    detected_wall: Number
    rule: str = Field(description="the rule that answers it: limitLink, limitIP or blockFlow")
    enforcer: str | None = Field(description="who installed the rule; null: none did")
    enforced_time: Number
    enforced_wall: Number
    attested: list[str] = Field(
        description="deciding agents (detector, enforcer) measured or verifying in an "
        "attestation settled from the event's step until the step after the rule's"
    )
    detect_ms: Number = Field(description="from the step to the detection")
    enforce_ms: Number = Field(description="from the detection to the rule")
    total_ms: Number = Field(description="from the step to the rule")


class LoopLatency(RoundTrips):
    """From a data-plane event to its enforced rule: each episode, and the summary over
    those enforced (wall milliseconds, nearest rank)."""

    episodes: list[LoopEpisode]
    unenforced: int = Field(description="detections no rule followed")


class GasSpent(_Record):
    """Transactions, gas and fees (wei) read from the receipts (gasUsed × effectiveGasPrice)."""

    transactions: int
    gas: int
    fee_wei: int


class Gas(_Record):
    """What the run's ledger transactions cost (`secmas.ledger.gas`)."""

    total: GasSpent
    by_function: dict[str, GasSpent] = Field(description="per Contract.function, or transfer")
    steps: int = Field(description="mutual attestation steps the run made (guest steps too)")
    period_s: Number = Field(
        description="seconds between two steps of the pipeline: the scenario's attestation "
        "period over the number of attestation groups"
    )
    per_step: GasSpent | None = Field(description="a mean step; null before the first")
    per_day: GasSpent | None = Field(description="a day of steps at the period")


class Funding(_Record):
    """The agents' gas money (`secmas.ledger.funding`): sized from the
    measured step gas, swept back to the MLFO when the run ends."""

    steps: int = Field(description="attestation steps the run could make")
    max_fee_wei: int = Field(description="the fee cap the funding was sized at")
    step_gas: int = Field(description="the measured gas of one step")
    margin: int
    per_agent_wei: int
    funded_wei: int = Field(description="sent to the agents at registration")
    swept_wei: int = Field(description="sent back to the MLFO at the end")
    left_wei: int = Field(description="left on the agents' accounts: below a transfer's fee")


class TrustedPlugin(_Record):
    name: str = Field(description="the plug-in distribution")
    version: str
    root: str = Field(description="the root of its files' digests its agents measured against")
    files: int
    reference: Literal["signed", "working tree"] = Field(
        description="signed by SECaaS (`secmas wrap NAME --plugin`), or its working tree"
        " trusted as found (SECMAS_TRUST_WORKING_TREE)"
    )


class TrustedPlugins(_Record):
    working_tree: bool = Field(
        default=False,
        description="SECMAS_TRUST_WORKING_TREE was set: plug-ins were trusted as found",
    )
    distributions: list[TrustedPlugin] = Field(default_factory=list)


class Trust(_Record):
    """The trust layer, with the same keys whatever the agents' placement
    (`secmas.pipeline.trustreport`)."""

    pipeline: str
    ledger: str | None
    contracts: dict[str, str]
    image: Object = Field(default_factory=dict, description="the measured secmas image")
    plugins: TrustedPlugins = Field(
        default_factory=TrustedPlugins,
        description="the plug-in distributions the agents ran, and how each was trusted",
    )
    agents: dict[str, TrustAgent]
    plan: list[str]
    groups: list[list[str]] = Field(
        description="the attestation groups, each its own chain in its plan's order "
        "(`security.attestation.interval`); one group: the seed's single chain"
    )
    setup_tx: dict[str, str]
    attestations: list[Attestation]
    key_epochs: list[KeyEpoch]
    rotations: list[Object]
    external_measurement: Object | None
    silent_agents: list[str]
    channel: Object | None = Field(description="null without encryption (--plaintext)")
    timings_s: dict[str, Number] = Field(
        default_factory=dict, description="wall seconds of each bring-up step"
    )
    challenge_round_trips: RoundTrips | SkipJsonSchema[None] = None
    measurement: MeasurementWindows
    gas: Gas | SkipJsonSchema[None] = None
    funding: Funding | SkipJsonSchema[None] = None


class PeerReputation(_Record):
    kept: int = Field(description="promises kept: awards whose plan acted")
    broken: int = Field(description="promises broken: failed, lapsed, overran, gone, implausible")
    reputation: Number = Field(description="beta reputation (kept + 1) / (kept + broken + 2)")


class PromiseJudged(_Record):
    time: Number = Field(description="simulated second it was judged")
    observer: str = Field(description="the initiator that judged it")
    peer: str
    conduct: Literal["kept", "failed", "lapsed", "overran", "gone", "implausible"]
    goal: str


class ReputationLedger(_Record):
    contract: str = Field(description="the Reputation contract's address")
    reports: dict[str, str] = Field(description="per observer, its report's transaction")
    skipped: dict[str, str] = Field(description="observers whose tallies were not recorded, why")


class Reputation(_Record):
    """Promises the initiators judged and the peers' reputation."""

    weight: Number = Field(description="the scenario's auction.reputation_weight in Eq. 3.1")
    peers: dict[str, PeerReputation]
    promises: list[PromiseJudged]
    ledger: ReputationLedger | None = Field(description="null without the trust layer")


class RefusedMessage(_Record):
    """An NFV-A message an agent refused."""

    time: Number = Field(description="simulated second it was refused")
    agent: str = Field(description="the agent that refused it (its receiver)")
    performative: str
    named: str = Field(description="the sender the message names")
    authenticated: str = Field(description="the agent that sealed it")
    conversation: str
    reason: str


class GoalState(_Record):
    """A goal as a change of its agent's mind left it."""

    id: int = Field(description="the goal's number in its agent's mind (two may read alike)")
    goal: str
    status: GoalStatus
    plan: str = Field(description="the plan pursuing it; (delegated) while auctioned; empty: none")
    reason: str = Field(description="why it ended, for a final status")


class MindChange(_Record):
    """What changed in one agent's beliefs, goals and intentions at one time."""

    time: Number = Field(description="simulated second")
    agent: str
    fresh: bool = Field(description="the agent (re)starts: its earlier mind is gone")
    believed: list[str] = Field(description="literals believed from now on")
    forgotten: list[str] = Field(description="literals no longer believed")
    goals: list[GoalState] = Field(
        description="goals adopted or changed; a final status ends the goal"
    )


class Report(_Record):
    """report.json, schema `secmas.run/1`: the machine-readable record of a run."""

    schema_: Literal["secmas.run/1"] = Field(alias="schema")
    run_id: str
    scenario: str = Field(description="the scenario's id")
    engine: Literal["simulator", "emulated"]
    seed: int = Field(ge=0)
    pops: int = Field(ge=1)
    wall_seconds: Number
    simulated_seconds: Number
    bus_messages: int
    auctions: list[Auction]
    placements: list[Placement]
    actions: list[Action]
    loop: LoopLatency
    executions: list[Execution]
    final_instances: list[Instance]
    capacity: Capacity
    telemetry: list[TelemetryPoint]
    acceptance: Acceptance
    trust: Trust | None = Field(description="null with --insecure")
    workflow: list[WorkflowStep]
    analytics: Object | None = Field(description="the closed loop; null without it")
    policy: Object | None = Field(description="the SSLA manager; null without intents")
    cti: Object | None = Field(description="CTI sharing; null without a cti section")
    mtd: Object | None = Field(description="moving target defence; null without an mtd section")
    emulation: Object | None = Field(description="the emulated network; null on the simulator")
    reputation: Reputation
    refused_messages: list[RefusedMessage] = Field(
        description="NFV-A messages refused: a spoofed sender, or one out of its role"
    )
    minds: list[MindChange] = Field(
        description="each agent's mind as it changed; replay up to a time for its state then"
    )
    non_finite: dict[str, Literal["Infinity", "-Infinity", "NaN"]] = Field(
        default_factory=dict,
        description="JSON Pointer of each number written as null, and what it was; "
        "only when there is one",
    )
