"""A run's CTI with the domains' keys from a key file ($SECMAS_CTI_KEYS): the same hygiene
as with keys drawn for the run, and a bad key file named without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secmas.api.defence import KEYS_VARIABLE, adaptive_defence
from secmas.api.errors import RunInputError
from secmas.cti.signing import jwk_set, new_keys, thumbprint
from secmas.scenario.loader import load_scenario

SCENARIO_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "adaptive-defence.yaml"
DOMAINS = ["edge-a", "edge-b", "core-c"]


def test_a_run_signs_with_the_keys_of_the_key_file(tmp_path: Path, monkeypatch) -> None:
    keys = new_keys(DOMAINS)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(jwk_set(keys, private=True)))
    monkeypatch.setenv(KEYS_VARIABLE, str(path))
    defence = adaptive_defence(load_scenario(SCENARIO_FILE), SCENARIO_FILE)
    assert defence.hygiene is not None
    summary = defence.hygiene.exchanged.summary()
    assert summary["keys"] == {d: thumbprint(keys[d].public) for d in DOMAINS}
    assert all(r["refused"] == [] for r in summary["received"])
    assert summary["hygiene"]["edge-b"] == pytest.approx(0.361, abs=1e-3)
    assert defence.hygiene.excluded == {
        "pop5": "domain core-c hygiene 0.011 is below the threshold 0.300"
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"keys": [', "not JSON"),
        (json.dumps(jwk_set(new_keys(["edge-a", "edge-b"]), private=True)), "'core-c'"),
    ],
)
def test_a_bad_key_file_is_named(tmp_path: Path, monkeypatch, content: str, reason: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    monkeypatch.setenv(KEYS_VARIABLE, str(path))
    with pytest.raises(RunInputError) as refused:
        adaptive_defence(load_scenario(SCENARIO_FILE), SCENARIO_FILE)
    said = str(refused.value)
    assert said.startswith(f"${KEYS_VARIABLE}: {path}") and reason in said
