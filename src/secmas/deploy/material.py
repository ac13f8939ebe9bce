"""The secrets of one deployment, made with the project's own issuers.

The bus's CA and server certificate come from `secmas.transport.tls.issue_run_pki` (the
CA's key is thrown away once the certificate is signed: nobody can add a server to the
cluster later), the clients' nkeys and subject permissions from
`secmas.pipeline.busaccess.issue_pipeline_users`, exactly as a local multi-process run
makes them. Those functions write files; here they write into a private temporary folder
that is removed before `issue` returns, and the bytes are kept for the Secrets.

Each agent's measurer gets its own Ed25519 signing key; its public half is published (a
ConfigMap) so that a verifier can check the evidence it signs.

`issue_run_pki` certificates are valid for two days (`secmas.transport.tls`): a longer-lived
deployment re-runs `secmas deploy kubernetes` and re-applies the Secrets.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.pipeline.busaccess import SERVER, issue_pipeline_users
from secmas.transport.credentials import NatsUser
from secmas.transport.tls import issue_run_pki


@dataclass(frozen=True)
class BusMaterial:
    """The NATS cluster's certificate (one, for all its servers) and the clients' users."""

    ca: bytes
    certificate: bytes
    key: bytes = field(repr=False)
    seeds: dict[str, bytes] = field(repr=False)
    """Each client's nkey seed (the MLFO's and every agent's), by client name."""
    users: tuple[NatsUser, ...]
    """What the servers' `authorization` block admits: public keys and permissions."""


@dataclass(frozen=True)
class MeasurerKey:
    """One measurer's signing key (private, PKCS#8 PEM) and its public key (hex)."""

    private_pem: bytes = field(repr=False)
    public_hex: str


@dataclass(frozen=True)
class Material:
    bus: BusMaterial
    measurers: dict[str, MeasurerKey]
    """By PoP id."""


def issue_bus(pipeline: str, pops: Sequence[str], hosts: Sequence[str]) -> BusMaterial:
    """A fresh CA, one server certificate valid for `hosts`, and an nkey per client."""
    with tempfile.TemporaryDirectory(prefix="secmas-deploy-") as private:
        folder = Path(private) / "bus"
        certificate = issue_run_pki(folder, [SERVER], hosts)[SERVER]
        users = issue_pipeline_users(folder, pipeline, list(pops))
        seeds = {u.name: u.seed_file.read_bytes() for u in users if u.seed_file is not None}
        return BusMaterial(
            certificate.ca_file.read_bytes(),
            certificate.cert_file.read_bytes(),
            certificate.key_file.read_bytes(),
            seeds,
            tuple(replace(u, seed_file=None) for u in users),  # the folder is going
        )


def measurer_key() -> MeasurerKey:
    """A fresh Ed25519 key for one measurer."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return MeasurerKey(private, key.public_key().public_bytes_raw().hex())


def issue(pipeline: str, pops: Sequence[str], bus_hosts: Sequence[str]) -> Material:
    """Everything secret a deployment of `pipeline` with agents `pops` needs."""
    return Material(issue_bus(pipeline, pops, bus_hosts), {p: measurer_key() for p in pops})
