"""TLP 2.0 markings: the OASIS objects by their fixed ids, TLP 1.0 aliases, unknown names."""

from __future__ import annotations

import json

import pytest
import stix2

from secmas.cti.markings import TLP1_ALIASES, TLP2_EXTENSION, TLP2_IDS, tlp_level, tlp_marking


def test_every_level_is_the_oasis_object() -> None:
    assert TLP2_IDS["amber+strict"] == "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    for level, ident in TLP2_IDS.items():
        marking = tlp_marking(level)
        assert marking["id"] == ident
        assert marking["name"] == f"TLP:{level.upper()}"
        assert marking["extensions"][TLP2_EXTENSION]["tlp_2_0"] == level
        parsed = stix2.parse(json.dumps(marking), allow_custom=False)
        assert parsed.created.isoformat().startswith("2022-10-01")


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("white", "clear"),
        ("TLP:WHITE", "clear"),
        ("Clear", "clear"),
        ("green", "green"),
        ("tlp:amber+strict", "amber+strict"),
        (" AMBER ", "amber"),
        ("red", "red"),
    ],
)
def test_names_and_tlp_1_aliases(name: str, level: str) -> None:
    assert tlp_level(name) == level


def test_tlp_1_names_map_onto_tlp_2() -> None:
    assert set(TLP1_ALIASES.values()) <= set(TLP2_IDS)
    assert tlp_marking("white")["id"] != stix2.TLP_WHITE.id  # TLP 2.0, not the 1.0 object


def test_unknown_levels_are_refused_with_the_accepted_names() -> None:
    with pytest.raises(ValueError, match=r"unknown TLP level 'purple'.*TLP:AMBER\+STRICT"):
        tlp_level("purple")
    with pytest.raises(ValueError, match="unknown TLP level 'amber-strict'"):
        tlp_marking("amber-strict")
