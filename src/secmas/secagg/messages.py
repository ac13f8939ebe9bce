"""The messages of the protocols, as plain immutable data (no behaviour, no transport).

Centralised secure aggregation (Bonawitz et al., CCS 2017, Fig. 4), server → client
requests and client → server replies, by round:

| round | server sends | client replies |
| --- | --- | --- |
| 0 advertise keys | `Setup` (the session's `Config`) | `Advertise` (two signed X25519 keys) |
| 1 share keys | `KeyBook` (the neighbours' adverts) | `ShareCiphertexts` (encrypted shares) |
| 2 masked input | `Forwarded` (the shares sent to it) | `MaskedInput` (y = x + masks in Z_2^w) |
| 3 consistency | `Survivors` (U3) | `ConsistencySignature` (signature over U3) |
| 4 unmasking | `SignatureBook` (neighbours' signatures) | `UnmaskShares` (b or s^SK shares) |

MPC-based aggregation (`secmas.secagg.mpc`) adds `MpcShare` (client → computation party),
`PartyView` and `PartySum` (party → parties). `secmas.secagg.wire` turns each into bytes and back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from secmas.secagg.neighbours import neighbourhoods
from secmas.secagg.quantise import Quantiser, Ring

__all__ = [
    "MAX_CLIENT_ID",
    "SESSION_BYTES",
    "Advertise",
    "Config",
    "ConsistencySignature",
    "Forwarded",
    "KeyBook",
    "MaskedInput",
    "Message",
    "MpcShare",
    "PartySum",
    "PartyView",
    "Setup",
    "ShareCiphertexts",
    "SignatureBook",
    "Survivors",
    "UnmaskShares",
]

SESSION_BYTES = 16
MAX_CLIENT_ID = 2**31 - 3
"""Client ids are below this: id + 1 is a client's Shamir x-coordinate in GF(2³¹ − 1)."""


@dataclass(frozen=True)
class Config:
    """One aggregation session: who takes part and how inputs are encoded.

    `clients`: sorted distinct ids; `threshold` t and `degree` k (k = n − 1: complete
    graph) as `secmas.secagg.neighbours.choose` derives them; `length`: floats per input;
    `clip` and `bits`: the `Quantiser`; `ring_bits`: the ring the masked vectors live in.
    """

    session: bytes
    clients: tuple[int, ...]
    threshold: int
    degree: int
    length: int
    clip: float = 1.0
    bits: int = 16
    ring_bits: int = 32

    def __post_init__(self) -> None:
        if len(self.session) != SESSION_BYTES:
            raise ValueError(f"a session id has {SESSION_BYTES} bytes, got {len(self.session)}")
        ids = self.clients
        if len(ids) < 3 or list(ids) != sorted(set(ids)):
            raise ValueError("clients must be at least 3 distinct ids in increasing order")
        if ids[0] < 0 or ids[-1] > MAX_CLIENT_ID:
            raise ValueError(f"client ids must lie in [0, {MAX_CLIENT_ID}]")
        if not 1 <= self.degree <= len(ids) - 1:
            raise ValueError(f"degree must be in [1, {len(ids) - 1}], got {self.degree}")
        if not 2 <= self.threshold <= self.degree + 1:
            raise ValueError(
                f"threshold must be in [2, degree + 1 = {self.degree + 1}], got {self.threshold}"
            )
        if self.length < 1:
            raise ValueError(f"vector length must be ≥ 1, got {self.length}")
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clipping range must be positive, got {self.clip}")
        Ring(self.ring_bits)  # validates the width
        Quantiser(self.clip, self.bits)

    @property
    def quantiser(self) -> Quantiser:
        """How floats become integers."""
        return Quantiser(self.clip, self.bits)

    @property
    def ring(self) -> Ring:
        """Z_2^ring_bits."""
        return Ring(self.ring_bits)

    @property
    def width(self) -> int:
        """Ring elements per masked vector: the input and its clipped count."""
        return self.length + 1

    @property
    def wraps(self) -> bool:
        """Whether a sum of all clients could wrap around the ring (it must not)."""
        return self.quantiser.ring(len(self.clients), self.length).bits > self.ring_bits

    @cached_property
    def graph(self) -> Mapping[int, tuple[int, ...]]:
        """Each client's neighbours (the secret-sharing and pairwise-mask graph)."""
        return neighbourhoods(self.clients, self.degree, self.session)


@dataclass(frozen=True)
class Setup:
    """Round 0 request: the session's configuration."""

    config: Config


@dataclass(frozen=True)
class Advertise:
    """Round 0 reply: a client's two X25519 public keys (c^PK for encrypting shares,
    s^PK for pairwise masks), signed with its Ed25519 identity key."""

    client: int
    cipher_pk: bytes
    mask_pk: bytes
    signature: bytes


@dataclass(frozen=True)
class KeyBook:
    """Round 1 request: the adverts of the client's neighbours in U1 (and its own)."""

    adverts: tuple[Advertise, ...]


@dataclass(frozen=True)
class ShareCiphertexts:
    """Round 1 reply: (recipient, AE ciphertext of the recipient's shares) pairs, and the
    client's commitment to its self-mask seed b (SHA-256, `secmas.secagg.crypto.commit_seed`),
    by which the server knows a b rebuilt from shares is the one the client drew."""

    client: int
    commitment: bytes
    items: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class Forwarded:
    """Round 2 request: (sender, ciphertext) of every neighbour in U2 that shared to it."""

    items: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """Round 2 reply: the masked vector y_u in Z_2^w (uint32 or uint64)."""

    client: int
    vector: np.ndarray


@dataclass(frozen=True)
class Survivors:
    """Round 3 request: U3, the clients whose masked inputs the server took."""

    clients: tuple[int, ...]


@dataclass(frozen=True)
class ConsistencySignature:
    """Round 3 reply: the client's signature over the U3 it was shown."""

    client: int
    signature: bytes


@dataclass(frozen=True)
class SignatureBook:
    """Round 4 request: (client, signature over U3) of the neighbours in U4."""

    items: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, eq=False)
class UnmaskShares:
    """Round 4 reply: the client's shares (x = client + 1) of survivors' self-mask seeds b
    and of dropped clients' mask keys s^SK, as field-element vectors, by owner."""

    client: int
    self_mask: tuple[tuple[int, np.ndarray], ...] = field(default=())
    mask_key: tuple[tuple[int, np.ndarray], ...] = field(default=())


@dataclass(frozen=True, eq=False)
class MpcShare:
    """MPC round 1: a client's additive share for one computation party.

    `public` is the client's ephemeral X25519 key for this session and `signature` its
    Ed25519 signature over it (as an `Advertise` with both keys equal); `sealed` is an AE
    ciphertext under the key the client agreed with the party, bound to session, client,
    party and `public`: of the share vector for the client's lead party, of nothing for
    the others (their share is the PRG expansion of that key, which they compute
    themselves; the empty ciphertext proves the client took part).
    """

    client: int
    party: int
    public: bytes
    signature: bytes
    sealed: bytes


@dataclass(frozen=True)
class PartyView:
    """MPC round 2: the clients from which a party holds a valid share."""

    party: int
    clients: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class PartySum:
    """MPC round 2: a party's sum of the shares of the agreed clients, and that set."""

    party: int
    clients: tuple[int, ...]
    vector: np.ndarray


Message = (
    Setup
    | Advertise
    | KeyBook
    | ShareCiphertexts
    | Forwarded
    | MaskedInput
    | Survivors
    | ConsistencySignature
    | SignatureBook
    | UnmaskShares
    | MpcShare
    | PartyView
    | PartySum
)
