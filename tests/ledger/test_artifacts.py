"""The committed artifacts match the contract sources (hashes), and solc-js reproduces them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.ledger.conftest import TOOLS, node_tools_missing

from secmas.ledger.artifacts import CONTRACT_NAMES, load_artifact, stale_sources

ARTIFACTS = Path(__file__).resolve().parents[2] / "src" / "secmas" / "ledger" / "artifacts"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifacts_were_compiled_from_the_current_sources(name: str) -> None:
    assert stale_sources(name) == [], "sources changed: run scripts/compile-contracts"
    artifact = load_artifact(name)
    assert artifact.solc_version.startswith("0.8.")
    assert artifact.bytecode and artifact.deployed_bytecode


def test_solc_reproduces_the_committed_artifacts(tmp_path: Path) -> None:
    missing = node_tools_missing()
    if missing:
        pytest.skip(f"recompiling the contracts needs solc-js: {missing}")
    subprocess.run(
        ["node", str(TOOLS / "compile.js"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in CONTRACT_NAMES:
        fresh = json.loads((tmp_path / f"{name}.json").read_text())
        committed = json.loads((ARTIFACTS / f"{name}.json").read_text())
        assert fresh == committed, f"{name}: run scripts/compile-contracts and commit the result"
