"""Intent files: the models, and errors that name the file, line, field and reason."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError

from secmas.policy.intents import (
    KINDS,
    AvailabilityIntent,
    IntentError,
    IsolationIntent,
    load_intents,
    parse_intents,
)

EXAMPLE = Path(__file__).parents[2] / "scenarios" / "policies" / "slice-isolation.yaml"

EVERY_KIND = """\
intents:
  - {id: iso, slice: web, kind: isolation, whitelist: [10.1.0.0/16, 10.0.0.5, "2001:db8::/32"]}
  - {id: acc, slice: web, kind: access, sources: [192.0.2.0/24], priority: 5}
  - {id: res, slice: web, kind: residency, region: eu-west}
  - {id: pat, slice: web, kind: patching, within_hours: 24}
  - {id: ava, slice: web, kind: availability, percent: 99.95}
  - {id: enc, slice: web, kind: encryption, description: all agents' messages}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(IntentError) as info:
        parse_intents(text, "i.yaml")
    return [str(p) for p in info.value.problems]


def test_every_kind_loads() -> None:
    intents = parse_intents(EVERY_KIND).intents
    assert [i.kind for i in intents] == list(KINDS)
    iso = intents[0]
    assert isinstance(iso, IsolationIntent)
    assert iso.whitelist == (
        ip_network("10.1.0.0/16"),
        ip_network("10.0.0.5/32"),
        ip_network("2001:db8::/32"),
    )
    assert isinstance(intents[4], AvailabilityIntent) and intents[4].percent == 99.95
    assert intents[1].priority == 5 and intents[0].priority == 0


def test_example_file_loads() -> None:
    intents = load_intents(EXAMPLE).intents
    assert {i.kind for i in intents} == {"isolation", "availability", "encryption", "access"}
    iso = next(i for i in intents if isinstance(i, IsolationIntent))
    assert iso.whitelist == (ip_network("10.1.0.0/16"),)


def test_models_are_frozen_and_strict() -> None:
    intent = parse_intents(EVERY_KIND).intents[1]
    with pytest.raises(ValidationError):
        intent.slice = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        IsolationIntent(id="a", slice="s", kind="isolation", whitelist=[], extra=1)  # type: ignore[call-arg]


def test_unknown_kind_names_line_and_field() -> None:
    text = "intents:\n  - id: a\n    slice: web\n    kind: firewall\n"
    [msg] = problems(text)
    assert msg.startswith("i.yaml:4: intents[0].kind: unknown intent kind 'firewall'")
    assert "isolation" in msg


def test_missing_kind() -> None:
    [msg] = problems("intents:\n  - {id: a, slice: web}\n")
    assert msg.startswith("i.yaml:2: intents[0].kind: missing")


def test_field_errors_drop_the_kind_tag_and_keep_lines() -> None:
    text = (
        "intents:\n"
        "  - id: a\n"
        "    slice: web\n"
        "    kind: isolation\n"
        "    whitelist:\n"
        "      - 10.1.0.0/16\n"
        "      - 10.1.0.1/16\n"
        "  - {id: b, slice: web, kind: availability, percent: 120}\n"
        "  - {id: c, slice: web, kind: patching, within_hours: 0, color: red}\n"
    )
    msgs = problems(text)
    assert msgs[0] == (
        "i.yaml:7: intents[0].whitelist[1]: not an IP address or CIDR prefix: "
        "10.1.0.1/16 has host bits set"
    )
    assert msgs[1].startswith("i.yaml:8: intents[1].percent:") and "100" in msgs[1]
    assert any(m.startswith("i.yaml:9: intents[2].within_hours:") for m in msgs)
    assert any(m.startswith("i.yaml:9: intents[2].color:") and "Extra" in m for m in msgs)
    assert not any("too_short" in m or "at least 1 item" in m for m in msgs)


@pytest.mark.parametrize("entry", ["5", "not-an-ip", "300.1.1.1", "10.0.0.0/33"])
def test_bad_whitelist_entries(entry: str) -> None:
    [msg] = problems(f"intents: [{{id: a, slice: w, kind: isolation, whitelist: [{entry}]}}]")
    assert "intents[0].whitelist[0]" in msg


def test_empty_whitelist_and_empty_intents() -> None:
    [msg] = problems("intents: [{id: a, slice: w, kind: isolation, whitelist: []}]")
    assert "intents[0].whitelist" in msg
    [msg] = problems("intents: []")
    assert msg.startswith("i.yaml:1: intents:")


def test_duplicate_ids_point_at_the_second() -> None:
    entry = "  - {id: a, slice: w, kind: encryption}\n"
    text = "intents:\n" + entry + entry
    [msg] = problems(text)
    assert msg == "i.yaml:3: intents[1].id: duplicate intent id 'a'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("intents: [\n  {id: a\n", "i.yaml:3: (top level): YAML syntax"),
        ("- 1\n", "i.yaml: (top level): expected a mapping of intent fields"),
        ("", "i.yaml: (top level): expected a mapping"),
        ("intents: [{id: a, slice: w, kind: encryption}]\nversion: 2\n", "i.yaml:2: version:"),
    ],
)
def test_document_level_errors(text: str, expected: str) -> None:
    [msg] = problems(text)
    assert msg.startswith(expected), msg


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(IntentError) as info:
        load_intents(tmp_path / "missing.yaml")
    assert "missing.yaml: (top level): cannot read file" in str(info.value)
