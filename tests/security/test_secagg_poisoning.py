"""Model poisoning by a registered client in federated training's secure sum.

The client runs the honest protocol code (its messages are genuinely signed, its masked
input is a well-formed quantised vector), but the update it feeds in is boosted: 1000
times its honest update. Secure aggregation (Bonawitz et al.) hides every input, so
nothing can look at that client's update; what it cannot hide is the sum. Every honest
agent clips its update to the plan's L2 bound B before it is summed, so a round's sum of
n updates has a norm of at most n·B: a sum beyond that is refused as poisoned (detected,
though not by whom), and one within it moves the global model by at most B (bounded).
Under MPC aggregation with norm bounding (`robust_aggregator`) the engine itself leaves
an over-bound update out of the sum and counts it, without naming its sender. A client
that forges its masked input outright (no quantised vector) wrecks the sum's range: the
round is refused and training goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import torch
from tests.secagg.test_federated import FEATURES, telemetry

from secmas.analytics.autoencoder import LSTMAutoencoder
from secmas.secagg.agent import BusRun, ClientAgent, aggregate_over_bus
from secmas.secagg.federated import (
    Aggregator,
    FederatedPlan,
    SecureSum,
    get_parameters,
    robust_aggregator,
    secagg_aggregator,
    train_federated,
)
from secmas.secagg.messages import MaskedInput, Message
from secmas.secagg.protocol import Client
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import Identities, make_config
from secmas.transport.memory import MemoryBus

torch.set_num_threads(1)

BOUND = 1.0
PLAN = FederatedPlan(rounds=1, local_epochs=1, batch=32, window=5, hidden=6, latent=3, clip=BOUND)
POISONER = 2


def poisoned(boost: float) -> Aggregator:
    """The secure sum, with agent POISONER's model update boosted `boost` times and its
    weight (the vector's last value) as it was: what it puts into the sum; the other
    agents' inputs are untouched."""
    honest = secagg_aggregator()

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        if quantiser == PLAN.quantiser:  # a model update, not the scaler's or the histogram
            vector = np.asarray(vectors[POISONER], dtype=np.float64)
            vectors = {**vectors, POISONER: np.append(boost * vector[:-1], vector[-1])}
        return honest(vectors, quantiser)

    return aggregate


def initial_weights() -> np.ndarray:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PLAN.seed)
        return get_parameters(LSTMAutoencoder(len(FEATURES), PLAN.hidden, PLAN.latent))


def step(boost: float) -> tuple[float, object]:
    result = train_federated(telemetry(), FEATURES, poisoned(boost), PLAN)
    moved = get_parameters(result.detector.model) - initial_weights()
    return float(np.linalg.norm(moved)), result.rounds[0]


def test_a_boosted_update_cannot_move_the_global_model_beyond_the_bound() -> None:
    moved, log = step(1000.0)
    assert moved <= BOUND * (1 + 1e-3), f"the poisoned round moved the model by {moved:.2f}"
    # detected: the round's sum is beyond what n clipped updates can sum to, so the model
    # stays where it was and the round says why (not who: the sum hides it)
    assert log.rejected and "poison" in log.rejected  # type: ignore[attr-defined]
    assert moved == 0.0


def test_an_unboosted_round_is_accepted_and_moves_the_model() -> None:
    moved, log = step(1.0)
    assert 0.0 < moved <= BOUND * (1 + 1e-3)
    assert not log.rejected  # type: ignore[attr-defined]


def test_a_poisoned_update_within_the_bound_is_only_bounded() -> None:
    """An update of norm B that points anywhere passes: no sum can tell it from an
    honest one (said in the docs); its pull on the global model is at most B / n."""

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        if quantiser == PLAN.quantiser:
            rogue = np.full(len(vectors[POISONER]) - 1, -1.0)
            rogue *= BOUND / np.linalg.norm(rogue)
            vectors = {**vectors, POISONER: np.append(rogue, 1.0)}
        return secagg_aggregator()(vectors, quantiser)

    clean = train_federated(telemetry(), FEATURES, secagg_aggregator(), PLAN)
    dirty = train_federated(telemetry(), FEATURES, aggregate, PLAN)
    assert not dirty.rounds[0].rejected
    pull = get_parameters(dirty.detector.model) - get_parameters(clean.detector.model)
    agents = len(dirty.rounds[0].agents)
    assert 0 < np.linalg.norm(pull) <= 2 * BOUND / agents * (1 + 1e-3)


def test_under_mpc_the_engine_leaves_the_boosted_update_out_and_counts_it() -> None:
    """MPC aggregation with norm bounding under MPC (`robust_aggregator`): the boosted
    update is zeroed while secret-shared, so the round goes on with the others' mean;
    one update refused is counted, whose is not opened."""
    honest = robust_aggregator(PLAN)

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        if quantiser == PLAN.quantiser:
            vector = np.asarray(vectors[POISONER], dtype=np.float64)
            vectors = {**vectors, POISONER: np.append(1000.0 * vector[:-1], vector[-1])}
        return honest(vectors, quantiser)

    result = train_federated(telemetry(), FEATURES, aggregate, PLAN)
    log = result.rounds[0]
    assert log.refused == 1 and not log.rejected
    moved = get_parameters(result.detector.model) - initial_weights()
    assert 0 < np.linalg.norm(moved) <= BOUND * (1 + 1e-3)


class Forger(Client):
    """A registered client that adds 2^30 to every element of its masked model update:
    its input is no quantised vector at all, which no client-side clipping can stop."""

    def masked_input(self, request: Message, x: np.ndarray) -> MaskedInput:  # type: ignore[override]
        reply = super().masked_input(request, x)  # type: ignore[arg-type]
        shift = np.full(reply.vector.shape, 1 << 30, dtype=reply.vector.dtype)
        return MaskedInput(reply.client, reply.vector + shift)


def forging_bus(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
    """The secure sum among agents on a bus, POISONER forging its model updates."""
    ids = sorted(vectors)
    people = Identities.generate(ids)
    config, _ = make_config(ids, len(vectors[ids[0]]), quantiser=quantiser)

    def client(c: int) -> type[Client]:
        return Forger if c == POISONER and quantiser == PLAN.quantiser else Client

    async def session() -> BusRun:
        bus = MemoryBus()
        for c in ids:
            agent = ClientAgent(
                bus, c, people.keys[c], people.envelopes, lambda _, c=c: vectors[c],
                make_client=client(c),
            )  # fmt: skip
            await agent.start()
        try:
            return await aggregate_over_bus(bus, config, people.server, people.directory)
        finally:
            await bus.close()

    run = asyncio.run(session())
    return SecureSum(run.aggregate.total, run.aggregate.survivors, run.seconds, run.bytes_sent)


def test_a_forged_masked_input_refuses_the_round_and_training_goes_on() -> None:
    plan = replace(PLAN, rounds=2)
    result = train_federated(telemetry(), FEATURES, forging_bus, plan)
    assert [bool(r.rejected) for r in result.rounds] == [True, True]
    assert all(r.rejected.startswith("poisoned: ") for r in result.rounds)
    assert all("the sum is wrong" in r.rejected for r in result.rounds)
    assert np.array_equal(get_parameters(result.detector.model), initial_weights())
