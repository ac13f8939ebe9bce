"""Scenario settings of the adaptive defence (004_… Sections 2 and 4): the CTI shared
before the run, whose hygiene scores keep low-hygiene domains out of sensitive goals'
auctions, and the proactive moving target defence of vulnerable CNFs."""

from __future__ import annotations

from typing import Annotated

from cvss import CVSS2, CVSS3
from cvss.exceptions import CVSSError
from pydantic import AfterValidator, Field

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


class MovingTarget(Strict):
    """A vulnerable CNF that moves proactively."""

    cnf: Id
    service: Id | None = Field(default=None, description="CNFs of one service arrive together")
    load: MigrationLoad
    bandwidth: Positive | None = Field(
        default=None, description="MB/s of the migration path (default: widest link at its PoP)"
    )
    memory_gb: Positive = Field(default=4.0, description="RAM it holds (resource cost)")
    storage_gb: NonNegative = Field(default=20.0, description="storage it holds (resource cost)")
    vulnerabilities: tuple[Vulnerability, ...] = Field(min_length=1)


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
    targets: tuple[MovingTarget, ...] = Field(min_length=1)
