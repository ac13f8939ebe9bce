"""Importing the ledger leaves the process's recursion limit alone (see secmas.ledger)."""

from __future__ import annotations

import json

import pytest

import secmas.ledger


def test_deep_recursion_still_raises_recursion_error() -> None:
    assert secmas.ledger.PYTHON_RECURSION_LIMIT == 1000
    # With py-evm's limit of 100 000 this overflowed the C stack (segfault).
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000)
