"""Security SLAs (SSLAs): guarantee terms that make an intent measurable, and their XML form.

An SSLA holds one or more guarantee terms. Each term states a service-level objective in
words, the service-level indicator that measures it (a KPI with a formula in the language of
`secmas.policy.kpi`, its unit, where it is measured and how often), the condition on the
measured value that is a breach, and the remediation actions a breach triggers.

The XML form follows Figure 3 of `004_…` (Section 3.1), with element names of its own and
the namespace `urn:secmas:ssla:1`::

    <ServiceLevelAgreement xmlns="urn:secmas:ssla:1" id="ssla-web-isolated">
      <intent>web-isolated</intent>
      <slice>web</slice>
      <guaranteeTerm>
        <name>SliceIsolation</name>
        <serviceLevelObjective>only whitelisted sources reach slice web</serviceLevelObjective>
        <serviceLevelIndicator>
          <kpiName>InvalidSourcePackets</kpiName>
          <kpiFormula>COUNT(packets WHERE source_ip NOT IN whitelist)</kpiFormula>
          <unit>packets</unit>
          <measurementSource>
            <kind>stream</kind>
            <name>ingress</name>
            <collector>DistributedSecurityMonitoring</collector>
          </measurementSource>
          <period>1</period>
          <namedSet name="whitelist" kind="prefixes"><value>10.1.0.0/16</value></namedSet>
        </serviceLevelIndicator>
        <breachCondition><formula>InvalidSourcePackets &gt; 0</formula></breachCondition>
        <remediationAction>
          <action><kind>REJECT_PACKET</kind><target>web</target><detail>…</detail></action>
          <action><kind>NOTIFY</kind><target>SecurityOrchestrator</target></action>
        </remediationAction>
      </guaranteeTerm>
    </ServiceLevelAgreement>

Documents written by hand are parsed with `defusedxml` only: DTDs, entity declarations and
external references are refused, and so is every document that does not have this shape,
with an `SSLAError` naming the source, the element path and the reason. Comments are ignored;
elements may omit the namespace. Every named set a KPI formula uses is defined in the
document (`<namedSet>`), so an SSLA can be assessed on its own.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

import defusedxml
import defusedxml.ElementTree as SafeET

from secmas.policy.kpi import Formula, FormulaError, Prefixes, parse

NAMESPACE = "urn:secmas:ssla:1"
ROOT = "ServiceLevelAgreement"
MAX_DOCUMENT = 1_000_000
"""Largest SSLA document accepted, in characters."""


class SSLAError(ValueError):
    """An SSLA document that cannot be used; the message names the source, element and reason."""


class SourceKind(StrEnum):
    """What an indicator is measured on."""

    METRIC = "metric"
    """A sampled metric (a time series of values, e.g. a CNF's availability)."""
    STREAM = "stream"
    """A stream of records (packets, flows, agents' messages, patch events)."""


class ActionKind(StrEnum):
    """The remediation actions of the SSLA assessment function (issue 8)."""

    NOTIFY = "NOTIFY"
    """Tell the agents (a goal, e.g. block a flow) or the security orchestrator."""
    LOG = "LOG"
    """Record the breach in the audit log."""
    REJECT_PACKET = "REJECT_PACKET"
    """Install a data-plane rule dropping the offending packets."""
    REVOKE = "REVOKE"
    """Revoke an agent: it is no longer trusted nor keyed."""


@dataclass(frozen=True)
class Source:
    """Where an indicator is measured: a metric or a stream, and the collector providing it."""

    kind: SourceKind
    name: str
    collector: str


class SetKind(StrEnum):
    """What the values of a named set are."""

    PREFIXES = "prefixes"
    """IP addresses or CIDR prefixes: membership is prefix containment."""
    VALUES = "values"
    """Plain text values: membership is equality."""


_SET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class NamedSet:
    """A set a KPI formula refers to by name (`source_ip NOT IN whitelist`)."""

    name: str
    kind: SetKind
    values: tuple[str, ...]

    def members(self) -> Collection[str]:
        """The collection the formula's membership test uses."""
        return Prefixes(self.values) if self.kind is SetKind.PREFIXES else self.values


@dataclass(frozen=True)
class Indicator:
    """A service-level indicator: the KPI `kpi` computed by `formula` every `period` seconds,
    with the named sets the formula uses."""

    kpi: str
    formula: str
    unit: str
    source: Source
    period: float
    sets: tuple[NamedSet, ...] = ()

    def set_members(self) -> Mapping[str, Collection[str]]:
        """The named sets, ready for `Formula.evaluate(sets=…)`."""
        return {named.name: named.members() for named in self.sets}


@dataclass(frozen=True)
class Action:
    """A remediation action: what to do (`kind`), to whom or what (`target`), and how."""

    kind: ActionKind
    target: str
    detail: str = ""


@dataclass(frozen=True)
class GuaranteeTerm:
    """One guarantee of an SSLA: objective, indicator, breach condition and remediation."""

    name: str
    objective: str
    indicator: Indicator
    breach: str
    """A comparison of the indicator's value, named by its KPI name or `value` (`X > 0`)."""
    remediation: tuple[Action, ...]


@dataclass(frozen=True)
class SSLA:
    """A Security SLA: the guarantee terms an intent about a slice compiles to. `priority`
    settles conflicts with other SSLAs (higher wins; see `secmas.policy.conflicts`)."""

    id: str
    intent: str
    slice: str
    terms: tuple[GuaranteeTerm, ...]
    priority: int = 0


# --- writing -------------------------------------------------------------------------------


def to_xml(ssla: SSLA) -> str:
    """The SSLA as an XML document (UTF-8 text with an XML declaration)."""
    # Tags are written unqualified under a default namespace declared on the root, which
    # names our namespace without touching ElementTree's global prefix registry.
    attributes = {"xmlns": NAMESPACE, "id": ssla.id}
    if ssla.priority:
        attributes["priority"] = str(ssla.priority)
    root = ET.Element(ROOT, attributes)
    _text(root, "intent", ssla.intent)
    _text(root, "slice", ssla.slice)
    for term in ssla.terms:
        node = ET.SubElement(root, "guaranteeTerm")
        _text(node, "name", term.name)
        _text(node, "serviceLevelObjective", term.objective)
        indicator = ET.SubElement(node, "serviceLevelIndicator")
        _text(indicator, "kpiName", term.indicator.kpi)
        _text(indicator, "kpiFormula", term.indicator.formula)
        _text(indicator, "unit", term.indicator.unit)
        source = ET.SubElement(indicator, "measurementSource")
        _text(source, "kind", term.indicator.source.kind.value)
        _text(source, "name", term.indicator.source.name)
        _text(source, "collector", term.indicator.source.collector)
        _text(indicator, "period", _number(term.indicator.period))
        for named in term.indicator.sets:
            element = ET.SubElement(
                indicator, "namedSet", {"name": named.name, "kind": named.kind.value}
            )
            for value in named.values:
                _text(element, "value", value)
        _text(ET.SubElement(node, "breachCondition"), "formula", term.breach)
        remediation = ET.SubElement(node, "remediationAction")
        for action in term.remediation:
            element = ET.SubElement(remediation, "action")
            _text(element, "kind", action.kind.value)
            _text(element, "target", action.target)
            if action.detail:
                _text(element, "detail", action.detail)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --- reading -------------------------------------------------------------------------------


def from_xml(text: str, source: str = "<string>") -> SSLA:
    """Parse and check an SSLA document; `source` names it in errors (SSLAError)."""
    if len(text) > MAX_DOCUMENT:
        raise SSLAError(f"{source}: document larger than {MAX_DOCUMENT} characters")
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except defusedxml.DTDForbidden:
        raise SSLAError(f"{source}: refused: the document declares a DTD") from None
    except defusedxml.EntitiesForbidden as exc:
        raise SSLAError(f"{source}: refused: entity declaration {exc.name!r}") from None
    except defusedxml.ExternalReferenceForbidden:
        raise SSLAError(
            f"{source}: refused: the document references an external resource"
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise SSLAError(f"{source}: refused: {exc}") from None
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise SSLAError(f"{source}:{line}:{column + 1}: not well-formed XML: {reason}") from None
    return _Reader(source).ssla(root)


def load_ssla(path: str, source: str | None = None) -> SSLA:
    """Read and parse an SSLA file."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(MAX_DOCUMENT + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise SSLAError(f"{source or path}: cannot read file: {exc}") from None
    return from_xml(text, source or path)


class _Reader:
    """Turns an element tree into an SSLA, or an SSLAError naming the element."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, reason: str) -> SSLAError:
        return SSLAError(f"{self.source}: element <{path}>: {reason}")

    def local(self, element: ET.Element, path: str) -> str:
        """The element's tag without the namespace (which must be ours, or none)."""
        tag = element.tag
        if not isinstance(tag, str):
            raise self.fail(path, "unexpected node")
        if tag.startswith("{"):
            namespace, _, tag = tag[1:].partition("}")
            if namespace != NAMESPACE:
                raise self.fail(f"{path}/{tag}", f"namespace {namespace!r}, expected {NAMESPACE!r}")
        return tag

    def children(
        self, element: ET.Element, path: str, single: tuple[str, ...], repeated: str = ""
    ) -> tuple[dict[str, ET.Element], list[ET.Element]]:
        """The element's children: each of `single` exactly once at most, any number of
        `repeated`; anything else, or text between them, is an error."""
        if (element.text or "").strip():
            raise self.fail(path, "unexpected text; expected only child elements")
        found: dict[str, ET.Element] = {}
        many: list[ET.Element] = []
        for child in element:
            tag = self.local(child, path)
            if (child.tail or "").strip():
                raise self.fail(path, f"unexpected text after <{tag}>")
            if tag == repeated:
                many.append(child)
            elif tag in single:
                if tag in found:
                    raise self.fail(f"{path}/{tag}", "repeated; expected once")
                found[tag] = child
            else:
                expected = ", ".join(f"<{t}>" for t in (*single, repeated) if t)
                raise self.fail(f"{path}/{tag}", f"unexpected element; expected {expected}")
        return found, many

    def text(
        self, found: dict[str, ET.Element], tag: str, path: str, optional: bool = False
    ) -> str:
        element = found.get(tag)
        if element is None:
            if optional:
                return ""
            raise self.fail(f"{path}/{tag}", "missing")
        if len(element):
            raise self.fail(f"{path}/{tag}", "unexpected child element; expected text")
        value = (element.text or "").strip()
        if not value and not optional:
            raise self.fail(f"{path}/{tag}", "empty")
        return value

    def ssla(self, root: ET.Element) -> SSLA:
        tag = self.local(root, "")
        if tag != ROOT:
            raise self.fail(tag, f"unexpected root element; expected <{ROOT}>")
        path = ROOT
        unknown = sorted(set(root.attrib) - {"id", "priority"})
        if unknown:
            raise self.fail(path, f"unexpected attribute {unknown[0]!r}")
        ident = root.get("id", "").strip()
        if not ident:
            raise self.fail(path, "missing attribute 'id'")
        priority_text = root.get("priority", "0").strip()
        if not (priority_text.isascii() and priority_text.isdigit() and len(priority_text) <= 4):
            raise self.fail(
                path, f"bad attribute 'priority' {priority_text!r}; expected a whole number ≥ 0"
            )
        found, terms = self.children(root, path, ("intent", "slice"), "guaranteeTerm")
        intent = self.text(found, "intent", path)
        slice_ = self.text(found, "slice", path)
        if not terms:
            raise self.fail(f"{path}/guaranteeTerm", "missing; expected at least one")
        parsed = tuple(
            self.term(term, f"{path}/guaranteeTerm[{index}]") for index, term in enumerate(terms, 1)
        )
        names = [term.name for term in parsed]
        for index, name in enumerate(names, 1):
            if name in names[: index - 1]:
                raise self.fail(f"{path}/guaranteeTerm[{index}]/name", f"duplicate term {name!r}")
        return SSLA(ident, intent, slice_, parsed, int(priority_text))

    def term(self, element: ET.Element, path: str) -> GuaranteeTerm:
        parts = (
            "name",
            "serviceLevelObjective",
            "serviceLevelIndicator",
            "breachCondition",
            "remediationAction",
        )
        found, _ = self.children(element, path, parts)
        name = self.text(found, "name", path)
        objective = self.text(found, "serviceLevelObjective", path)
        if "serviceLevelIndicator" not in found:
            raise self.fail(f"{path}/serviceLevelIndicator", "missing")
        indicator = self.indicator(found["serviceLevelIndicator"], f"{path}/serviceLevelIndicator")
        if "breachCondition" not in found:
            raise self.fail(f"{path}/breachCondition", "missing")
        breach_path = f"{path}/breachCondition"
        breach_parts, _ = self.children(found["breachCondition"], breach_path, ("formula",))
        breach = self.text(breach_parts, "formula", breach_path)
        self.breach(breach, f"{breach_path}/formula", indicator.kpi)
        if "remediationAction" not in found:
            raise self.fail(f"{path}/remediationAction", "missing")
        remediation_path = f"{path}/remediationAction"
        _, actions = self.children(found["remediationAction"], remediation_path, (), "action")
        if not actions:
            raise self.fail(f"{remediation_path}/action", "missing; expected at least one")
        return GuaranteeTerm(
            name,
            objective,
            indicator,
            breach,
            tuple(
                self.action(action, f"{remediation_path}/action[{index}]")
                for index, action in enumerate(actions, 1)
            ),
        )

    def indicator(self, element: ET.Element, path: str) -> Indicator:
        parts = ("kpiName", "kpiFormula", "unit", "measurementSource", "period")
        found, set_elements = self.children(element, path, parts, "namedSet")
        kpi = self.text(found, "kpiName", path)
        formula = self.text(found, "kpiFormula", path)
        parsed = self.formula(formula, f"{path}/kpiFormula", "KPI formula")
        sets = tuple(
            self.named_set(named, f"{path}/namedSet[{index}]")
            for index, named in enumerate(set_elements, 1)
        )
        defined = [named.name for named in sets]
        for index, name in enumerate(defined, 1):
            if name in defined[: index - 1]:
                raise self.fail(f"{path}/namedSet[{index}]", f"duplicate set {name!r}")
        undefined = sorted(parsed.set_names() - set(defined))
        if undefined:
            raise self.fail(
                f"{path}/kpiFormula",
                f"uses the named set {undefined[0]!r}, which no <namedSet> defines",
            )
        unit = self.text(found, "unit", path)
        if "measurementSource" not in found:
            raise self.fail(f"{path}/measurementSource", "missing")
        source_path = f"{path}/measurementSource"
        source_parts, _ = self.children(
            found["measurementSource"], source_path, ("kind", "name", "collector")
        )
        kind_text = self.text(source_parts, "kind", source_path)
        try:
            kind = SourceKind(kind_text)
        except ValueError:
            expected = " or ".join(k.value for k in SourceKind)
            raise self.fail(
                f"{source_path}/kind", f"unknown source kind {kind_text!r}; expected {expected}"
            ) from None
        source = Source(
            kind,
            self.text(source_parts, "name", source_path),
            self.text(source_parts, "collector", source_path),
        )
        period_text = self.text(found, "period", path)
        try:
            period = float(period_text)
        except ValueError:
            period = math.nan
        if not (math.isfinite(period) and period > 0):
            raise self.fail(
                f"{path}/period", f"bad period {period_text!r}; expected seconds, a number > 0"
            )
        return Indicator(kpi, formula, unit, source, period, sets)

    def named_set(self, element: ET.Element, path: str) -> NamedSet:
        unknown = sorted(set(element.attrib) - {"name", "kind"})
        if unknown:
            raise self.fail(path, f"unexpected attribute {unknown[0]!r}")
        name = element.get("name", "").strip()
        if not _SET_NAME.fullmatch(name):
            raise self.fail(path, f"bad or missing attribute 'name' {name!r}; expected a name")
        kind_text = element.get("kind", "").strip()
        try:
            kind = SetKind(kind_text)
        except ValueError:
            expected = " or ".join(k.value for k in SetKind)
            raise self.fail(path, f"unknown set kind {kind_text!r}; expected {expected}") from None
        _, items = self.children(element, path, (), "value")
        values = []
        for index, item in enumerate(items, 1):
            value = self.text({"value": item}, "value", path)
            if kind is SetKind.PREFIXES:
                try:
                    Prefixes([value])
                except ValueError as exc:
                    raise self.fail(f"{path}/value[{index}]", str(exc)) from None
            values.append(value)
        return NamedSet(name, kind, tuple(values))

    def action(self, element: ET.Element, path: str) -> Action:
        found, _ = self.children(element, path, ("kind", "target", "detail"))
        kind_text = self.text(found, "kind", path)
        try:
            kind = ActionKind(kind_text)
        except ValueError:
            expected = ", ".join(k.value for k in ActionKind)
            raise self.fail(
                f"{path}/kind", f"unknown action kind {kind_text!r}; expected one of {expected}"
            ) from None
        return Action(
            kind, self.text(found, "target", path), self.text(found, "detail", path, optional=True)
        )

    def formula(self, text: str, path: str, what: str) -> Formula:
        try:
            return parse(text)
        except FormulaError as exc:
            where = "" if exc.column is None else f" at column {exc.column}"
            raise self.fail(path, f"invalid {what}{where}: {exc.message}") from None

    def breach(self, text: str, path: str, kpi: str) -> None:
        """A breach condition compares the indicator's value, named by its KPI or `value`."""
        formula = self.formula(text, path, "breach condition")
        if formula.aggregate != "METRIC" or formula.comparison is None:
            raise self.fail(path, f"expected a comparison of {kpi!r} (or 'value'), e.g. {kpi} > 0")
        if formula.field not in (kpi, "value"):
            raise self.fail(
                path, f"breach condition refers to {formula.field!r}, not the KPI {kpi!r}"
            )
