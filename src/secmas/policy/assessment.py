"""The SSLA assessment function (`004_…` Section 3, `002_…` Section II.B): each guarantee
term is evaluated on its measurement source once per period, and a breach is detected at the
end of the period it happened in.

A `TermMonitor` buffers the records (or the metric values) its source produced during the
current period; at the period's end it evaluates the KPI formula on them, compares the KPI
value with the breach condition and returns an `Assessment`: met, breached or not measured,
with the evidence (the offending records, or the metric's values) and a sentence that
explains it. Pure computation: the manager feeds it.

"Not measured" is never "met": a period is not measured when the run has no source of the
term's kind, when its source produced nothing in the period (no message on the agents' bus
means no message was checked for encryption; no packet, no packet checked for its source),
or when the KPI has no value (an average of no numbers is NaN, which compares false with
every target and so would read as "no breach"). Compliance is the share of the *measured*
periods that were met, and None when no period was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from secmas.policy.kpi import parse
from secmas.policy.ssla import SSLA, GuaranteeTerm, NamedSet, SourceKind
from secmas.policy.streams import METRIC_KINDS, STREAM_KINDS, WEIGHTS, Record, split_source

Status = Literal["met", "breached", "not measured"]
MAX_EVIDENCE = 20
"""Offending records kept as evidence of one breach (the count covers them all)."""


@dataclass(frozen=True)
class Assessment:
    """One period of one guarantee term."""

    ssla: str
    intent: str
    slice: str
    term: str
    kpi: str
    unit: str
    start: float
    end: float
    value: float | None
    status: Status
    breach: str
    objective: str
    formula: str
    offending: tuple[Record, ...] = ()
    """Every record that satisfied the formula's WHERE in a breached period (streams)."""
    metric_values: tuple[float, ...] = ()
    """The metric's values over the period (metric terms)."""
    unmeasured: str = ""
    """Why a period is not measured, for people."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.ssla, self.term)

    def explain(self) -> str:
        """Which intent, which term, which KPI value against which target, which rule, and
        the evidence."""
        where = f"SSLA {self.ssla} (intent {self.intent}, slice {self.slice}), term {self.term}"
        period = f"[{self.start:g}, {self.end:g}) s"
        if self.status == "not measured":
            return f"{where}: not measured in {period}: {self.unmeasured}"
        value = f"{self.kpi} = {_number(self.value)} {self.unit} in {period}"
        if self.status == "met":
            return f"{where}: met: {value}; breach condition '{self.breach}' does not hold"
        text = (
            f"{where}: BREACHED: {value}; breach condition '{self.breach}' holds, so the "
            f"objective '{self.objective}' is not met (rule: {self.formula})"
        )
        if self.offending:
            examples = "; ".join(_record(r) for r in self.offending[:3])
            more = len(self.offending) - 3
            text += f"; evidence: {len(self.offending)} offending records, e.g. {examples}"
            text += f" and {more} more" if more > 0 else ""
        elif self.metric_values:
            shown = ", ".join(_number(v) for v in self.metric_values[-5:])
            text += f"; evidence: the metric's last values {shown}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "ssla": self.ssla,
            "term": self.term,
            "kpi": self.kpi,
            "value": None if self.value is None or math.isnan(self.value) else round(self.value, 4),
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "offending": len(self.offending),
            "evidence": [dict(r) for r in self.offending[:MAX_EVIDENCE]],
            "explanation": self.explain(),
        }


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.4g}" if not float(value).is_integer() else str(int(value))


def _record(record: Record) -> str:
    if "source_ip" in record:
        text = f"{record['source_ip']}→{record.get('destination_ip', '?')}"
        if "port" in record:
            text += f":{record['port']}"
        if "packets" in record:
            text += f" {float(record['packets']):.1f} packets"
        if record.get("ingress") not in (None, "unknown"):
            text += f" entering at {record['ingress']}"
        return text
    return ", ".join(f"{k}={v}" for k, v in record.items())


@dataclass
class TermMonitor:
    """One guarantee term under assessment, with its named sets as enforced."""

    ssla: SSLA
    term: GuaranteeTerm
    sets: tuple[NamedSet, ...]
    started: float = 0.0
    records: list[Record] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    periods: int = 0
    breaches: int = 0
    unmeasured: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    """The periods not measured, consecutive ones merged: {start, end, periods}."""

    def __post_init__(self) -> None:
        self.formula = parse(self.term.indicator.formula)
        self.condition = parse(self.term.breach)
        self.slice_id, self.kind = split_source(self.term.indicator.source.name)
        self.members = {named.name: named.members() for named in self.sets}

    @property
    def key(self) -> tuple[str, str]:
        return (self.ssla.id, self.term.name)

    @property
    def measured(self) -> bool:
        """Whether this run has a source of the term's kind."""
        source = self.term.indicator.source
        kinds = METRIC_KINDS if source.kind is SourceKind.METRIC else STREAM_KINDS
        return self.kind in kinds

    def feed(
        self, streams: Mapping[str, Sequence[Record]], metrics: Mapping[str, float | None]
    ) -> None:
        """Take one step of the sources (records by kind, metric values by kind)."""
        if self.term.indicator.source.kind is SourceKind.METRIC:
            value = metrics.get(self.kind)
            if value is not None:
                self.values.append(value)
        else:
            self.records.extend(streams.get(self.kind, ()))

    def due(self, now: float) -> bool:
        """Whether the current period has ended at `now`."""
        return now - self.started >= self.term.indicator.period - 1e-9

    def assess(self, now: float) -> Assessment:
        """Evaluate the period that ends at `now` and start the next one."""
        indicator = self.term.indicator
        value: float | None = None
        offending: tuple[Record, ...] = ()
        status: Status = "not measured"
        unmeasured = self._unmeasured()
        if not unmeasured:
            value = self._kpi()
            if math.isnan(value):
                value, unmeasured = None, f"{indicator.kpi} has no value (nothing to aggregate)"
        if value is not None:
            metrics = {indicator.kpi: value, "value": value}
            breached = bool(self.condition.evaluate([], metrics=metrics).holds)
            status = "breached" if breached else "met"
            self.breaches += breached
            if breached and indicator.source.kind is SourceKind.STREAM:
                offending = tuple(self.formula.select(self.records, sets=self.members))
        else:
            self.unmeasured += 1
            self._gap(self.started, now)
        self.periods += 1
        assessment = Assessment(
            ssla=self.ssla.id,
            intent=self.ssla.intent,
            slice=self.ssla.slice,
            term=self.term.name,
            kpi=indicator.kpi,
            unit=indicator.unit,
            start=self.started,
            end=now,
            value=value,
            status=status,
            breach=self.term.breach,
            objective=self.term.objective,
            formula=indicator.formula,
            offending=offending,
            metric_values=tuple(self.values),
            unmeasured=unmeasured,
        )
        self.started = now
        self.records = []
        self.values = []
        return assessment

    def _gap(self, start: float, end: float) -> None:
        """Count [start, end) as not measured, with the gap it extends if any."""
        last = self.gaps[-1] if self.gaps else None
        if last is not None and abs(last["end"] - start) <= 1e-9:
            last["end"], last["periods"] = end, last["periods"] + 1
        else:
            self.gaps.append({"start": start, "end": end, "periods": 1})

    def _unmeasured(self) -> str:
        """Why the current period cannot be assessed; empty when it can."""
        source = self.term.indicator.source
        if not self.measured:
            return "no source for it in this run"
        if source.kind is SourceKind.METRIC and not self.values:
            return f"the metric {source.name} gave no value"
        if source.kind is SourceKind.STREAM and not self.records:
            return f"no record from {source.name}: nothing to check"
        return ""

    def _kpi(self) -> float:
        """The KPI of the current period (NaN when it has none, e.g. an empty average)."""
        indicator = self.term.indicator
        if indicator.source.kind is SourceKind.METRIC:
            metrics = {self.formula.field: self.values[-1]}
            return self.formula.evaluate([], metrics=metrics).value
        return self.formula.evaluate(
            self.records, sets=self.members, period=indicator.period, weight=WEIGHTS.get(self.kind)
        ).value

    def compliance(self) -> dict[str, Any]:
        """The term's record over the run: periods assessed, breached, and the share met."""
        assessed = self.periods - self.unmeasured
        return {
            "ssla": self.ssla.id,
            "intent": self.ssla.intent,
            "slice": self.ssla.slice,
            "term": self.term.name,
            "kpi": self.term.indicator.kpi,
            "period": self.term.indicator.period,
            "periods": self.periods,
            "breached": self.breaches,
            "not_measured": self.unmeasured,
            "not_measured_intervals": [dict(gap) for gap in self.gaps],
            "compliance": None if assessed == 0 else round(1 - self.breaches / assessed, 4),
        }
