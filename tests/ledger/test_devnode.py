"""The Hardhat development node's starter: a node that cannot start is named with its
output, and nothing of it is left running (the node itself: `test_hardhat.py`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from secmas.ledger.devnode import NodeDidNotStart, hardhat_node


@pytest.mark.skipif(shutil.which("npx") is None, reason="needs npx (scripts/setup --test)")
def test_a_folder_without_hardhat_fails_naming_the_url_and_the_output(tmp_path: Path) -> None:
    refused = pytest.raises(NodeDidNotStart, match=r"did not come up on http://127\.0\.0\.1:\d+")
    with refused, hardhat_node(tmp_path, timeout=60.0):
        pytest.fail("no node can answer from an empty folder")
