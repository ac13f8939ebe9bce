"""MPC-based secure aggregation: additive shares over m computation parties (004_…
Section 5.1, Figure 9).

No single server sees an input, masked or not. Each client u

1. makes an ephemeral X25519 key pair and signs it with its identity key (as round 0 of
   the centralised protocol), and agrees a secret with each party j's published X25519
   key: k_{u,j} = HKDF(KA(c_u^SK, P_j^PK));
2. quantises its input into Z_2^w (`secmas.secagg.quantise`) and splits it into m
   additive shares: for every party j but its lead party ℓ = u mod m the share is the mask
   r_{u,j} = PRG(k_{u,j}), which party j expands itself; the lead's share is the masked
   input x_u − Σ_{j≠ℓ} r_{u,j}, sent AES-GCM-encrypted; the others get an empty
   authenticated ciphertext that proves u took part.

Each share alone is uniform in Z_2^w: fewer than m colluding parties learn nothing about
x_u. Then the parties

3. announce which clients they hold valid shares of (`PartyView`); all use the same
   intersection S — a client that reached only some parties, or reached a party after it
   announced its view (late), is left out, and its shares, each uniform, reveal nothing;
4. publish their sums over S (`PartySum`); only the total Σ_j Z_j = Σ_{u∈S} x_u is ever
   reconstructed (`combine`).

Dropouts: any number of clients may drop as long as |S| ≥ t (the threshold the threat
model gives the centralised protocol); fewer is a ThresholdError. A computation party
that fails stops the round (additive shares need every party; parties are
infrastructure, not clients). The per-client shares (`ComputationParty.shares`) are what
`secmas.secagg.robust` works on to aggregate robustly under MPC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg import crypto, prg, wire
from secmas.secagg.errors import ProtocolAbort, ThresholdError
from secmas.secagg.messages import SESSION_BYTES, Config, MpcShare, PartySum, PartyView
from secmas.secagg.neighbours import ThreatModel, choose
from secmas.secagg.protocol import Aggregate
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import Identities

__all__ = [
    "ComputationParty",
    "MpcClient",
    "MpcRun",
    "combine",
    "mpc_config",
    "run_mpc",
]


def _context(session: bytes, client: int, party: int) -> bytes:
    return session + client.to_bytes(4, "little") + party.to_bytes(4, "little")


def _aad(session: bytes, client: int, party: int, public: bytes) -> bytes:
    return b"secmas.secagg/mpc-share" + _context(session, client, party) + public


def lead_party(client: int, parties: int) -> int:
    """The party that receives client's explicit (masked) share."""
    return client % parties


class MpcClient:
    """A client of MPC aggregation: `shares` makes its message to every party."""

    def __init__(
        self, client: int, identity: Ed25519PrivateKey, config: Config, party_keys: Sequence[bytes]
    ) -> None:
        if client not in config.clients:
            raise ProtocolAbort(f"client {client} is not in the session's roster")
        if len(party_keys) < 2:
            raise ValueError("MPC aggregation needs at least 2 computation parties")
        self.id = client
        self.config = config
        self._identity = identity
        self._parties = list(party_keys)
        self.clipped = 0

    def shares(self, x: np.ndarray) -> list[MpcShare]:
        """One message per party (index = party): additive shares of the quantised x."""
        config = self.config
        values = np.asarray(x, dtype=np.float64)
        if values.shape != (config.length,):
            raise ValueError(
                f"client {self.id}: input of shape {values.shape}, expected ({config.length},)"
            )
        pair = crypto.KeyPair.generate()
        session = config.session
        signature = crypto.sign(
            self._identity, crypto.advert_message(session, self.id, pair.public, pair.public)
        )
        quantised = config.quantiser.quantise(values)
        self.clipped = quantised.clipped
        vector = config.ring.encode(np.append(quantised.values, quantised.clipped))
        lead = lead_party(self.id, len(self._parties))
        seal_keys = {}
        for j, public in enumerate(self._parties):
            shared = crypto.agree(pair.private, public)
            context = _context(session, self.id, j)
            seal_keys[j] = prg.derive_key(shared, b"mpc-seal", context)
            if j != lead:
                prg.expand_into(prg.derive_key(shared, b"mpc-share", context), vector, -1)
        messages = []
        for j in range(len(self._parties)):
            plain = vector.astype(f"<u{config.ring.bytes}").tobytes() if j == lead else b""
            sealed = crypto.seal(seal_keys[j], plain, _aad(session, self.id, j, pair.public))
            messages.append(MpcShare(self.id, j, pair.public, signature, sealed))
        return messages


@dataclass
class _Held:
    public: bytes
    vector: np.ndarray | None  # the explicit share (lead party) or None
    key: bytes | None  # the PRG key of the implicit share


class ComputationParty:
    """Computation party `index` of `parties`: receives shares, announces its view, sums.

    Its X25519 key pair is generated here; `public` is what clients need (published, e.g.
    on the ledger, before the session). `directory` maps client ids to their Ed25519
    identity keys.
    """

    def __init__(
        self, index: int, parties: int, config: Config, directory: Mapping[int, bytes]
    ) -> None:
        self.index = index
        self.parties = parties
        self.config = config
        self._directory = dict(directory)
        self._keys = crypto.KeyPair.generate()
        self._held: dict[int, _Held] = {}
        self._view: tuple[int, ...] | None = None
        self.late: list[int] = []
        self.rejected: list[tuple[int, str]] = []

    @property
    def public(self) -> bytes:
        """The party's X25519 public key."""
        return self._keys.public

    def receive(self, message: MpcShare) -> None:
        """Take one client's share; a late, forged or malformed one is recorded and ignored."""
        u = message.client
        if self._view is not None:
            self.late.append(u)
            return
        config = self.config
        if message.party != self.index or u not in config.clients or u in self._held:
            self.rejected.append((u, "unexpected share"))
            return
        public, signature, sealed = message.public, message.signature, message.sealed
        registered = self._directory.get(u)
        signed = crypto.advert_message(config.session, u, public, public)
        if registered is None or not crypto.verify(registered, signature, signed):
            self.rejected.append((u, "key not signed by the client's identity key"))
            return
        try:
            shared = crypto.agree(self._keys.private, public)
            context = _context(config.session, u, self.index)
            plain = crypto.open_sealed(
                prg.derive_key(shared, b"mpc-seal", context),
                sealed,
                _aad(config.session, u, self.index, public),
                f"party {self.index}: share of client {u}",
            )
        except ProtocolAbort as exc:
            self.rejected.append((u, str(exc)))
            return
        lead = lead_party(u, self.parties) == self.index
        ring = config.ring
        if lead:
            if len(plain) != config.width * ring.bytes:
                self.rejected.append((u, "share vector of the wrong length"))
                return
            vector = np.frombuffer(plain, dtype=f"<u{ring.bytes}").astype(ring.dtype, copy=False)
            self._held[u] = _Held(public, vector, None)
        else:
            if plain:
                self.rejected.append((u, "unexpected share payload"))
                return
            self._held[u] = _Held(public, None, prg.derive_key(shared, b"mpc-share", context))

    def view(self) -> PartyView:
        """Announce the clients this party holds valid shares of (closes reception)."""
        self._view = tuple(sorted(self._held))
        return PartyView(self.index, self._view)

    def agreed(self, views: Iterable[PartyView]) -> tuple[int, ...]:
        """S: the clients every party holds shares of (ThresholdError below t)."""
        views = list(views)
        if sorted(v.party for v in views) != list(range(self.parties)):
            raise ProtocolAbort(
                f"party {self.index}: views from parties {sorted(v.party for v in views)}; "
                f"all {self.parties} are needed"
            )
        common = set(self.config.clients)
        for v in views:
            common &= set(v.clients)
        if len(common) < self.config.threshold:
            raise ThresholdError(
                f"{len(common)} clients reached every computation party, fewer than the "
                f"threshold t = {self.config.threshold}; the sum is not revealed"
            )
        return tuple(sorted(common))

    def _share(self, u: int) -> np.ndarray:
        held = self._held[u]
        if held.vector is not None:
            return held.vector
        assert held.key is not None
        return prg.expand(held.key, self.config.width, self.config.ring.dtype)

    def shares(self, clients: Sequence[int]) -> np.ndarray:
        """This party's share of each client's vector [len(clients), width]."""
        return np.stack([self._share(u) for u in clients])

    def total(self, clients: Sequence[int]) -> PartySum:
        """Z_j: this party's sum of the shares of `clients` (the agreed S)."""
        acc = self.config.ring.zeros(self.config.width)
        for u in clients:
            np.add(acc, self._share(u), out=acc)
        return PartySum(self.index, tuple(clients), acc)


def combine(config: Config, sums: Sequence[PartySum]) -> Aggregate:
    """The total from every party's sum; ProtocolAbort if they summed different sets."""
    if sorted(s.party for s in sums) != list(range(len(sums))) or len(sums) < 2:
        raise ProtocolAbort("a sum from every computation party is needed")
    clients = sums[0].clients
    if any(s.clients != clients for s in sums):
        raise ProtocolAbort("the computation parties summed different client sets")
    if len(clients) < config.threshold:
        raise ThresholdError(f"{len(clients)} clients summed, fewer than t = {config.threshold}")
    ring = config.ring
    total = ring.zeros(config.width)
    for s in sums:
        np.add(total, s.vector, out=total)
    signed = ring.decode(total)
    quantiser = config.quantiser
    return Aggregate(
        total=quantiser.dequantise(signed[:-1]),
        integers=signed[:-1],
        survivors=tuple(clients),
        recovered=(),
        clipped=int(signed[-1]),
        clipped_fraction=int(signed[-1]) / (len(clients) * config.length),
        error_bound=quantiser.error_bound(len(clients)),
        ring_bits=config.ring_bits,
    )


def mpc_config(
    clients: Sequence[int],
    length: int,
    *,
    threat: ThreatModel | None = None,
    quantiser: Quantiser | None = None,
    ring_bits: int | None = None,
    session: bytes | None = None,
) -> Config:
    """A session for MPC aggregation: the threshold the threat model gives the complete
    graph, the ring that holds the sum (or `ring_bits`, e.g. 64 for robust aggregation)."""
    ids = tuple(sorted(clients))
    q = quantiser or Quantiser()
    graph = choose(len(ids), threat or ThreatModel(), sparse=False)
    bits = max(q.ring(len(ids), length).bits, ring_bits or 0)
    return Config(
        session=session or os.urandom(SESSION_BYTES),
        clients=ids,
        threshold=graph.threshold,
        degree=len(ids) - 1,
        length=length,
        clip=q.clip,
        bits=q.bits,
        ring_bits=bits,
    )


@dataclass
class MpcRun:
    """A finished MPC aggregation: the aggregate and what it cost."""

    aggregate: Aggregate
    config: Config
    parties: list[ComputationParty] = field(repr=False)
    agreed: tuple[int, ...]
    client_seconds: float
    party_seconds: float
    bytes_clients: int
    bytes_parties: int

    @property
    def bytes_total(self) -> int:
        """Client → party and party → party frames."""
        return self.bytes_clients + self.bytes_parties


def run_mpc(
    inputs: Mapping[int, np.ndarray],
    *,
    parties: int = 3,
    config: Config | None = None,
    threat: ThreatModel | None = None,
    quantiser: Quantiser | None = None,
    dropouts: Iterable[int] = (),
    partial: Mapping[int, Iterable[int]] | None = None,
    late: Iterable[int] = (),
    identities: Identities | None = None,
    carry: bool = True,
) -> MpcRun:
    """Aggregate `inputs` with `parties` computation parties, all in this process.

    `dropouts` send nothing; `partial` maps a client to the parties it reaches before it
    drops; `late` clients' shares reach the parties after they announced their views.
    With `carry` every message goes through the wire format.
    """
    ids = sorted(inputs)
    length = int(np.asarray(inputs[ids[0]]).shape[0])
    config = config or mpc_config(ids, length, threat=threat, quantiser=quantiser)
    people = identities or Identities.generate(ids)
    directory = people.directory
    nodes = [ComputationParty(j, parties, config, directory) for j in range(parties)]
    keys = [p.public for p in nodes]
    gone, delayed = set(dropouts), set(late)
    reach = {u: set(v) for u, v in (partial or {}).items()}
    client_s = party_s = 0.0
    bytes_clients = bytes_parties = 0

    def carried(message: object) -> object:
        nonlocal bytes_clients, bytes_parties
        if not carry:
            return message
        frame = wire.encode(message, config.session)  # type: ignore[arg-type]
        if isinstance(message, MpcShare):
            bytes_clients += len(frame)
        else:
            bytes_parties += len(frame)
        return wire.decode(frame)[1]

    held: list[MpcShare] = []
    for u in ids:
        if u in gone:
            continue
        began = time.perf_counter()
        messages = MpcClient(u, people.keys[u], config, keys).shares(inputs[u])
        client_s += time.perf_counter() - began
        for message in messages:
            if u in reach and message.party not in reach[u]:
                continue
            message = carried(message)  # type: ignore[assignment]
            if u in delayed:
                held.append(message)
                continue
            began = time.perf_counter()
            nodes[message.party].receive(message)
            party_s += time.perf_counter() - began
    began = time.perf_counter()
    views = [carried(p.view()) for p in nodes]
    for message in held:
        nodes[message.party].receive(message)
    agreed = [p.agreed(views) for p in nodes]  # type: ignore[arg-type]
    if any(a != agreed[0] for a in agreed):
        raise ProtocolAbort("the computation parties disagree on the client set")
    sums = [carried(p.total(agreed[0])) for p in nodes]
    aggregate = combine(config, sums)  # type: ignore[arg-type]
    party_s += time.perf_counter() - began
    return MpcRun(
        aggregate, config, nodes, agreed[0], client_s, party_s, bytes_clients, bytes_parties
    )
