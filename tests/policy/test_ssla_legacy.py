"""SSLA documents in the project's first vocabulary (`urn:secmas:ssla:1`), still read:
hand-written documents, their conversion to the default vocabulary, malformed ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.policy.ssla_refusal import refused

from secmas.policy.ssla import (
    NAMESPACE,
    NamedSet,
    SetKind,
    Source,
    SourceKind,
    SSLAError,
    from_xml,
    load_ssla,
    to_xml,
)

# Figure 3 of 004_… (Section 3.1) written in the first vocabulary, comments included.
LEGACY = """\
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


def test_the_first_vocabulary_parses() -> None:
    ssla = from_xml(LEGACY)
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
        "NOTIFY",
        "LOG",
        "REJECT_PACKET",
    ]
    assert term.remediation[2].detail == "immediate enforcement"
    assert term.remediation[0].detail == ""
    assert from_xml(to_xml(ssla)) == ssla


def test_without_namespace_is_accepted() -> None:
    plain = LEGACY.replace(' xmlns="urn:secmas:ssla:1"', "")
    assert from_xml(plain) == from_xml(LEGACY)


def test_it_is_written_in_the_default_vocabulary() -> None:
    text = to_xml(from_xml(LEGACY))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert f'<ServiceLevelAgreement xmlns="{NAMESPACE}" id="SLA-Slice-Isolation">' in text
    assert "urn:secmas:ssla:1" not in text
    assert "<formula>InvalidSourcePacketCount &gt; 0</formula>" in text
    assert "<action>REJECT_PACKET</action>" in text


def test_load_ssla(tmp_path: Path) -> None:
    path = tmp_path / "f3.xml"
    path.write_text(LEGACY)
    assert load_ssla(str(path)).id == "SLA-Slice-Isolation"
    with pytest.raises(SSLAError, match="cannot read file"):
        load_ssla(str(tmp_path / "none.xml"))


# --- malformed documents -----------------------------------------------------------------------

TERM = "ServiceLevelAgreement/guaranteeTerm[1]"
INDICATOR = f"{TERM}/serviceLevelIndicator"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "<unit>packets</unit>",
            "<colour>red</colour><unit>packets</unit>",
            f"<{INDICATOR}/colour>: unexpected element; expected <kpiName>",
        ),
        (
            "<period>0.5</period>",
            "",
            f"<{INDICATOR}/period>: missing",
        ),
        (
            "<period>0.5</period>",
            "<period>-3</period>",
            f"<{INDICATOR}/period>: bad period '-3'",
        ),
        (
            "<period>0.5</period>",
            "<period>nan</period>",
            f"<{INDICATOR}/period>: bad period 'nan'",
        ),
        (
            "<period>0.5</period>",
            "<period>soon</period>",
            f"<{INDICATOR}/period>: bad period 'soon'",
        ),
        (
            "<kind>LOG</kind>",
            "<kind>DELETE</kind>",
            f"<{TERM}/remediationAction/action[2]/kind>: unknown action kind 'DELETE'",
        ),
        (
            "<kind>stream</kind>",
            "<kind>pigeon</kind>",
            f"<{INDICATOR}/measurementSource/kind>: unknown source kind 'pigeon'",
        ),
        (
            "COUNT(ingress packets WHERE source ip NOT IN whitelist)",
            "COUNT(ingress packets WHERE source ip = 1)",
            f"<{INDICATOR}/kpiFormula>: invalid KPI formula at column 39: use '=='",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "InvalidSourcePacketCount &gt;",
            f"<{TERM}/breachCondition/formula>: invalid breach condition at column 27: "
            "expected a number after '>'",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "OtherCount &gt; 0",
            f"<{TERM}/breachCondition/formula>: breach condition refers to 'OtherCount'",
        ),
        (
            "InvalidSourcePacketCount &gt; 0",
            "COUNT(packets) &gt; 0",
            f"<{TERM}/breachCondition/formula>: expected a comparison of",
        ),
        (
            "<unit>packets</unit>",
            "<unit>packets</unit><unit>bytes</unit>",
            f"<{INDICATOR}/unit>: repeated",
        ),
        ("<unit>packets</unit>", "<unit> </unit>", f"<{INDICATOR}/unit>: empty"),
        (
            "<intent>slice-isolated</intent>",
            "<intent><b>x</b></intent>",
            "<ServiceLevelAgreement/intent>: unexpected child element",
        ),
        (
            "<slice>cameras</slice>",
            "<slice>cameras</slice>stray",
            "<ServiceLevelAgreement>: unexpected text after <slice>",
        ),
        (' id="SLA-Slice-Isolation"', "", "<ServiceLevelAgreement>: missing attribute"),
        (
            ' id="SLA-Slice-Isolation"',
            ' id="a" version="2"',
            "<ServiceLevelAgreement>: unexpected attribute 'version'",
        ),
        (
            "<remediationAction>",
            "<remediationAction xmlns='urn:other'>",
            f"<{TERM}/remediationAction>: namespace 'urn:other'",
        ),
    ],
)
def test_malformed_documents_name_the_line_and_element(old: str, new: str, expected: str) -> None:
    assert old in LEGACY
    message = refused(LEGACY.replace(old, new, 1))
    assert re.match(rf"s\.xml:\d+: {re.escape(expected)}", message), message


def test_missing_term_parts() -> None:
    for part in ("serviceLevelIndicator", "breachCondition", "remediationAction"):
        start = LEGACY.index(f"<{part}>")
        end = LEGACY.index(f"</{part}>") + len(f"</{part}>")
        message = refused(LEGACY[:start] + LEGACY[end:])
        assert message == f"s.xml:6: <{TERM}/{part}>: missing"


def test_no_terms_no_actions_duplicate_terms() -> None:
    start, end = LEGACY.index("<guaranteeTerm>"), LEGACY.index("</ServiceLevelAgreement>")
    assert "guaranteeTerm>: missing; expected at least one" in refused(
        LEGACY[:start] + LEGACY[end:]
    )
    start, end = LEGACY.index("<action>"), LEGACY.index("</remediationAction>")
    assert "remediationAction/action>: missing; expected at least one" in refused(
        LEGACY[:start] + LEGACY[end:]
    )
    term = LEGACY[LEGACY.index("<guaranteeTerm>") : LEGACY.index("</ServiceLevelAgreement>")]
    twice = LEGACY.replace(term, term + term)
    assert refused(twice) == (
        "s.xml:41: <ServiceLevelAgreement/guaranteeTerm[2]/name>: duplicate term "
        "'NetworkSliceIsolationAndWhitelisting'"
    )


def test_wrong_root() -> None:
    assert refused("<SLA id='x'/>").startswith("s.xml:1: <SLA>: unexpected root element")


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
        ("<value>192.0.2.7</value>", "<value></value>", "namedSet[1]/value[2]>: empty"),
    ],
)
def test_named_set_refused(old: str, new: str, expected: str) -> None:
    assert old in LEGACY
    assert expected in refused(LEGACY.replace(old, new, 1))


def test_named_set_repeated_refused() -> None:
    named = '<namedSet name="whitelist" kind="values"><value>a</value></namedSet>'
    text = LEGACY.replace("</serviceLevelIndicator>", named + "</serviceLevelIndicator>", 1)
    assert "namedSet[2]>: duplicate set 'whitelist'" in refused(text)
