"""Importing the ledger, its in-process node (py-evm), its JSON-RPC client or its server
leaves the process's recursion limit alone (see secmas.ledger.node.restore_recursion_limit)."""

from __future__ import annotations

import importlib
import json

import pytest

import secmas.ledger


@pytest.mark.parametrize(
    "module",
    ["secmas.ledger", "secmas.ledger.evmnode", "secmas.ledger.rpcnode", "secmas.ledger.rpcserver"],
)
def test_deep_recursion_still_raises_recursion_error(module: str) -> None:
    importlib.import_module(module)
    assert secmas.ledger.PYTHON_RECURSION_LIMIT == 1000
    # With py-evm's limit of 100 000 this overflowed the C stack (segfault).
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000)
