"""The compiled contracts shipped with the package, and the check that they are current.

`scripts/compile-contracts` writes one JSON artifact per contract (ABI, bytecode, solc
version, sha256 of every source); the sources ship beside them, so staleness shows without
a compiler: a source whose hash differs from the artifact's was edited after compiling.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

CONTRACT_NAMES = ("AgentRegistry", "AuditAnchor", "Reputation", "SecretStore")


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    solc_version: str
    sources: dict[str, str]
    """sha256 (hex) of every source in the compilation, by file name."""


@cache
def load_artifact(name: str) -> Artifact:
    """The packaged artifact of contract `name` (one of CONTRACT_NAMES)."""
    if name not in CONTRACT_NAMES:
        raise ValueError(f"unknown contract {name!r}; known: {', '.join(CONTRACT_NAMES)}")
    path = resources.files("secmas.ledger") / "artifacts" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=data["contractName"],
        abi=tuple(data["abi"]),
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"].removeprefix("0x")),
        solc_version=data["compiler"]["version"],
        sources=dict(data["sources"]),
    )


def source_sha256(file_name: str) -> str:
    """sha256 (hex) of a packaged contract source, as compile.js computes it."""
    source = resources.files("secmas.ledger") / "contracts" / file_name
    return hashlib.sha256(source.read_bytes()).hexdigest()


def stale_sources(name: str) -> list[str]:
    """Sources of contract `name` changed since its artifact was compiled (empty: current)."""
    artifact = load_artifact(name)
    return sorted(f for f, digest in artifact.sources.items() if source_sha256(f) != digest)
