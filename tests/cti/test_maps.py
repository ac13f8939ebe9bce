"""Sensitivity and necessity maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.cti.errors import CTIInputError
from secmas.cti.maps import FieldMap, load_field_map, parse_field_map
from secmas.cti.reports import FIELDS, MAP_FIELDS

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "cti"


def test_example_maps_cover_every_structured_field_and_leave_free_text_confidential() -> None:
    sensitivity = load_field_map(SCENARIOS / "sensitivity.yaml", "sensitivity")
    necessity = load_field_map(SCENARIOS / "necessity.yaml", "necessity")
    structured = set(FIELDS) - {"title"}
    assert set(sensitivity.fields) == set(necessity.fields) == structured
    assert sensitivity.of("host_ip") == 0.9
    assert necessity.of("cve") == 1.0
    for free_text in set(MAP_FIELDS) - structured:  # unlisted: the defaults drop it
        assert (sensitivity.of(free_text), necessity.of(free_text)) == (1.0, 0.0)


def test_free_text_fields_may_be_weighed() -> None:
    text = "kind: sensitivity\nfields:\n  title: 0.3\n  scanner: 0\n  task: 1\n"
    weights = parse_field_map(text, "sensitivity")
    assert (weights.of("title"), weights.of("scanner"), weights.of("task")) == (0.3, 0.0, 1.0)
    with pytest.raises(ValueError, match="unknown field 'banner'"):
        FieldMap("sensitivity", {"banner": 0.5})


def test_defaults_of_unlisted_fields() -> None:
    assert FieldMap("sensitivity").of("os") == 1.0
    assert FieldMap("necessity").of("os") == 0.0
    assert FieldMap("necessity", {"os": 0.3}, default=0.5).of("cpe") == 0.5
    assert parse_field_map("fields: {cve: 0}\n", "sensitivity").of("cve") == 0.0


def test_values_and_fields_are_checked_with_lines() -> None:
    text = (
        "kind: necessity\ndefault: 2\nfields:\n  cve: 0.5\n  colour: 1\n  os: high\n  cpe: true\n"
    )
    with pytest.raises(CTIInputError) as caught:
        parse_field_map(text, "necessity", "n.yaml")
    found = {(p.field, p.line) for p in caught.value.problems}
    assert found == {("default", 2), ("fields.colour", 5), ("fields.os", 6), ("fields.cpe", 7)}
    assert "expected a number in [0, 1], got 'high'" in str(caught.value)
    assert "n.yaml:5: fields.colour: unknown field" in str(caught.value)


def test_a_sensitivity_map_is_not_a_necessity_map() -> None:
    with pytest.raises(CTIInputError, match="this is a 'sensitivity' map, expected a 'necessity'"):
        parse_field_map("kind: sensitivity\nfields: {}\n", "necessity")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fields: [cve]\n", "expected a mapping of field: weight"),
        ("- cve\n", "expected a mapping with 'fields'"),
        ("fields: {cve: 1}\nextra: 2\n", "unknown key"),
        ("fields:\n  cve: [1\n", "YAML syntax"),
    ],
)
def test_malformed_maps(text: str, reason: str) -> None:
    with pytest.raises(CTIInputError, match=reason):
        parse_field_map(text, "sensitivity")


def test_field_map_checks_its_values() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        FieldMap("sensitivity", {"colour": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        FieldMap("necessity", {"cve": 1.5})


def test_unreadable_map(tmp_path: Path) -> None:
    with pytest.raises(CTIInputError, match="cannot read file"):
        load_field_map(tmp_path / "absent.yaml", "sensitivity")
