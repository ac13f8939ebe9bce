"""Traffic Light Protocol 2.0 markings for shared CTI (deliverable 004, Section 4.1; FIRST
TLP 2.0, August 2022).

STIX 2.1 predefines only TLP 1.0 (WHITE, GREEN, AMBER, RED). TLP 2.0 is published by OASIS
as five `marking-definition` objects with fixed ids, each carrying the TLP 2.0 property
extension (`cti-stix-common-objects`, extension-definition-specifications/tlp-2.0); CTI
tools (OpenCTI, MISP) recognise them by these ids, so they are reproduced byte for byte.

The publisher chooses the level by name, case-insensitively, with or without `TLP:`. TLP
1.0 names are accepted as aliases of the TLP 2.0 level that replaced them: WHITE → CLEAR,
GREEN, AMBER and RED → the same name (TLP 2.0 keeps their meaning); AMBER+STRICT has no
TLP 1.0 counterpart.
"""

from __future__ import annotations

from typing import Any

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS TLP 2.0 property extension."""
TLP2_CREATED = "2022-10-01T00:00:00.000Z"

TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""TLP 2.0 level → the id OASIS published for its marking definition."""

TLP1_ALIASES = {"white": "clear", "green": "green", "amber": "amber", "red": "red"}
"""TLP 1.0 name → the TLP 2.0 level it maps to."""


def tlp_level(name: str) -> str:
    """The TLP 2.0 level `name` stands for (`TLP:WHITE` → `clear`); ValueError naming the
    accepted names otherwise."""
    text = name.strip().lower()
    text = text.removeprefix("tlp:")
    if text in TLP2_IDS:
        return text
    if text in TLP1_ALIASES:
        return TLP1_ALIASES[text]
    accepted = ", ".join(f"TLP:{level.upper()}" for level in TLP2_IDS)
    raise ValueError(
        f"unknown TLP level {name!r}: expected one of {accepted} "
        "(TLP 1.0 WHITE is taken as CLEAR; GREEN, AMBER and RED keep their names)"
    )


def tlp_marking(name: str) -> dict[str, Any]:
    """The OASIS TLP 2.0 `marking-definition` object for `name` (see `tlp_level`)."""
    level = tlp_level(name)
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    }
