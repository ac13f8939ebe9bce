"""The adaptive defence of a run as the page shows it: CTI hygiene and sharing decisions
(report.json's `cti` section and cti-decisions.csv) and the moving target defence's moves,
predicted against measured (the `mtd` section; its per-move schema is that of
`secmas.mtd.execution.Move`, measured fields null on the simulator).

Pure functions of report.json-shaped data: a section that does not fit is shown with the
reason, never as another run's data or a server error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# -- report.json's sections -----------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class _CtiSection(_Section):
    reports: list[str] = []
    hygiene: dict[str, float | None]
    threshold: float
    sensitive_goals: list[str] = []
    domains: dict[str, str] = Field(description="PoP → administrative domain")
    excluded: dict[str, str] = {}
    refusals: list[dict[str, Any]] = []
    findings: int = 0
    decisions: list[dict[str, Any]] = []
    bundle: str | None = None
    taxii: dict[str, Any] | None = None


# -- what the API answers -------------------------------------------------------------------


class DomainHygiene(BaseModel):
    """One administrative domain: its hygiene from the shared CTI and what its PoPs may do."""

    domain: str
    hygiene: float | None = Field(description="0 (poor) to 1 (good), from the STIX bundle")
    pops: list[str]
    sensitive_goals: bool = Field(description="its PoPs may bid for sensitive goals")
    reason: str | None = Field(None, description="why they may not")


class FieldDecisions(BaseModel):
    """How often one field of the scanner reports was included, anonymised or left out."""

    field: str
    counts: dict[str, int] = Field(description="decision → findings")


class SharingDecision(BaseModel):
    """One row of cti-decisions.csv, without the original value (it stays with its
    publisher: the page may be served beyond the machine)."""

    domain: str
    entity: str
    field: str
    shared: str = Field(description="what was published")
    decision: str
    method: str
    sensitivity: float | None = None
    necessity: float | None = None
    risk: float | None = None


class CtiRefusal(BaseModel):
    pop: str
    goal: str
    count: int


class CtiView(BaseModel):
    """CTI hygiene per domain, the PoPs barred from sensitive goals, the sharing decisions."""

    problem: str | None = Field(None, description="why the section cannot be shown")
    threshold: float | None = None
    sensitive_goals: list[str] = []
    findings: int = 0
    reports: list[str] = []
    domains: list[DomainHygiene] = []
    excluded: dict[str, str] = Field({}, description="PoP → why it refuses sensitive goals")
    refusals: list[CtiRefusal] = Field([], description="calls for proposals it refused")
    fields: list[FieldDecisions] = []
    decisions: list[SharingDecision] = []
    taxii: dict[str, Any] | None = None


class MoveView(BaseModel):
    """One planned move (report.json `mtd.moves[]`): the model's prediction beside what the
    run measured (null on the simulator, or when the move did not happen)."""

    k: int
    cnf: str
    method: str
    migration: str | None = Field(None, description="how it was carried out (emulated)")
    source: str = ""
    destination: str = ""
    planned_at: float | None = None
    posted_at: float | None = None
    arrived_at: float | None = None
    outcome: str
    reason: str = ""
    predicted_downtime_s: float | None = None
    measured_downtime_s: float | None = None
    predicted_total_s: float | None = None
    measured_total_s: float | None = None
    within_quota: bool | None = None


class MtdUnitView(BaseModel):
    """A service whose CNFs move together, with its downtime budget."""

    name: str
    members: list[str] = []
    budget_s: float | None = None
    quotas: dict[str, int] = Field({}, description="moves each method's downtime allows")
    downtime_spent_s: dict[str, float | None] = {}
    arrival_spread_s: dict[str, float | None] = {}


class MtdView(BaseModel):
    """The moving target defence: its settings, service units with budgets, the moves."""

    problem: str | None = Field(None, description="why the section cannot be shown")
    engine: str | None = None
    quota_judged_on: str | None = Field(None, description="downtime judged predicted or measured")
    measured: bool = Field(False, description="whether any move carries a measurement")
    availability: float | None = None
    attack_rate_per_hour: float | None = None
    weights: dict[str, float] = {}
    step_s: float | None = None
    within_quota: bool | None = None
    probe: dict[str, Any] | None = None
    units: list[MtdUnitView] = []
    moves: list[MoveView] = []


def _problem(section: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top)"
    return f"report.json: {section}.{where}: {first['msg']}"


def cti_view(section: Mapping[str, Any], rows: Iterable[Mapping[str, str]] = ()) -> CtiView:
    """The `cti` section and the decision table's rows (cti-decisions.csv)."""
    try:
        cti = _CtiSection.model_validate(section)
    except ValidationError as exc:
        return CtiView(problem=_problem("cti", exc))
    pops_of: dict[str, list[str]] = {}
    for pop, domain in cti.domains.items():
        pops_of.setdefault(domain, []).append(pop)
    domains = []
    for domain in sorted(set(cti.hygiene) | set(pops_of)):
        pops = sorted(pops_of.get(domain, []))
        reasons = sorted({cti.excluded[p] for p in pops if p in cti.excluded})
        domains.append(
            DomainHygiene(
                domain=domain,
                hygiene=cti.hygiene.get(domain),
                pops=pops,
                sensitive_goals=not reasons,
                reason="; ".join(reasons) or None,
            )
        )
    counts: dict[str, dict[str, int]] = {}
    for entry in cti.decisions:
        if isinstance(entry.get("field"), str) and isinstance(entry.get("count"), int):
            field = counts.setdefault(entry["field"], {})
            field[str(entry.get("decision"))] = entry["count"]
    refusals = [
        CtiRefusal(pop=str(r.get("pop")), goal=str(r.get("goal")), count=int(r.get("count") or 0))
        for r in cti.refusals
    ]
    return CtiView(
        threshold=cti.threshold,
        sensitive_goals=cti.sensitive_goals,
        findings=cti.findings,
        reports=cti.reports,
        domains=domains,
        excluded=cti.excluded,
        refusals=refusals,
        fields=[FieldDecisions(field=f, counts=c) for f, c in sorted(counts.items())],
        decisions=[d for d in (_decision(row) for row in rows) if d is not None],
        taxii=cti.taxii,
    )


def _decision(row: Mapping[str, str]) -> SharingDecision | None:
    if not row.get("field") or not row.get("decision"):
        return None
    return SharingDecision(
        domain=row.get("domain") or "",
        entity=row.get("entity") or "",
        field=row["field"],
        shared=row.get("shared") or "",
        decision=row["decision"],
        method=row.get("method") or "",
        sensitivity=_number(row.get("sensitivity")),
        necessity=_number(row.get("necessity")),
        risk=_number(row.get("risk")),
    )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def mtd_view(section: Mapping[str, Any]) -> MtdView:
    """The `mtd` section: units with budgets and every move, predicted against measured."""
    try:
        view = MtdView.model_validate(section)
    except ValidationError as exc:
        return MtdView(problem=_problem("mtd", exc))
    view.problem = None
    view.measured = any(
        m.measured_downtime_s is not None or m.measured_total_s is not None for m in view.moves
    )
    return view
