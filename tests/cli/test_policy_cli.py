"""`secmas policy check`: intent files and SSLA documents, output, files and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from secmas.cli.policy import register
from secmas.policy.ssla import from_xml

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)

EXAMPLE = Path(__file__).parents[2] / "scenarios" / "policies" / "slice-isolation.yaml"


def check(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["policy", "check", *map(str, args)], env={"COLUMNS": "250"})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_json_gives_the_sslas_conflicts_and_files_as_one_document(tmp_path: Path) -> None:
    code, output = check(EXAMPLE, "--out", tmp_path / "out", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert (document["valid"], document["holds"]) == (True, "4 intents → 4 SSLAs")
    (term, *_) = document["sslas"][0]["terms"]
    assert term["breach"] == "InvalidSourcePackets > 0"
    assert term["remediation"][0]["kind"] == "REJECT_PACKET"
    (conflict,) = document["conflicts"]
    assert conflict["explanation"].startswith("conflict on slice protected-web")
    assert sorted(Path(p).name for p in document["written"]) == sorted(
        p.name for p in (tmp_path / "out").iterdir()
    )


def test_json_of_a_bad_file_lists_its_problems_and_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "e.xml"
    empty.write_text("")
    code, output = check(empty, "--json")
    assert code == 2
    assert json.loads(output) == {
        "file": str(empty),
        "valid": False,
        "problems": [f"{empty}: the file is empty"],
    }


def test_example_intents_print_their_rules_and_write_xml(tmp_path: Path) -> None:
    code, output = check(EXAMPLE, "--out", tmp_path / "out")
    assert code == 0, output
    for text in (
        "web-isolated",
        "COUNT(packets WHERE source_ip NOT IN whitelist) == 0",
        "InvalidSourcePackets > 0",
        "REJECT_PACKET",
        "availability >= 99.95",
        "REVOKE",
        "valid, 4 intents → 4 SSLAs",
        "conflict on slice protected-web: ssla-partner-cdn/AllowedSources vs "
        "ssla-web-isolated/SliceIsolation",
    ):
        assert text in output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "ssla-agents-encrypted.xml",
        "ssla-partner-cdn.xml",
        "ssla-web-available.xml",
        "ssla-web-isolated.xml",
    ]
    document = tmp_path / "out" / "ssla-web-isolated.xml"
    assert from_xml(document.read_text()).intent == "web-isolated"
    code, output = check(document)
    assert code == 0 and "valid, an SSLA with 1 guarantee term" in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("intents: [\n", "p.yaml:2: (top level): YAML syntax"),
        (
            "intents:\n  - {id: a, slice: w, kind: firewall}\n",
            "p.yaml:2: intents[0].kind: unknown intent kind 'firewall'",
        ),
        (
            "intents:\n  - {id: a, slice: w, kind: isolation, whitelist: [10.1.0.1/16]}\n",
            "p.yaml:2: intents[0].whitelist[0]: not an IP address or CIDR prefix",
        ),
    ],
)
def test_bad_intent_files_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    code, output = check(path)
    assert code == 2
    assert f"error: {tmp_path / expected}" in output.replace("\n", "")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<ServiceLevelAgreement id="x"><intent>&b;</intent></ServiceLevelAgreement>
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "s.xml: refused: the document declares a DTD"),
        ("<ServiceLevelAgreement id='x'>", "s.xml:1:31: not well-formed XML"),
        (
            "<ServiceLevelAgreement id='x'><intent>i</intent></ServiceLevelAgreement>",
            "s.xml:1: <ServiceLevelAgreement/guaranteeTerm>: missing; expected at least one",
        ),
        (
            "<ServiceLevelAgreement xmlns='urn:ngsi-ld:SLA:2' id='x'/>",
            "s.xml:1: <ServiceLevelAgreement>: namespace 'urn:ngsi-ld:SLA:2', expected "
            "'urn:ngsi-ld:SLA:1.0' or 'urn:secmas:ssla:1'",
        ),
    ],
)
def test_bad_ssla_documents_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "s.xml"
    path.write_text(text)
    code, output = check(path)
    assert code == 2
    [line] = output.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / expected}")
    assert "aaaaaaaaaaaaaaaaaaaa" not in output


FIGURE_3 = Path(__file__).parents[1] / "policy" / "data" / "figure3-slice-isolation.xml"


def test_the_seeds_figure_3_passes_and_round_trips(tmp_path: Path) -> None:
    code, output = check(FIGURE_3, "--out", tmp_path / "out")
    assert code == 0, output
    for text in (
        "SLA-Slice-Isolation",
        "Isolation Guarantee for Slice",
        "PacketSourceCompliance = 100 percent",
        "COUNT(ingress packets WHERE source ip NOT IN whitelist)",
        "(set whitelist: not defined in the document; a run needs its <namedSet>)",
        "NOTIFY → SecurityOrchestrator",
        "valid, an SSLA with 1 guarantee term",
    ):
        assert text in output
    written = tmp_path / "out" / "SLA-Slice-Isolation.xml"
    assert 'xmlns="urn:ngsi-ld:SLA:1.0"' in written.read_text()
    assert from_xml(written.read_text()) == from_xml(FIGURE_3.read_text())
    code, output = check(written)
    assert code == 0 and "valid, an SSLA with 1 guarantee term" in output


def test_a_conflict_is_reported_once_as_a_policy_conflict() -> None:
    code, output = check(EXAMPLE)
    assert code == 0
    assert "policy conflict on slice protected-web" in output
    assert "conflict conflict" not in output


def test_bad_formula_in_ssla_exits_2(tmp_path: Path) -> None:
    code, _ = check(EXAMPLE, "--out", tmp_path)
    assert code == 0
    path = tmp_path / "ssla-web-available.xml"
    path.write_text(path.read_text().replace("availability &gt;= 99.95", "availability >== 1"))
    code, output = check(path)
    assert code == 2
    assert "kpiFormula>: invalid KPI formula at column 16" in output


def test_unreadable_file_and_unwritable_folder(tmp_path: Path) -> None:
    code, output = check(tmp_path / "none.yaml")
    assert code == 2 and "none.yaml: cannot read file" in output
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, output = check(EXAMPLE, "--out", blocker)
    assert code == 2 and f"--out {blocker}: a file, not a folder" in output


XML = '<?xml version="1.0"?><ServiceLevelAgreement id="x"/>'


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("e.xml", b"", "e.xml: the file is empty"),
        ("e.yaml", b"", "e.yaml: the file is empty"),
        ("w.xml", b" \r\n\t\n", "w.xml: it holds only white space"),
        ("m.xml", b"\xef\xbb\xbf", "m.xml: the file is empty"),
        (
            "u.xml",
            XML.encode("utf-16"),
            "u.xml: not UTF-8 text (it starts with a UTF-16 byte-order mark): save it as UTF-8",
        ),
        ("b.xml", b"\xfe\xff" + XML.encode("utf-16-be"), "a UTF-16 byte-order mark"),
        ("t.xml", XML.encode("utf-32"), "(it starts with a UTF-32 byte-order mark)"),
        ("n.xml", XML.encode("utf-16-le"), "not UTF-8 text (a NUL byte at offset 1"),
        ("l.yaml", "intents: []  # café\n".encode("latin-1"), "(byte 0xe9 at offset 18)"),
        ("c.yaml", "intents: []  # café".encode()[:-1], "(byte 0xc3 at offset 18)"),
    ],
)
def test_empty_and_non_utf8_files_exit_2_saying_so(
    tmp_path: Path, name: str, data: bytes, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, output = check(path)
    assert code == 2, output
    [line] = output.strip().splitlines()
    assert line.startswith(f"error: {path}: "), line
    assert says in line and "codec" not in line
    if "UTF-8" in says or "byte" in says:
        assert line.endswith(": save it as UTF-8")


def test_crlf_and_a_utf8_byte_order_mark_are_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"\n", b"\r\n"))
    assert check(path)[0] == 0
    figure = tmp_path / "f3.xml"
    figure.write_bytes(b"\xef\xbb\xbf" + FIGURE_3.read_bytes())
    assert check(figure)[0] == 0
