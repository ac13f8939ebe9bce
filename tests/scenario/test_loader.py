"""Scenario YAML errors name the file, line, field and reason; nothing else escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.cli.main import default_scenario_path
from secmas.scenario.loader import ScenarioError, load_scenario, load_service, parse_scenario

REFERENCE = default_scenario_path().read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def test_reference_scenario_loads() -> None:
    scenario = parse_scenario(REFERENCE)
    assert scenario.id == "ddos-6pop" and len(scenario.pops) == 6


def test_unknown_pop_in_link() -> None:
    [msg] = problems(REFERENCE.replace("{a: pop3, b: pop4", "{a: pop3, b: popX"))
    assert "links[5].b" in msg and "unknown node 'popX'" in msg and msg.startswith("s.yaml:")


def test_negative_capacity_with_line() -> None:
    [msg] = problems(REFERENCE.replace("{id: pop2, cpu: 4", "{id: pop2, cpu: -4"))
    line = next(i for i, t in enumerate(REFERENCE.splitlines(), 1) if "id: pop2, cpu" in t)
    assert msg.startswith(f"s.yaml:{line}: pops[1].cpu:") and "greater than 0" in msg


def test_preferences_must_sum_to_one() -> None:
    [msg] = problems(REFERENCE.replace("{T: 0.0, C: 0.2, D: 0.8}", "{T: 0.1, C: 0.2, D: 0.8}"))
    assert "goals[2].preferences" in msg and "sum to 1" in msg


def test_unknown_operator() -> None:
    msgs = problems(
        REFERENCE.replace(
            'op: "<=", value: 100}]\n    vnfs: [rate_limiter]\n  - name: anomalous',
            'op: "=<", value: 100}]\n    vnfs: [rate_limiter]\n  - name: anomalous',
        )
    )
    assert any("goals[0].constraints[1].op" in m for m in msgs)


def test_duplicate_ids() -> None:
    msgs = problems(REFERENCE.replace("{id: pop4, cpu: 2", "{id: pop3, cpu: 2"))
    assert any("pops[3].id" in m and "duplicate" in m for m in msgs)


def test_yaml_syntax_error_has_line() -> None:
    [msg] = problems("id: x\npops: [\n  {id: a\n")
    assert msg.startswith("s.yaml:") and "YAML syntax" in msg


def test_unknown_field() -> None:
    [msg] = problems(REFERENCE.replace("seed: 7", "seed: 7\ncolour: blue"))
    assert "colour" in msg and "Extra inputs" in msg


def test_not_a_mapping() -> None:
    [msg] = problems("- 1\n- 2\n")
    assert "mapping" in msg


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_scenario(text)
    except ScenarioError as exc:
        assert exc.problems


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(REFERENCE) - 1), st.integers(1, 20), st.text(max_size=8))
def test_mutated_reference_never_crashes(at: int, cut: int, insert: str) -> None:
    text = REFERENCE[:at] + insert + REFERENCE[at + cut :]
    try:
        parse_scenario(text)
    except ScenarioError as exc:
        assert all(str(p) for p in exc.problems)


def test_a_network_service_descriptor_replaces_the_scenarios(tmp_path: Path) -> None:
    scenario = load_scenario(default_scenario_path())
    nsd = tmp_path / "nsd.yaml"
    nsd.write_text(
        "id: web-only\nvnfs:\n  - {id: guard, vnfd: rate_limiter, pop: pop5}\nmax_latency: 80\n"
    )
    service = load_service(nsd, scenario).service
    assert service is not None and service.id == "web-only"
    assert [(v.vnfd, v.pop) for v in service.vnfs] == [("rate_limiter", "pop5")]
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text(
        "service:\n" + "".join(f"  {line}\n" for line in nsd.read_text().splitlines())
    )
    assert load_service(wrapped, scenario).service == service


def test_a_bad_network_service_descriptor_names_file_line_and_field(tmp_path: Path) -> None:
    scenario = load_scenario(default_scenario_path())
    nsd = tmp_path / "nsd.yaml"
    nsd.write_text("id: web\nvnfs:\n  - {id: g, vnfd: firewall, pop: pop9}\n")
    with pytest.raises(ScenarioError) as caught:
        load_service(nsd, scenario)
    rendered = [str(p) for p in caught.value.problems]
    assert any("nsd.yaml:3: service.vnfs[0].vnfd: unknown VNF 'firewall'" in r for r in rendered)
    assert any("service.vnfs[0].pop: unknown PoP 'pop9'" in r for r in rendered)
    nsd.write_text("- just a list\n")
    with pytest.raises(ScenarioError, match="expected a mapping of network-service fields"):
        load_service(nsd, scenario)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("{id: pop1, cpu: 4,", "{id: pop1, cpu: true,", "pops[0].cpu"),
        ("{id: pop1, cpu: 4,", "{id: pop1, cpu: yes,", "pops[0].cpu"),
        ("latency: 8, loss: 0.5}", "latency: 8, loss: true}", "links[0].loss"),
        ("seed: 7", "seed: true", "seed"),
        ("  attackers: 8\n", "  attackers: true\n", "attack.attackers"),
        ("  ports: [8000, 8080]\n  attach", "  ports: [true, 8080]\n  attach", "attack.ports"),
        (
            '[{measure: P, op: "<=", value: 8}, {measure: L',
            '[{measure: P, op: "<=", value: true}, {measure: L',
            "goals[0].constraints[0].value",
        ),
        ("    period: 10\n", "    period: true\n", "security.attestation.period"),
    ],
)
def test_a_boolean_is_not_a_number(old: str, new: str, where: str) -> None:
    """YAML reads true, yes and on as booleans; a number field would take one for 1."""
    assert old in REFERENCE
    text = REFERENCE.replace(old, new, 1)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if new.split("\n")[0] in t)
    [msg] = problems(text)
    assert msg == f"s.yaml:{line}: {where}: a number is needed, not the boolean true"


def test_a_boolean_false_is_named_and_boolean_fields_keep_booleans() -> None:
    [msg] = problems(REFERENCE.replace("  split_parts: 2\n", "  split_parts: false\n"))
    assert msg.endswith("defence.split_parts: a number is needed, not the boolean false")
    kept = parse_scenario(REFERENCE.replace("  serialised: false\n", "  serialised: true\n"))
    assert kept.defence is not None and kept.defence.serialised is True
