"""Run a whole secure aggregation in one process: clients and server as objects, every
message carried through the wire format (`secmas.secagg.wire`), with dropouts and late
arrivals on demand, and the time and bytes of each round counted.

This is what the tests and the benchmark drive; a deployment carries the same messages
over its bus (one request per client per round, one reply back).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg import wire
from secmas.secagg.envelope import SERVER, Inbox, seal
from secmas.secagg.messages import SESSION_BYTES, Config, Message
from secmas.secagg.neighbours import GraphParameters, ThreatModel, choose
from secmas.secagg.protocol import ROUNDS, Aggregate, Client, Server
from secmas.secagg.quantise import Quantiser

__all__ = ["Identities", "RoundStats", "Run", "make_config", "run_secagg"]


@dataclass
class Identities:
    """Every client's Ed25519 identity key, the server's, and the directory of their
    public keys."""

    keys: dict[int, Ed25519PrivateKey]
    server: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @classmethod
    def generate(cls, clients: Iterable[int]) -> Identities:
        """Fresh identity keys (in a deployment: the agents' registered keys)."""
        return cls({c: Ed25519PrivateKey.generate() for c in clients})

    @property
    def directory(self) -> dict[int, bytes]:
        """Client id → raw Ed25519 public key."""
        return {c: k.public_key().public_bytes_raw() for c, k in self.keys.items()}

    @property
    def envelopes(self) -> dict[int, bytes]:
        """The directory with the server's key under `envelope.SERVER`: who signs envelopes."""
        return {**self.directory, SERVER: self.server.public_key().public_bytes_raw()}


@dataclass
class RoundStats:
    """One round: compute time of all clients together and of the server, bytes each way
    (frames as encoded), and how many clients replied."""

    name: str
    client_seconds: float = 0.0
    server_seconds: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    replies: int = 0


@dataclass
class Run:
    """A finished session: the aggregate, its configuration and the per-round figures."""

    aggregate: Aggregate
    config: Config
    graph: GraphParameters | None
    rounds: list[RoundStats]
    server: Server
    clients: dict[int, Client] = field(repr=False)

    @property
    def client_seconds(self) -> float:
        """All clients' compute time, summed."""
        return sum(r.client_seconds for r in self.rounds)

    @property
    def server_seconds(self) -> float:
        """The server's compute time."""
        return sum(r.server_seconds for r in self.rounds)

    @property
    def bytes_total(self) -> int:
        """Every frame, both ways."""
        return sum(r.bytes_up + r.bytes_down for r in self.rounds)


def make_config(
    clients: Sequence[int],
    length: int,
    *,
    threat: ThreatModel | None = None,
    sparse: bool = False,
    quantiser: Quantiser | None = None,
    session: bytes | None = None,
) -> tuple[Config, GraphParameters]:
    """A session configuration whose degree and threshold follow from `threat`
    (`secmas.secagg.neighbours.choose`) and whose ring holds the sum of all clients."""
    ids = tuple(sorted(clients))
    model = threat or ThreatModel()
    q = quantiser or Quantiser()
    graph = choose(len(ids), model, sparse=sparse)
    config = Config(
        session=session or os.urandom(SESSION_BYTES),
        clients=ids,
        threshold=graph.threshold,
        degree=graph.degree,
        length=length,
        clip=q.clip,
        bits=q.bits,
        ring_bits=q.ring(len(ids), length).bits,
    )
    return config, graph


def _call(client: Client, number: int, request: object, x: np.ndarray) -> Message:
    if number == 0:
        return client.advertise(request)  # type: ignore[arg-type]
    if number == 1:
        return client.share_keys(request)  # type: ignore[arg-type]
    if number == 2:
        return client.masked_input(request, x)  # type: ignore[arg-type]
    if number == 3:
        return client.consistency(request)  # type: ignore[arg-type]
    return client.unmask(request)  # type: ignore[arg-type]


def run_secagg(
    inputs: Mapping[int, np.ndarray],
    *,
    config: Config | None = None,
    threat: ThreatModel | None = None,
    sparse: bool = False,
    quantiser: Quantiser | None = None,
    dropouts: Mapping[int, Iterable[int]] | None = None,
    late: Iterable[int] = (),
    identities: Identities | None = None,
    carry: bool = True,
    signed: bool = True,
) -> Run:
    """Securely sum `inputs` (client id → float vector), all in this process.

    `dropouts` maps a round (0–4) to the clients that fall silent from it on (they send
    nothing in that round or later); `late` clients send their masked input only after the
    server closed round 2. With `carry` every message goes through `wire.encode` and
    `wire.decode`, as over a network; with `signed` as well (the default) in a signed
    envelope (`secmas.secagg.envelope`) opened by the recipient's `Inbox`. Raises
    ThresholdError when too few clients remain.
    """
    ids = sorted(inputs)
    lengths = {np.asarray(v).shape for v in inputs.values()}
    if len(lengths) != 1:
        raise ValueError(f"inputs have different shapes: {sorted(lengths)}")
    graph = None
    if config is None:
        config, graph = make_config(
            ids, next(iter(lengths))[0], threat=threat, sparse=sparse, quantiser=quantiser
        )
    if list(config.clients) != ids:
        raise ValueError("the inputs' clients are not the configuration's roster")
    people = identities or Identities.generate(ids)
    directory = people.directory
    clients = {c: Client(c, people.keys[c], directory) for c in ids}
    server = Server(config, directory)
    silent_from = {r: set(v) for r, v in (dropouts or {}).items()}
    delayed = set(late)
    rounds = [RoundStats(name) for name in ROUNDS]

    envelopes = people.envelopes
    inboxes = {p: Inbox(config.session, p, envelopes) for p in (*ids, SERVER)}

    def carried(message: Message, number: int, u: int, up: bool) -> Message:
        if not carry:
            return message
        stats = rounds[number]
        if signed:
            sender, recipient = (u, SERVER) if up else (SERVER, u)
            key = people.keys[u] if up else people.server
            frame = seal(key, config.session, sender, recipient, message)
            inboxes[recipient].round = number
            decoded = inboxes[recipient].open(frame)[1]
        else:
            frame = wire.encode(message, config.session)
            session, decoded = wire.decode(frame)
            assert session == config.session
        if up:
            stats.bytes_up += len(frame)
        else:
            stats.bytes_down += len(frame)
        return decoded

    began = time.perf_counter()
    requests: dict[int, object] = dict(server.setup())
    rounds[0].server_seconds += time.perf_counter() - began
    active = set(ids)
    for number, stats in enumerate(rounds):
        active -= silent_from.get(number, set())
        held = []
        for u, request in requests.items():
            if u not in active:
                continue
            request = carried(request, number, u, up=False)  # type: ignore[arg-type]
            began = time.perf_counter()
            reply = _call(clients[u], number, request, inputs[u])
            stats.client_seconds += time.perf_counter() - began
            reply = carried(reply, number, u, up=True)
            stats.replies += 1
            if number == 2 and u in delayed:
                held.append(reply)
                continue
            began = time.perf_counter()
            server.receive(reply)
            stats.server_seconds += time.perf_counter() - began
        began = time.perf_counter()
        requests = server.close_round()
        for reply in held:
            server.receive(reply)
        stats.server_seconds += time.perf_counter() - began
        active &= set(requests) if number < 4 else active
    return Run(server.result(), config, graph, rounds, server, clients)
