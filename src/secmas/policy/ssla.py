"""Security SLAs (SSLAs): guarantee terms that make an intent measurable, and their XML form.

An SSLA holds one or more guarantee terms. Each term states a service-level objective (in
words and/or as a KPI target), the service-level indicator that measures it (a KPI with a
formula in the language of `secmas.policy.kpi`, its unit, where it is measured and how
often), the condition on the measured value that is a breach, and the remediation actions a
breach triggers.

Two XML vocabularies are read; the namespace of the root says which:

* ``urn:ngsi-ld:SLA:1.0`` (:attr:`Dialect.NGSI_LD`, the default, and the one :func:`to_xml`
  writes) is the vocabulary of Figure 3 of `004_…` (Section 3.1). Figure 3 as published (its
  unclosed tags closed) is read as is: the SSLA's ``<name>`` and ``<description>``; per term
  the objective as ``<kpiName>`` + ``<kpiTarget>`` (``<value>``, ``<unit>``), the indicator's
  ``<kpiName>``, ``<kpiFormula>`` and ``<measurementSource>`` (the collector, as text), the
  ``<breachCondition>``, and the ``<remediationAction>`` as a flat list where each
  ``<action>`` is followed by its optional ``<target>``. What Figure 3 leaves out has a
  default: the source's kind and name come from the formula (``COUNT(ingress packets …)``
  is the stream ``ingress_packets``), the period is :data:`DEFAULT_PERIOD`, the unit is
  empty, and a named set the formula uses but the document does not define (Figure 3's
  ``whitelist``) is left to be supplied at assessment (:meth:`Indicator.unbound_sets`).
  Optional elements carry the rest of the model, so every SSLA is written without loss::

    <ServiceLevelAgreement xmlns="urn:ngsi-ld:SLA:1.0" id="ssla-web-isolated">
      <name>…</name>  <description>…</description>      (optional)
      <intent>web-isolated</intent>  <slice>web</slice>  (optional)
      <guaranteeTerm>
        <name>SliceIsolation</name>
        <serviceLevelObjective>
          <description>only whitelisted sources reach slice web</description>
          <kpiName>PacketSourceCompliance</kpiName>
          <kpiTarget><value>100</value><unit>percent</unit></kpiTarget>
        </serviceLevelObjective>
        <serviceLevelIndicator>
          <kpiName>InvalidSourcePackets</kpiName>
          <kpiFormula>COUNT(packets WHERE source_ip NOT IN whitelist)</kpiFormula>
          <unit>packets</unit>
          <measurementSource kind="stream" name="web.ingress">Monitor</measurementSource>
          <period>1</period>
          <namedSet name="whitelist" kind="prefixes"><value>10.1.0.0/16</value></namedSet>
        </serviceLevelIndicator>
        <breachCondition><formula>InvalidSourcePackets &gt; 0</formula></breachCondition>
        <remediationAction>
          <action>REJECT_PACKET</action><target>web</target><detail>…</detail>
          <action>NOTIFY</action><target>SecurityOrchestrator</target>
          <action>LOG</action>
        </remediationAction>
      </guaranteeTerm>
    </ServiceLevelAgreement>

* ``urn:secmas:ssla:1`` (:attr:`Dialect.SECMAS`, read only) is this project's first
  vocabulary: ``<intent>`` and ``<slice>`` required, the objective as text, the measurement
  source as ``<kind>``/``<name>``/``<collector>``, ``<unit>`` and ``<period>`` required,
  every named set defined, and each ``<action>`` holding ``<kind>``, ``<target>`` and
  ``<detail>``.

A document without a namespace is read as the default vocabulary. Documents are parsed with
`defusedxml` only: DTDs, entity declarations and external references are refused, and so is
every document that does not have one of these shapes, with an `SSLAError` naming the
source, the line, the element (``<ServiceLevelAgreement/guaranteeTerm[1]/name>``) and the
reason. Comments are ignored; elements may omit the namespace.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import defusedxml
import defusedxml.ElementTree as SafeET

from secmas.policy.kpi import Formula, FormulaError, Prefixes, parse
from secmas.policy.remediation import action_words


class Dialect(StrEnum):
    """The XML vocabularies of an SSLA, by namespace."""

    NGSI_LD = "urn:ngsi-ld:SLA:1.0"
    """Figure 3 of `004_…` (and optional elements for the rest of the model): the default."""
    SECMAS = "urn:secmas:ssla:1"
    """This project's first vocabulary, still read."""


NAMESPACE = Dialect.NGSI_LD.value
"""The namespace `to_xml` writes."""
ROOT = "ServiceLevelAgreement"
MAX_DOCUMENT = 1_000_000
"""Largest SSLA document accepted, in characters."""
DEFAULT_PERIOD = 1.0
"""Seconds between assessments of an indicator whose document gives no `<period>`."""


class SSLAError(ValueError):
    """An SSLA document that cannot be used; the message names the source, element and reason."""


class SourceKind(StrEnum):
    """What an indicator is measured on."""

    METRIC = "metric"
    """A sampled metric (a time series of values, e.g. a CNF's availability)."""
    STREAM = "stream"
    """A stream of records (packets, flows, agents' messages, patch events)."""


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

    def unbound_sets(self) -> tuple[str, ...]:
        """The named sets the formula uses that the indicator does not define (Figure 3's
        `whitelist`): they must be supplied before the indicator can be assessed."""
        defined = {named.name for named in self.sets}
        return tuple(sorted(parse(self.formula).set_names() - defined))


@dataclass(frozen=True)
class KPITarget:
    """The objective as Figure 3 states it: the KPI `kpi` is to reach `value` (`unit`)."""

    kpi: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class Action:
    """A remediation action: what to do (`kind`), to whom or what (`target`, may be empty:
    Figure 3's LOG and REJECT_PACKET name none), and how."""

    kind: str
    """The action's word: an installed remedy's (`secmas.policy.remediation`), e.g.
    REJECT_PACKET."""
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
    target: KPITarget | None = None
    """The objective's KPI and target value, where the document states them."""

    def statement(self) -> str:
        """The objective in words: its description, else its KPI target."""
        if self.objective or self.target is None:
            return self.objective
        unit = f" {self.target.unit}" if self.target.unit else ""
        return f"{self.target.kpi} = {_number(self.target.value)}{unit}"


@dataclass(frozen=True)
class SSLA:
    """A Security SLA: the guarantee terms an intent about a slice compiles to. `priority`
    settles conflicts with other SSLAs (higher wins; see `secmas.policy.conflicts`). A
    document written by hand may name no intent or slice (Figure 3 does not): they are
    empty then, and `name`/`description` say what it guarantees."""

    id: str
    intent: str
    slice: str
    terms: tuple[GuaranteeTerm, ...]
    priority: int = 0
    name: str = ""
    description: str = ""


# --- writing -------------------------------------------------------------------------------


def to_xml(ssla: SSLA) -> str:
    """The SSLA as an XML document in the vocabulary of Figure 3 (`Dialect.NGSI_LD`), UTF-8
    text with an XML declaration; `from_xml` reads it back to an equal SSLA."""
    # Tags are written unqualified under a default namespace declared on the root, which
    # names the namespace without touching ElementTree's global prefix registry.
    attributes = {"xmlns": NAMESPACE, "id": ssla.id}
    if ssla.priority:
        attributes["priority"] = str(ssla.priority)
    root = ET.Element(ROOT, attributes)
    for tag, value in (
        ("name", ssla.name),
        ("description", ssla.description),
        ("intent", ssla.intent),
        ("slice", ssla.slice),
    ):
        _optional(root, tag, value)
    for term in ssla.terms:
        _write_term(ET.SubElement(root, "guaranteeTerm"), term)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _write_term(node: ET.Element, term: GuaranteeTerm) -> None:
    _text(node, "name", term.name)
    objective = ET.SubElement(node, "serviceLevelObjective")
    _optional(objective, "description", term.objective)
    if term.target is not None:
        _text(objective, "kpiName", term.target.kpi)
        target = ET.SubElement(objective, "kpiTarget")
        _text(target, "value", _number(term.target.value))
        _optional(target, "unit", term.target.unit)
    indicator = ET.SubElement(node, "serviceLevelIndicator")
    _text(indicator, "kpiName", term.indicator.kpi)
    _text(indicator, "kpiFormula", term.indicator.formula)
    _optional(indicator, "unit", term.indicator.unit)
    source = term.indicator.source
    ET.SubElement(
        indicator, "measurementSource", {"kind": source.kind.value, "name": source.name}
    ).text = source.collector
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
        _text(remediation, "action", action.kind)
        _optional(remediation, "target", action.target)
        _optional(remediation, "detail", action.detail)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _optional(parent: ET.Element, tag: str, value: str) -> None:
    if value:
        _text(parent, tag, value)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --- reading -------------------------------------------------------------------------------


def from_xml(text: str, source: str = "<string>") -> SSLA:
    """Parse and check an SSLA document in either vocabulary (see the module docstring);
    `source` names it in errors (SSLAError)."""
    if len(text) > MAX_DOCUMENT:
        raise SSLAError(f"{source}: document larger than {MAX_DOCUMENT} characters")
    builder = _LineTreeBuilder()
    parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        parser.feed(text)
        root = parser.close()
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
    try:
        return _Reader(source, builder.lines).ssla(root)
    except SSLAError as error:
        if not isinstance(root.tag, str) or root.tag.startswith("{"):
            raise
        # Without a namespace the document may be in either vocabulary: the default one's
        # error stands unless the document is a valid SSLA of the other.
        try:
            return _Reader(source, builder.lines, Dialect.SECMAS).ssla(root)
        except SSLAError:
            raise error from None


def load_ssla(path: str, source: str | None = None) -> SSLA:
    """Read and parse an SSLA file."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(MAX_DOCUMENT + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise SSLAError(f"{source or path}: cannot read file: {exc}") from None
    return from_xml(text, source or path)


class _LineTreeBuilder(ET.TreeBuilder):
    """An element tree builder that notes the line each element starts on (for errors)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: SafeET.DefusedXMLParser | None = None
        self.lines: dict[ET.Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        element = super().start(tag, attrs)
        if self.parser is not None:
            self.lines[element] = self.parser.parser.CurrentLineNumber
        return element


Children = tuple[dict[str, ET.Element], list[ET.Element]]
Choice = TypeVar("Choice", bound=StrEnum)
Kind = TypeVar("Kind")


def _one_of(values: Sequence[str]) -> str:
    """What was expected, in words: `A or B`, `one of A, B, C`."""
    return " or ".join(values) if len(values) == 2 else "one of " + ", ".join(values)


class _Reader:
    """Turns an element tree into an SSLA, or an SSLAError naming the line and element."""

    def __init__(
        self, source: str, lines: Mapping[ET.Element, int], dialect: Dialect = Dialect.NGSI_LD
    ) -> None:
        self.source = source
        self.lines = lines
        self.namespace = ""
        self.dialect = dialect
        """The vocabulary: the root's namespace, or `dialect` for a root without one."""

    def fail(self, path: str, reason: str, element: ET.Element | None = None) -> SSLAError:
        """An error about the element at `path`; `element` (it, or its parent when it is
        missing) gives the line."""
        line = None if element is None else self.lines.get(element)
        where = self.source if line is None else f"{self.source}:{line}"
        return SSLAError(f"{where}: <{path}>: {reason}")

    # -- shape ----------------------------------------------------------------------------

    def local(self, element: ET.Element, path: str) -> str:
        """The element's tag without the namespace (which must be the root's, or none)."""
        tag = element.tag
        if not isinstance(tag, str):
            raise self.fail(path, "unexpected node", element)
        if tag.startswith("{"):
            namespace, _, tag = tag[1:].partition("}")
            if namespace != self.namespace:
                expected = self.namespace or "none"
                raise self.fail(
                    f"{path}/{tag}", f"namespace {namespace!r}, expected {expected!r}", element
                )
        return tag

    def attributes(self, element: ET.Element, path: str, allowed: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(element.attrib) - set(allowed))
        if unknown:
            raise self.fail(path, f"unexpected attribute {unknown[0]!r}", element)

    def sequence(
        self, element: ET.Element, path: str, allowed: tuple[str, ...]
    ) -> list[tuple[str, ET.Element]]:
        """The element's children in order, each one of `allowed`; text between them is an
        error."""
        if (element.text or "").strip():
            raise self.fail(path, "unexpected text; expected only child elements", element)
        found = []
        for child in element:
            tag = self.local(child, path)
            if (child.tail or "").strip():
                raise self.fail(path, f"unexpected text after <{tag}>", child)
            if tag not in allowed:
                expected = ", ".join(f"<{t}>" for t in allowed)
                raise self.fail(f"{path}/{tag}", f"unexpected element; expected {expected}", child)
            found.append((tag, child))
        return found

    def children(
        self, element: ET.Element, path: str, single: tuple[str, ...], repeated: str = ""
    ) -> Children:
        """The element's children: each of `single` once at most, any number of `repeated`."""
        found: dict[str, ET.Element] = {}
        many: list[ET.Element] = []
        for tag, child in self.sequence(element, path, (*single, repeated) if repeated else single):
            if tag == repeated:
                many.append(child)
            elif tag in found:
                raise self.fail(f"{path}/{tag}", "repeated; expected once", child)
            else:
                found[tag] = child
        return found, many

    def required(
        self, found: dict[str, ET.Element], tag: str, path: str, parent: ET.Element
    ) -> ET.Element:
        if tag not in found:
            raise self.fail(f"{path}/{tag}", "missing", parent)
        return found[tag]

    def text(
        self,
        found: dict[str, ET.Element],
        tag: str,
        path: str,
        parent: ET.Element,
        optional: bool = False,
    ) -> str:
        element = found.get(tag)
        if element is None:
            if optional:
                return ""
            raise self.fail(f"{path}/{tag}", "missing", parent)
        return self.content(element, f"{path}/{tag}", optional)

    def content(self, element: ET.Element, path: str, optional: bool = False) -> str:
        """The text of an element that holds text only."""
        self.attributes(element, path)
        if len(element):
            raise self.fail(path, "unexpected child element; expected text", element)
        value = (element.text or "").strip()
        if not value and not optional:
            raise self.fail(path, "empty", element)
        return value

    def number(self, element: ET.Element, path: str, what: str, positive: bool) -> float:
        text = self.content(element, path)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (positive and value <= 0):
            expected = "a number > 0" if positive else "a finite number"
            raise self.fail(path, f"bad {what} {text[:40]!r}; expected {expected}", element)
        return value

    # -- the SSLA -------------------------------------------------------------------------

    def ssla(self, root: ET.Element) -> SSLA:
        tag = root.tag if isinstance(root.tag, str) else ""
        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        tag = tag.rpartition("}")[2]
        if tag != ROOT:
            raise self.fail(tag, f"unexpected root element; expected <{ROOT}>", root)
        if namespace:
            try:
                self.dialect = Dialect(namespace)
            except ValueError:
                expected = " or ".join(repr(d.value) for d in Dialect)
                raise self.fail(
                    ROOT, f"namespace {namespace!r}, expected {expected}", root
                ) from None
        self.namespace = namespace
        path = ROOT
        self.attributes(root, path, ("id", "priority"))
        ident = root.get("id", "").strip()
        if not ident:
            raise self.fail(path, "missing attribute 'id'", root)
        priority_text = root.get("priority", "0").strip()
        if not (priority_text.isascii() and priority_text.isdigit() and len(priority_text) <= 4):
            raise self.fail(
                path,
                f"bad attribute 'priority' {priority_text[:40]!r}; expected a whole number ≥ 0",
                root,
            )
        legacy = self.dialect is Dialect.SECMAS
        single = ("intent", "slice") if legacy else ("name", "description", "intent", "slice")
        found, terms = self.children(root, path, single, "guaranteeTerm")
        intent = self.text(found, "intent", path, root, optional=not legacy)
        slice_ = self.text(found, "slice", path, root, optional=not legacy)
        if not terms:
            raise self.fail(f"{path}/guaranteeTerm", "missing; expected at least one", root)
        parsed = tuple(
            self.term(term, f"{path}/guaranteeTerm[{index}]") for index, term in enumerate(terms, 1)
        )
        names = [term.name for term in parsed]
        for index, name in enumerate(names, 1):
            if name in names[: index - 1]:
                raise self.fail(
                    f"{path}/guaranteeTerm[{index}]/name",
                    f"duplicate term {name[:60]!r}",
                    terms[index - 1],
                )
        return SSLA(
            ident,
            intent,
            slice_,
            parsed,
            int(priority_text),
            self.text(found, "name", path, root, optional=True),
            self.text(found, "description", path, root, optional=True),
        )

    def term(self, element: ET.Element, path: str) -> GuaranteeTerm:
        self.attributes(element, path)
        parts = (
            "name",
            "serviceLevelObjective",
            "serviceLevelIndicator",
            "breachCondition",
            "remediationAction",
        )
        found, _ = self.children(element, path, parts)
        name = self.text(found, "name", path, element)
        objective_path = f"{path}/serviceLevelObjective"
        objective_element = self.required(found, "serviceLevelObjective", path, element)
        if self.dialect is Dialect.SECMAS:
            objective, target = self.content(objective_element, objective_path), None
        else:
            objective, target = self.objective(objective_element, objective_path)
        indicator = self.indicator(
            self.required(found, "serviceLevelIndicator", path, element),
            f"{path}/serviceLevelIndicator",
        )
        breach_path = f"{path}/breachCondition"
        breach_element = self.required(found, "breachCondition", path, element)
        self.attributes(breach_element, breach_path)
        breach_parts, _ = self.children(breach_element, breach_path, ("formula",))
        breach = self.text(breach_parts, "formula", breach_path, breach_element)
        self.breach(breach, f"{breach_path}/formula", indicator.kpi, breach_parts["formula"])
        remediation = self.remediation(
            self.required(found, "remediationAction", path, element), f"{path}/remediationAction"
        )
        return GuaranteeTerm(name, objective, indicator, breach, remediation, target)

    def objective(self, element: ET.Element, path: str) -> tuple[str, KPITarget | None]:
        """Figure 3's objective: an optional description, and the KPI with its target."""
        self.attributes(element, path)
        found, _ = self.children(element, path, ("description", "kpiName", "kpiTarget"))
        description = self.text(found, "description", path, element, optional=True)
        if "kpiName" not in found and "kpiTarget" not in found:
            return description, None
        kpi = self.text(found, "kpiName", path, element)
        target_path = f"{path}/kpiTarget"
        target = self.required(found, "kpiTarget", path, element)
        self.attributes(target, target_path)
        parts, _ = self.children(target, target_path, ("value", "unit"))
        value = self.number(
            self.required(parts, "value", target_path, target),
            f"{target_path}/value",
            "target",
            False,
        )
        unit = self.text(parts, "unit", target_path, target, optional=True)
        return description, KPITarget(kpi, value, unit)

    def indicator(self, element: ET.Element, path: str) -> Indicator:
        self.attributes(element, path)
        parts = ("kpiName", "kpiFormula", "unit", "measurementSource", "period")
        found, set_elements = self.children(element, path, parts, "namedSet")
        legacy = self.dialect is Dialect.SECMAS
        kpi = self.text(found, "kpiName", path, element)
        formula_text = self.text(found, "kpiFormula", path, element)
        formula = self.formula(
            formula_text, f"{path}/kpiFormula", "KPI formula", found["kpiFormula"]
        )
        sets = tuple(
            self.named_set(named, f"{path}/namedSet[{index}]")
            for index, named in enumerate(set_elements, 1)
        )
        defined = [named.name for named in sets]
        for index, name in enumerate(defined, 1):
            if name in defined[: index - 1]:
                raise self.fail(
                    f"{path}/namedSet[{index}]", f"duplicate set {name!r}", set_elements[index - 1]
                )
        undefined = sorted(formula.set_names() - set(defined))
        if legacy and undefined:
            raise self.fail(
                f"{path}/kpiFormula",
                f"uses the named set {undefined[0]!r}, which no <namedSet> defines",
                found["kpiFormula"],
            )
        unit = self.text(found, "unit", path, element, optional=not legacy)
        source_path = f"{path}/measurementSource"
        source_element = self.required(found, "measurementSource", path, element)
        if legacy:
            source = Source(
                *self.kind_and_texts(
                    source_element, source_path, self.source_kind, ("name", "collector")
                )
            )
        else:
            source = self.source_of(source_element, source_path, formula)
        if "period" in found:
            period = self.number(found["period"], f"{path}/period", "period", True)
        elif legacy:
            raise self.fail(f"{path}/period", "missing", element)
        else:
            period = DEFAULT_PERIOD
        return Indicator(kpi, formula_text, unit, source, period, sets)

    def source_of(self, element: ET.Element, path: str, formula: Formula) -> Source:
        """Figure 3's source: the collector as text; the kind and the name of what it
        measures as attributes, by default those of the formula."""
        self.attributes(element, path, ("kind", "name"))
        if len(element):
            raise self.fail(
                path, "unexpected child element; expected the collector's name as text", element
            )
        collector = (element.text or "").strip()
        if not collector:
            raise self.fail(path, "empty", element)
        metric = formula.aggregate == "METRIC"
        kind_text = element.get("kind", (SourceKind.METRIC if metric else SourceKind.STREAM).value)
        kind = self.choice(SourceKind, kind_text.strip(), "source kind", path, element)
        name = element.get("name", str(formula.field if metric else formula.stream)).strip()
        if not name:
            raise self.fail(path, "empty attribute 'name'", element)
        return Source(kind, name, collector)

    def kind_and_texts(
        self,
        element: ET.Element,
        path: str,
        kind: Callable[[str, str, ET.Element], Kind],
        fields: tuple[str, str],
        optional: str = "",
    ) -> tuple[Kind, str, str]:
        """The first vocabulary's <kind> (read by `kind`) and two texts: a source's <name>
        and <collector>, an action's <target> and <detail>."""
        self.attributes(element, path)
        found, _ = self.children(element, path, ("kind", *fields))
        kind_text = self.text(found, "kind", path, element)
        member = kind(kind_text, f"{path}/kind", found["kind"])
        first, second = (self.text(found, f, path, element, optional=f == optional) for f in fields)
        return member, first, second

    def named_set(self, element: ET.Element, path: str) -> NamedSet:
        self.attributes(element, path, ("name", "kind"))
        name = element.get("name", "").strip()
        if not _SET_NAME.fullmatch(name):
            raise self.fail(
                path, f"bad or missing attribute 'name' {name[:40]!r}; expected a name", element
            )
        kind = self.choice(SetKind, element.get("kind", "").strip(), "set kind", path, element)
        _, items = self.children(element, path, (), "value")
        values = []
        for index, item in enumerate(items, 1):
            value = self.content(item, f"{path}/value[{index}]")
            if kind is SetKind.PREFIXES:
                try:
                    Prefixes([value])
                except ValueError as exc:
                    raise self.fail(f"{path}/value[{index}]", str(exc)[:200], item) from None
            values.append(value)
        return NamedSet(name, kind, tuple(values))

    def remediation(self, element: ET.Element, path: str) -> tuple[Action, ...]:
        self.attributes(element, path)
        if self.dialect is Dialect.SECMAS:
            _, actions = self.children(element, path, (), "action")
            if not actions:
                raise self.fail(f"{path}/action", "missing; expected at least one", element)
            legacy = []
            for index, action in enumerate(actions, 1):
                where = f"{path}/action[{index}]"
                parts = self.kind_and_texts(
                    action, where, self.action_word, ("target", "detail"), "detail"
                )
                legacy.append(Action(*parts))
            return tuple(legacy)
        # Figure 3: <action>NOTIFY</action><target>…</target><action>LOG</action>…, each
        # <target> (and <detail>) belonging to the <action> before it.
        kinds: list[str] = []
        parts: list[dict[str, str]] = []
        for tag, child in self.sequence(element, path, ("action", "target", "detail")):
            if tag == "action":
                where = f"{path}/action[{len(kinds) + 1}]"
                text = self.content(child, where)
                kinds.append(self.action_word(text, where, child))
                parts.append({})
                continue
            where = f"{path}/action[{len(kinds)}]/{tag}"
            if not kinds:
                raise self.fail(f"{path}/{tag}", f"before any <action>, whose {tag} it is", child)
            if tag in parts[-1]:
                raise self.fail(where, "repeated; expected once per <action>", child)
            parts[-1][tag] = self.content(child, where)
        if not kinds:
            raise self.fail(f"{path}/action", "missing; expected at least one", element)
        return tuple(
            Action(kind, part.get("target", ""), part.get("detail", ""))
            for kind, part in zip(kinds, parts, strict=True)
        )

    def choice(
        self, kind: type[Choice], text: str, what: str, path: str, element: ET.Element
    ) -> Choice:
        """`text` as a member of the enumeration `kind`, or an error listing its values."""
        try:
            return kind(text)
        except ValueError:
            expected = _one_of([member.value for member in kind])
            raise self.fail(
                path, f"unknown {what} {text[:40]!r}; expected {expected}", element
            ) from None

    def source_kind(self, text: str, path: str, element: ET.Element) -> SourceKind:
        return self.choice(SourceKind, text, "source kind", path, element)

    def action_word(self, text: str, path: str, element: ET.Element) -> str:
        """`text` as the word of an installed remedy, or an error listing them."""
        words = action_words()
        if text not in words:
            raise self.fail(
                path,
                f"unknown action kind {text[:40]!r}; expected {_one_of(words)} (the installed "
                "remedies)",
                element,
            )
        return text

    def formula(self, text: str, path: str, what: str, element: ET.Element) -> Formula:
        try:
            return parse(text)
        except FormulaError as exc:
            where = "" if exc.column is None else f" at column {exc.column}"
            raise self.fail(path, f"invalid {what}{where}: {exc.message}", element) from None

    def breach(self, text: str, path: str, kpi: str, element: ET.Element) -> None:
        """A breach condition compares the indicator's value, named by its KPI or `value`."""
        formula = self.formula(text, path, "breach condition", element)
        if formula.aggregate != "METRIC" or formula.comparison is None:
            raise self.fail(
                path, f"expected a comparison of {kpi!r} (or 'value'), e.g. {kpi} > 0", element
            )
        if formula.field not in (kpi, "value"):
            raise self.fail(
                path, f"breach condition refers to {formula.field!r}, not the KPI {kpi!r}", element
            )
