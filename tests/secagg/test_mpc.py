"""MPC-based aggregation: additive shares over computation parties, same dropout rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from secmas.secagg.errors import ProtocolAbort, ThresholdError
from secmas.secagg.messages import PartySum
from secmas.secagg.mpc import ComputationParty, MpcClient, combine, mpc_config, run_mpc
from secmas.secagg.session import Identities


def inputs_for(n: int, length: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.uniform(-0.5, 0.5, length) for i in range(n)}


def exact(inputs: dict[int, np.ndarray], run) -> None:  # type: ignore[no-untyped-def]
    agg = run.aggregate
    q = run.config.quantiser
    assert np.array_equal(agg.integers, sum(q.quantise(inputs[c]).values for c in agg.survivors))
    assert np.max(np.abs(agg.total - sum(inputs[c] for c in agg.survivors))) <= agg.error_bound


@pytest.mark.parametrize("parties", [2, 3, 5])
def test_exact_sum_for_any_number_of_parties(parties: int) -> None:
    inputs = inputs_for(8, 400)
    run = run_mpc(inputs, parties=parties)
    assert run.aggregate.survivors == tuple(range(8))
    exact(inputs, run)
    assert run.bytes_clients > 8 * 400 * 4  # one explicit share vector per client


def test_dropped_partial_and_late_clients_are_left_out() -> None:
    inputs = inputs_for(10, 300, seed=1)
    run = run_mpc(inputs, parties=3, dropouts=[0], partial={1: [0, 2]}, late=[2])
    assert run.aggregate.survivors == (3, 4, 5, 6, 7, 8, 9)
    assert all(p.late == [2] for p in run.parties)
    exact(inputs, run)


def test_fewer_than_t_clients_fail_clearly() -> None:
    inputs = inputs_for(9, 10)
    config = mpc_config(range(9), 10)
    too_many = range(9 - config.threshold + 1)
    with pytest.raises(ThresholdError, match=f"fewer than the threshold t = {config.threshold}"):
        run_mpc(inputs, config=config, dropouts=too_many)


def test_no_single_party_sees_anything_that_depends_on_the_input() -> None:
    """Each party's share of a client's vector is uniform on Z_2^32 and distributed the same
    for an all-(−1) and an all-(+1) input (chi-square), for the lead party's explicit
    share and for the others' PRG shares alike."""
    length = 50_000
    config = mpc_config(range(4), length)
    people = Identities.generate(range(4))
    shares = {}
    for label, value in (("low", -1.0), ("high", 1.0)):
        parties = [ComputationParty(j, 3, config, people.directory) for j in range(3)]
        client = MpcClient(0, people.keys[0], config, [p.public for p in parties])
        for message in client.shares(np.full(length, value)):
            parties[message.party].receive(message)
        shares[label] = [p.shares([0])[0][:-1] for p in parties]
    for j in range(3):
        low, high = shares["low"][j], shares["high"][j]
        table = np.stack(
            [np.bincount((v >> np.uint32(26)).astype(int), minlength=64) for v in (low, high)]
        )
        assert stats.chisquare(table[0]).pvalue > 1e-4
        assert stats.chi2_contingency(table).pvalue > 1e-4
    together = sum(shares["high"])  # only all parties together hold the input
    assert np.all(config.ring.decode(together) == config.quantiser.levels)


def test_forged_and_misrouted_shares_are_rejected() -> None:
    config = mpc_config(range(4), 10)
    people = Identities.generate(range(4))
    parties = [ComputationParty(j, 2, config, people.directory) for j in range(2)]
    keys = [p.public for p in parties]
    forged = MpcClient(1, people.keys[3], config, keys).shares(np.zeros(10))  # 3 posing as 1
    parties[0].receive(forged[0])
    assert parties[0].rejected == [(1, "key not signed by the client's identity key")]
    genuine = MpcClient(2, people.keys[2], config, keys).shares(np.zeros(10))
    parties[0].receive(genuine[1])  # meant for party 1
    assert parties[0].rejected[-1] == (2, "unexpected share")
    sealed = genuine[0].sealed
    tampered = dataclasses.replace(genuine[0], sealed=sealed[:-1] + bytes([sealed[-1] ^ 1]))
    parties[0].receive(tampered)
    assert "does not authenticate" in parties[0].rejected[-1][1]


def test_combine_refuses_sums_over_different_sets() -> None:
    config = mpc_config(range(4), 3)
    a = PartySum(0, (0, 1, 2, 3), config.ring.zeros(4))
    b = PartySum(1, (0, 1, 2), config.ring.zeros(4))
    with pytest.raises(ProtocolAbort, match="different client sets"):
        combine(config, [a, b])
    with pytest.raises(ProtocolAbort, match="every computation party"):
        combine(config, [a])
