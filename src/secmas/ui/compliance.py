"""SSLA guarantee terms over the run, as the page draws them: per term its record
(periods assessed, breached, not measured), the breach episodes in time with what was
measured and what was enforced, and whether the term lost a conflict.

The SSLA manager reports every breached period (report.json `policy.breaches`) and the
periods not measured (`not_measured_intervals`, consecutive ones merged), so a period
outside both was met. A report written before the intervals were recorded has only their
count: which periods they were is then unknown (`not_measured_intervals` null). A term
with nothing measured is "not measured", never "compliant".
Pure functions of report.json's `policy` section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EPSILON = 1e-9
"""Two breached periods whose end and start meet (to this) form one episode."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


RECORD = {
    "ssla",
    "term",
    "kpi",
    "slice",
    "period",
    "periods",
    "breached",
    "not_measured",
    "not_measured_intervals",
}
"""What a term's timeline takes over from its compliance record as it is."""


class UnmeasuredSpan(BaseModel):
    """Consecutive periods of one term that were not measured."""

    start: float
    end: float
    periods: int


class _Compliance(_Section):
    ssla: str
    term: str
    kpi: str = ""
    intent: str = ""
    slice: str = ""
    period: float | None = None
    periods: int = 0
    breached: int = 0
    not_measured: int = 0
    not_measured_intervals: list[UnmeasuredSpan] | None = None
    compliance: float | None = None


class _Breach(_Section):
    ssla: str
    term: str
    value: float | None = None
    start: float
    end: float
    offending: int = 0
    explanation: str = ""


class _Enforcement(_Section):
    time: float
    ssla: str
    term: str
    action: str
    target: str = ""
    outcome: str = ""


class _Policy(_Section):
    compliance: list[_Compliance] = []
    breaches: list[_Breach] = []
    enforcements: list[_Enforcement] = []
    suspended: list[list[str]] = []


class BreachEpisode(BaseModel):
    """Consecutive breached periods of one term."""

    start: float
    end: float
    periods: int
    peak: float | None = Field(description="the highest KPI value measured in it")
    offending: int = Field(description="offending records (flows, messages) in it")
    explanation: str = Field(description="the first period's explanation")


class EnforcementMark(BaseModel):
    time: float
    action: str
    target: str
    outcome: str


class TermTimeline(BaseModel):
    """One guarantee term over the run."""

    ssla: str
    term: str
    kpi: str
    slice: str
    period: float | None
    periods: int
    breached: int
    not_measured: int
    not_measured_intervals: list[UnmeasuredSpan] | None = Field(
        None, description="the periods not measured, merged; null: the report does not say which"
    )
    compliance: float | None = Field(description="share of measured periods met; null: none")
    state: Literal["compliant", "breached", "not measured"]
    suspended: bool = Field(description="not enforced: it lost a conflict")
    episodes: list[BreachEpisode]
    enforcements: list[EnforcementMark]


class SslaView(BaseModel):
    """Every SSLA term of the run over its time axis."""

    problem: str | None = Field(None, description="why the section cannot be shown")
    duration: float
    terms: list[TermTimeline] = []


def ssla_view(policy: Mapping[str, Any], duration: float) -> SslaView:
    """The terms of report.json's `policy` section over a run of `duration` seconds."""
    try:
        section = _Policy.model_validate(policy)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        return SslaView(problem=f"report.json: policy.{where}: {first['msg']}", duration=duration)
    suspended = {tuple(pair) for pair in section.suspended if len(pair) == 2}
    terms = []
    for record in section.compliance:
        key = (record.ssla, record.term)
        breaches = sorted(
            (b for b in section.breaches if (b.ssla, b.term) == key), key=lambda b: b.start
        )
        measured = record.periods - record.not_measured
        state: Literal["compliant", "breached", "not measured"]
        if measured <= 0 or record.compliance is None:
            state = "not measured"
        else:
            state = "breached" if record.breached or breaches else "compliant"
        terms.append(
            TermTimeline(
                **record.model_dump(include=RECORD),
                compliance=record.compliance if measured > 0 else None,
                state=state,
                suspended=key in suspended,
                episodes=episodes(breaches),
                enforcements=[
                    EnforcementMark(
                        time=e.time, action=e.action, target=e.target, outcome=e.outcome
                    )
                    for e in section.enforcements
                    if (e.ssla, e.term) == key
                ],
            )
        )
    return SslaView(duration=duration, terms=terms)


def episodes(breaches: list[_Breach]) -> list[BreachEpisode]:
    """Breached periods (in time order) merged where one ends as the next starts."""
    out: list[BreachEpisode] = []
    for breach in breaches:
        last = out[-1] if out else None
        if last is not None and breach.start <= last.end + EPSILON:
            values = [v for v in (last.peak, breach.value) if v is not None]
            out[-1] = last.model_copy(
                update={
                    "end": max(last.end, breach.end),
                    "periods": last.periods + 1,
                    "peak": max(values) if values else None,
                    "offending": last.offending + breach.offending,
                }
            )
            continue
        out.append(
            BreachEpisode(
                start=breach.start,
                end=breach.end,
                periods=1,
                peak=breach.value,
                offending=breach.offending,
                explanation=breach.explanation,
            )
        )
    return out
