"""Centralised secure aggregation (Bonawitz et al.): exact sums with and without dropouts,
failure below the threshold, late inputs that stay hidden, impersonation refused, an
inconsistent server caught, and a server view independent of the input."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from scipy import stats

from secmas.secagg import crypto, prg
from secmas.secagg.errors import (
    ConsistencyError,
    ImpersonationError,
    ProtocolAbort,
    ThresholdError,
)
from secmas.secagg.messages import (
    Advertise,
    Config,
    KeyBook,
    MaskedInput,
    Setup,
    SignatureBook,
    Survivors,
)
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.protocol import Client, Server, mask_key, self_mask_key
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import Identities, make_config, run_secagg


def inputs_for(n: int, length: int, seed: int = 0, scale: float = 0.5) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.uniform(-scale, scale, length) for i in range(n)}


def quantised_sum(
    inputs: dict[int, np.ndarray], clients: tuple[int, ...], q: Quantiser
) -> np.ndarray:
    return sum(q.quantise(inputs[c]).values for c in clients)  # type: ignore[return-value]


def check_exact(run_inputs: dict[int, np.ndarray], run) -> None:  # type: ignore[no-untyped-def]
    agg = run.aggregate
    q = run.config.quantiser
    assert np.array_equal(agg.integers, quantised_sum(run_inputs, agg.survivors, q))
    true = sum(np.clip(run_inputs[c], -q.clip, q.clip) for c in agg.survivors)
    assert np.max(np.abs(agg.total - true)) <= agg.error_bound


@pytest.mark.parametrize("sparse", [False, True])
def test_exact_sum_without_dropout(sparse: bool) -> None:
    inputs = inputs_for(12, 500)
    run = run_secagg(inputs, sparse=sparse, threat=ThreatModel(dropout=0.3))
    assert run.aggregate.survivors == tuple(range(12))
    assert run.aggregate.recovered == ()
    check_exact(inputs, run)
    if sparse:
        assert run.config.degree < 11


@pytest.mark.parametrize("round_", [0, 1, 2, 3, 4])
def test_exact_sum_with_n_minus_t_dropouts_in_any_round(round_: int) -> None:
    n = 9
    inputs = inputs_for(n, 300, seed=round_)
    config, _ = make_config(range(n), 300)
    dropped = list(range(n - config.threshold))  # n − t clients: the most tolerated
    run = run_secagg(inputs, config=config, dropouts={round_: dropped})
    agg = run.aggregate
    if round_ <= 2:  # dropped before their input counted
        assert set(agg.survivors) == set(range(n)) - set(dropped)
    else:  # dropped after sending their masked input: still summed
        assert agg.survivors == tuple(range(n))
    if round_ == 2:
        assert agg.recovered == tuple(dropped)  # their pairwise masks were removed
    check_exact(inputs, run)


def test_mixed_dropouts_in_a_sparse_graph() -> None:
    inputs = inputs_for(40, 200, seed=3)
    threat = ThreatModel(corrupt=0.0, dropout=0.2)
    run = run_secagg(inputs, sparse=True, threat=threat, dropouts={1: [0, 1], 2: [5, 6, 7], 4: [9]})
    assert run.config.degree < 39
    assert set(run.aggregate.survivors) == set(range(40)) - {0, 1, 5, 6, 7}
    assert run.aggregate.recovered == (5, 6, 7)
    check_exact(inputs, run)


@pytest.mark.parametrize("round_", [0, 2, 4])
def test_fewer_than_t_survivors_fail_clearly(round_: int) -> None:
    n = 9
    config, _ = make_config(range(n), 50)
    dropped = list(range(n - config.threshold + 1))
    with pytest.raises(ThresholdError, match=rf"fewer than the threshold t = {config.threshold}"):
        run_secagg(inputs_for(n, 50), config=config, dropouts={round_: dropped})


def test_clipped_values_are_counted_not_hidden() -> None:
    inputs = inputs_for(5, 100)
    inputs[0][:7] = 3.0  # beyond the clipping range 1.0
    inputs[3][:2] = -5.0
    run = run_secagg(inputs, quantiser=Quantiser(clip=1.0, bits=12))
    assert run.aggregate.clipped == 9
    assert run.aggregate.clipped_fraction == pytest.approx(9 / 500)
    check_exact(inputs, run)


def test_wide_ring_when_the_sum_needs_it() -> None:
    inputs = inputs_for(5, 50)
    run = run_secagg(inputs, quantiser=Quantiser(clip=1.0, bits=32))
    assert run.config.ring_bits == 64 and run.aggregate.ring_bits == 64
    check_exact(inputs, run)


# -- a manual driver, for the tests that tamper with messages ----------------------------

Tamper = Callable[[int, dict[int, object]], dict[int, object]]


def drive(
    config: Config,
    inputs: dict[int, np.ndarray],
    people: Identities,
    *,
    tamper: Tamper | None = None,
    late: set[int] | None = None,
) -> tuple[Server, dict[int, Client], dict[int, MaskedInput]]:
    directory = people.directory
    clients = {c: Client(c, people.keys[c], directory) for c in config.clients}
    server = Server(config, directory)
    requests: dict[int, object] = dict(server.setup())
    held: dict[int, MaskedInput] = {}
    masked: dict[int, MaskedInput] = {}
    for number in range(5):
        if tamper is not None:
            requests = tamper(number, requests)
        for u, request in requests.items():
            client = clients[u]
            step = (client.advertise, client.share_keys, None, client.consistency, client.unmask)
            if number == 2:
                reply = masked[u] = client.masked_input(request, inputs[u])  # type: ignore[arg-type]
                if late and u in late:
                    held[u] = reply
                    continue
            else:
                reply = step[number](request)  # type: ignore[misc, operator]
            server.receive(reply)
        requests = server.close_round()
        for reply in held.values():
            if number == 2:
                server.receive(reply)
    return server, clients, masked


def test_late_input_is_not_summed_and_stays_masked() -> None:
    n, length = 6, 20_000
    inputs = inputs_for(n, length)
    inputs[2][:] = 0.25  # a recognisable input
    config, _ = make_config(range(n), length)
    people = Identities.generate(range(n))
    server, clients, held = drive(config, inputs, people, late={2})
    agg = server.result()
    assert 2 not in agg.survivors and (2, 2) in server.late
    assert np.array_equal(agg.integers, quantised_sum(inputs, agg.survivors, config.quantiser))
    # its neighbours revealed s^SK shares (the server removed its pairwise masks), but no
    # share of its self-mask seed b reached the server
    assert agg.recovered == (2,)
    b_shares = [o for m in server._shares.values() for o, _ in m.self_mask if o == 2]
    assert b_shares == []
    # what the server can compute from the late vector: x + PRG(b), still uniform
    y = held[2].vector.copy()
    for v in config.graph[2]:
        shared = crypto.agree(clients[2]._mask.private, server.adverts[v].mask_pk)
        prg.expand_into(mask_key(shared, config.session, 2, v), y, -1 if v > 2 else 1)
    x = config.ring.encode(np.append(config.quantiser.quantise(inputs[2]).values, 0))
    assert np.array_equal(
        y - x, prg.expand(self_mask_key(clients[2]._seed, config.session, 2), length + 1)
    )
    assert_uniform(y)
    # and an honest client answers the unmasking request only once
    with pytest.raises(ProtocolAbort, match="round-4"):
        clients[0].unmask(None)  # type: ignore[arg-type]


def assert_uniform(vector: np.ndarray, bins: int = 64) -> None:
    top = (vector.astype(np.uint64) >> np.uint64(26)).astype(int)  # 6 top bits of uint32
    counts = np.bincount(top, minlength=bins)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_server_view_of_a_masked_vector_is_independent_of_the_input() -> None:
    """Chi-square tests: the masked vector y_u the server receives is uniform on Z_2^32
    whether u's input is all −1 or all +1, and the two are indistinguishable; after
    unmasking removes u's self mask, y_u − PRG(b_u) still is (honest neighbours' masks)."""
    n, length = 5, 50_000
    views = {}
    unmasked = {}
    for label, value in (("low", -1.0), ("high", 1.0)):
        inputs = inputs_for(n, length)
        inputs[0][:] = value
        config, _ = make_config(range(n), length)
        server, clients, captured = drive(config, inputs, Identities.generate(range(n)))
        y = captured[0].vector
        views[label] = y
        seed = clients[0]._seed  # the server reconstructs it in round 4
        unmasked[label] = y - prg.expand(self_mask_key(seed, config.session, 0), length + 1)
        assert np.allclose(server.result().total, sum(inputs.values()), atol=1e-3)
    for vector in (*views.values(), *unmasked.values()):
        assert_uniform(vector)
    for pair in (views, unmasked):
        table = np.stack(
            [np.bincount((v >> np.uint32(26)).astype(int), minlength=64) for v in pair.values()]
        )
        assert stats.chi2_contingency(table).pvalue > 1e-4
        assert stats.ks_2samp(pair["low"][:-1], pair["high"][:-1]).pvalue > 1e-4


def test_impersonation_is_refused_by_server_and_clients() -> None:
    n = 5
    config, _ = make_config(range(n), 10)
    people = Identities.generate(range(n))
    directory = people.directory
    server = Server(config, directory)
    setup = server.setup()
    clients = {c: Client(c, people.keys[c], directory) for c in range(n)}
    adverts = {c: clients[c].advertise(setup[c]) for c in range(n)}
    # client 4 advertises keys in client 1's name, signed with its own identity key
    mallory = Client(1, people.keys[4], directory)
    forged = mallory.advertise(setup[1])
    server.receive(forged)
    assert server.rejected[-1][0] == 1 and "identity key" in server.rejected[-1][2]
    # an advert replayed from another session is refused too
    other = dataclasses.replace(config, session=bytes(16))
    replayed = Client(2, people.keys[2], directory).advertise(Server(other, directory).setup()[2])
    server.receive(replayed)
    assert "identity key" in server.rejected[-1][2]
    for c in range(n):
        server.receive(adverts[c])
    books = server.close_round()
    # a malicious server that swaps client 1's keys for Mallory's is caught by the others
    book = books[0]
    assert isinstance(book, KeyBook)
    swapped = KeyBook(tuple(forged if a.client == 1 else a for a in book.adverts))
    with pytest.raises(ImpersonationError, match="client 1 are not signed"):
        clients[0].share_keys(swapped)
    # a stranger without a registered key cannot join either
    stranger = Ed25519PrivateKey.generate()
    bogus = Client(3, stranger, directory).advertise(setup[3])
    fresh = Server(config, directory)
    fresh.setup()
    fresh.receive(bogus)
    assert fresh.adverts == {}


def test_inconsistent_survivor_sets_are_caught_in_round_4() -> None:
    """A malicious server shows clients 3 and 4 a U3 without client 5 (so that they would
    reveal 5's mask key while the others reveal its self-mask seed), then passes the
    others' signatures on to them: the signatures are over a different U3."""
    n = 6
    config, _ = make_config(range(n), 10)
    people = Identities.generate(range(n))

    def split_view(number: int, requests: dict[int, object]) -> dict[int, object]:
        if number == 3:
            full = requests[0].clients  # type: ignore[attr-defined]
            without = Survivors(tuple(c for c in full if c != 5))
            return {u: without if u in (3, 4) else r for u, r in requests.items()}
        if number == 4:  # the server's own check excluded 3 and 4; it forwards anyway
            items = tuple((v, sig) for v, sig in requests[1].items if v != 5)  # type: ignore[attr-defined]
            return {**requests, 3: SignatureBook(items)}
        return requests

    with pytest.raises(ConsistencyError, match="did not sign the survivor set"):
        drive(config, inputs_for(n, 10), people, tamper=split_view)


def test_clients_refuse_weak_or_out_of_order_sessions() -> None:
    people = Identities.generate(range(5))
    weak = Config(bytes(16), tuple(range(5)), 2, 4, 10)  # t = 2 of 5 holders
    client = Client(0, people.keys[0], people.directory)
    with pytest.raises(ProtocolAbort, match="too low"):
        client.advertise(Setup(weak))
    config, _ = make_config(range(5), 10)
    client = Client(0, people.keys[0], people.directory)
    with pytest.raises(ProtocolAbort, match="round-1"):
        client.share_keys(KeyBook(()))
    stranger = Client(9, people.keys[0], people.directory)
    with pytest.raises(ProtocolAbort, match="roster"):
        stranger.advertise(Server(config, people.directory).setup()[0])


def test_server_ignores_malformed_and_unexpected_replies() -> None:
    config, _ = make_config(range(5), 10)
    people = Identities.generate(range(5))
    server = Server(config, people.directory)
    server.setup()
    server.receive(MaskedInput(0, np.zeros(11, np.uint32)))  # a round-2 reply in round 0
    assert server.rejected[-1][2].startswith("a round-2 message")
    server.receive(Advertise(7, bytes(32), bytes(32), bytes(64)))
    assert server.rejected[-1][2] == "not in the roster"
    with pytest.raises(ThresholdError, match="0 clients advertised"):
        server.close_round()
    with pytest.raises(ProtocolAbort, match="not ready"):
        server.result()
