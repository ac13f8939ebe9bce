"""Attacks on secure aggregation's unmasking and output by enrolled clients (their messages
are genuinely signed, so only the protocol can stop them):

- one client reveals a wrong Shamir share: with more than t replies the server corrects
  it (Berlekamp–Welch, or the owner's commitment / public key with t + 1) and names the
  holder; with exactly t replies it detects it and refuses to produce a sum;
- a client adds to its masked vector: a decoded clipped count or a coordinate outside
  what honest inputs can sum to is refused (OutputRangeError), never returned.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from secmas.secagg.errors import OutputRangeError, ReconstructionError
from secmas.secagg.field import PRIME
from secmas.secagg.messages import Config, MaskedInput, Message, UnmaskShares
from secmas.secagg.protocol import Aggregate, Client, Server
from secmas.secagg.session import Identities, make_config

N = 7
LENGTH = 40
CHEAT = 3

Tamper = Callable[[int, int, Message], Message | None]
"""(round, client, reply) → the reply sent, or None: the client is silent from then on."""


def inputs(value: float | None = None) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(11)
    if value is not None:
        return {c: np.full(LENGTH, value) for c in range(N)}
    return {c: rng.uniform(-0.9, 0.9, LENGTH) for c in range(N)}


def setting() -> Config:
    config, _ = make_config(range(N), LENGTH)
    assert config.degree == N - 1 and config.threshold == 4, config
    return config


def drive(config: Config, xs: dict[int, np.ndarray], tamper: Tamper) -> Server:
    people = Identities.generate(config.clients)
    clients = {c: Client(c, people.keys[c], people.directory) for c in config.clients}
    server = Server(config, people.directory)
    requests: dict[int, object] = dict(server.setup())
    silent: set[int] = set()
    for number in range(5):
        for u, request in requests.items():
            if u in silent:
                continue
            client = clients[u]
            if number == 2:
                reply = client.masked_input(request, xs[u])  # type: ignore[arg-type]
            else:
                step = (
                    client.advertise,
                    client.share_keys,
                    None,
                    client.consistency,
                    client.unmask,
                )
                reply = step[number](request)  # type: ignore[misc, operator]
            sent = tamper(number, u, reply)
            if sent is None:
                silent.add(u)
                continue
            server.receive(sent)
        requests = server.close_round()
    return server


def exact(config: Config, xs: dict[int, np.ndarray], agg: Aggregate) -> bool:
    q = config.quantiser
    return np.array_equal(agg.integers, sum(q.quantise(xs[c]).values for c in agg.survivors))


def wrong_share(owner: int, kind: str) -> Callable[[UnmaskShares], UnmaskShares]:
    def corrupt(reply: UnmaskShares) -> UnmaskShares:
        items = reply.self_mask if kind == "b" else reply.mask_key
        bad = tuple(
            (o, np.where(np.arange(len(s)) == 2, (s + 12345) % PRIME, s) if o == owner else s)
            for o, s in items
        )
        assert any(o == owner for o, _ in items)
        if kind == "b":
            return UnmaskShares(reply.client, bad, reply.mask_key)
        return UnmaskShares(reply.client, reply.self_mask, bad)

    return corrupt


def cheat_in_round_4(
    corrupt: Callable[[UnmaskShares], UnmaskShares],
    silent_in_4: set[int] = frozenset(),  # type: ignore[assignment]
    silent_in_2: set[int] = frozenset(),  # type: ignore[assignment]
) -> Tamper:
    def tamper(number: int, u: int, reply: Message) -> Message | None:
        if (number == 2 and u in silent_in_2) or (number == 4 and u in silent_in_4):
            return None
        if number == 4 and u == CHEAT:
            return corrupt(reply)  # type: ignore[arg-type]
        return reply

    return tamper


@pytest.mark.parametrize("silent", [set(), {5, 6}], ids=["7 replies", "t+1 replies"])
def test_one_wrong_self_mask_share_is_corrected_and_its_holder_named(silent: set[int]) -> None:
    config, xs = setting(), inputs()
    server = drive(config, xs, cheat_in_round_4(wrong_share(0, "b"), silent))
    agg = server.result()
    assert agg.survivors == tuple(range(N)) and exact(config, xs, agg)
    assert server.wrong_shares == [(CHEAT, 0, "self-mask seed")]


def test_one_wrong_mask_key_share_of_a_dropped_client_is_corrected() -> None:
    config, xs = setting(), inputs()
    server = drive(config, xs, cheat_in_round_4(wrong_share(6, "s"), silent_in_2={6}))
    agg = server.result()
    assert agg.survivors == (0, 1, 2, 3, 4, 5) and agg.recovered == (6,)
    assert exact(config, xs, agg)
    assert server.wrong_shares == [(CHEAT, 6, "mask key")]


@pytest.mark.parametrize("kind, owner", [("b", 0), ("s", 6)])
def test_one_wrong_share_among_exactly_t_is_detected_and_no_sum_is_made(
    kind: str, owner: int
) -> None:
    config, xs = setting(), inputs()
    dropped = {6} if kind == "s" else set()
    silent = {4, 5, 6} - dropped if kind == "b" else {4, 5}  # t = 4 replies are left
    tamper = cheat_in_round_4(wrong_share(owner, kind), silent, dropped)
    with pytest.raises(ReconstructionError, match="exactly t shares: detected only"):
        drive(config, xs, tamper)


def add_to_masked(delta: np.ndarray) -> Tamper:
    def tamper(number: int, u: int, reply: Message) -> Message | None:
        if number == 2 and u == CHEAT:
            assert isinstance(reply, MaskedInput)
            return MaskedInput(u, reply.vector + delta.astype(reply.vector.dtype))
        return reply

    return tamper


@pytest.mark.parametrize("count", [-1, 10**6])
def test_a_clipped_count_out_of_range_is_refused(count: int) -> None:
    config, xs = setting(), inputs()
    delta = config.ring.encode(np.append(np.zeros(LENGTH, np.int64), count))
    with pytest.raises(OutputRangeError, match=f"clipped count {count} is outside"):
        drive(config, xs, add_to_masked(delta))


def test_a_total_beyond_what_the_clients_can_sum_is_refused() -> None:
    config, xs = setting(), inputs(0.9)
    push = np.zeros(LENGTH + 1, np.int64)
    push[5] = N * config.quantiser.levels // 5  # 0.9 n L + 0.2 n L > n L
    with pytest.raises(OutputRangeError, match="exceeds 7 clients"):
        drive(config, xs, add_to_masked(config.ring.encode(push)))
