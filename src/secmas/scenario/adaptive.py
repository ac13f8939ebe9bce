"""Scenario settings of the adaptive defence (004_… Sections 2 and 4): the CTI shared
before the run, whose hygiene scores keep low-hygiene domains out of sensitive goals'
auctions, and the proactive moving target defence of vulnerable CNFs."""

from __future__ import annotations

from typing import Annotated, Literal

from cvss import CVSS2, CVSS3
from cvss.exceptions import CVSSError
from pydantic import AfterValidator, Field, model_validator

from secmas.scenario.base import Id, NonNegative, Positive, Strict


class CTISharing(Strict):
    """Scanner reports shared as STIX 2.1 at the start of the run (Section 4.1); the
    hygiene of each domain decides which PoPs may bid for sensitive goals."""

    reports: tuple[str, ...] = Field(
        min_length=1, description="scanner reports (.json or OpenVAS .csv), relative to the file"
    )
    sensitivity: str = Field(description="the publisher's sensitivity map, relative to the file")
    necessity: str = Field(description="the subscriber's necessity map, relative to the file")
    threshold: float = Field(
        default=0.5, ge=0, le=1, description="hygiene below which a domain's PoPs stay out"
    )
    sensitive_goals: tuple[Id, ...] = Field(
        min_length=1, description="goals only PoPs of hygienic domains may take"
    )
    allow_unknown: bool = Field(
        default=False, description="let PoPs of domains without shared CTI bid"
    )


def _cvss_vector(vector: str) -> str:
    """A CVSS v3.x or v2 base vector the `cvss` package parses."""
    try:
        if vector.startswith("CVSS:3"):
            CVSS3(vector)
        else:
            CVSS2(vector)
    except CVSSError as exc:
        raise ValueError(f"not a CVSS v3.x or v2 vector: {exc}") from None
    return vector


class Vulnerability(Strict):
    """A vulnerability found on a CNF: its id and CVSS base vector."""

    id: str = ""
    cvss: Annotated[str, AfterValidator(_cvss_vector)]


class MigrationLoad(Strict):
    """The CNF's load as the migration model sees it (004_… Section 2.1)."""

    cpu: float = Field(ge=0, le=1, description="busy share of its CPU quota")
    memory: NonNegative = Field(description="resident memory, MB")
    disk: NonNegative = Field(default=0.0, description="disk writes, MB/s")
    network: NonNegative = Field(default=0.0, description="service traffic, MB/s")


def _cpe(name: str) -> str:
    parts = name.split(":")
    if len(parts) < 6 or parts[:2] != ["cpe", "2.3"] or not all(parts[3:6]):
        raise ValueError(f"not a CPE 2.3 name (cpe:2.3:part:vendor:product:version…): {name!r}")
    return name


class MovingTarget(Strict):
    """A vulnerable CNF that moves proactively.

    Its vulnerabilities come from the run's CTI: the findings a subscriber received whose
    CPE matches the `software` the CNF runs (`secmas.mtd.exposure`). `vulnerabilities`
    typed here is the fallback for a scenario without a `cti` section; with both, the CTI
    wins. The cost of a move (004_… Section 2.2) takes the CNF's `cores` (scenario `cnfs`),
    `memory_gb` and `storage_gb`; the migration model takes `load` until the CNF's own
    load has been measured on the data plane.
    """

    cnf: Id
    service: Id | None = Field(default=None, description="CNFs of one service arrive together")
    load: MigrationLoad = Field(description="load assumed by the first plan (before measuring)")
    bandwidth: Positive | None = Field(
        default=None,
        description="MB/s the plan assumes for the migration path (default: the widest path "
        "from the CNF's PoP to a PoP that may host it); moves are charged on the path to "
        "the destination the auction chose",
    )
    memory_gb: Positive = Field(default=4.0, description="RAM it holds (resource cost)")
    storage_gb: NonNegative = Field(default=20.0, description="storage it holds (resource cost)")
    software: tuple[Annotated[str, AfterValidator(_cpe)], ...] = Field(
        default=(), description="CPE 2.3 names of what the CNF runs: its CVEs come from the CTI"
    )
    vulnerabilities: tuple[Vulnerability, ...] = Field(
        default=(), description="fallback without a cti section: the CNF's CVEs typed in"
    )

    @model_validator(mode="after")
    def _threat(self) -> MovingTarget:
        if not self.software and not self.vulnerabilities:
            raise ValueError(
                "give the CNF's software (CPE names, matched in the CTI) or its vulnerabilities"
            )
        return self


class MTDWeights(Strict):
    """Scalarisation weights of the multi-objective MDP."""

    security: NonNegative = 0.6
    cost: NonNegative = 0.2
    qos: NonNegative = 0.2


class MovingTargetDefence(Strict):
    """Proactive moving target defence (Section 2.2): the MDP's migrations, each within the
    availability SLA's downtime quota, carried out through auctions."""

    availability: float = Field(
        default=0.99, gt=0, lt=1, description="availability SLA of each CNF over the window"
    )
    window: Positive | None = Field(
        default=None, description="SLA window, simulated seconds (default: the run)"
    )
    start: NonNegative = Field(
        default=60.0, description="when the first migration may start, simulated seconds"
    )
    lead: NonNegative = Field(
        default=60.0,
        description="seconds before a migration starts that its goal is auctioned (the "
        "auction and the destination's instance must be ready by then)",
    )
    step: Positive = Field(default=20.0, description="decision step of the MDP, seconds")
    attack_rate: Positive = Field(
        default=60.0, description="exploits per hour of a fully exploitable vulnerability"
    )
    weights: MTDWeights = MTDWeights()
    timing: Literal["plan", "low-load"] = Field(
        default="plan",
        description="plan: start each move when the plan says; low-load: within the plan's "
        "step, when the CNF's forecast traffic is lowest (004_… Section 4.2)",
    )
    forecaster: str | None = Field(
        default=None,
        description="for timing low-load: a forecaster model file (secmas.analytics."
        "forecast, trained on CNF metrics; its first target is the traffic), relative to "
        "the file",
    )
    targets: tuple[MovingTarget, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _forecast(self) -> MovingTargetDefence:
        if self.timing == "low-load" and self.forecaster is None:
            raise ValueError("timing low-load needs a forecaster model file (mtd.forecaster)")
        return self
