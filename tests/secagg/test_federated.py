"""Federated training of the LSTM autoencoder with securely aggregated updates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from secmas.analytics.autoencoder import LSTMAutoencoder, reconstruction_errors
from secmas.analytics.windows import Scaler, sliding
from secmas.secagg.federated import (
    ERROR_BINS,
    FederatedPlan,
    SecureSum,
    bounded_step,
    bus_aggregator,
    central_detector,
    describe_round,
    get_parameters,
    mpc_aggregator,
    plain_aggregator,
    secagg_aggregator,
    secure_scaler,
    set_parameters,
    train_federated,
    window_f1,
)

FEATURES = ("cpu", "memory", "latency")
torch.set_num_threads(1)  # BRIEF: anything that trains uses one thread
PLAN = FederatedPlan(rounds=2, local_epochs=1, batch=32, window=5, hidden=6, latent=3)


def telemetry(agents: int = 4, steps: int = 120, seed: int = 7) -> dict[int, np.ndarray]:
    """Each agent's own normal series: the same kind of CNF, its own load and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    out = {}
    for a in range(agents):
        base = np.array([0.4 + 0.05 * a, 300.0 + 20 * a, 4.0])
        wave = np.sin(t / 9.0 + a)[:, None] * np.array([0.05, 30.0, 0.3])
        out[a] = base + wave + rng.normal(0, [0.01, 5.0, 0.1], (steps, 3))
    return out


def test_parameters_round_trip() -> None:
    model = LSTMAutoencoder(3, 6, 3)
    vector = get_parameters(model)
    other = LSTMAutoencoder(3, 6, 3)
    set_parameters(other, vector)
    assert np.allclose(get_parameters(other), vector)
    with pytest.raises(ValueError, match="parameters"):
        set_parameters(other, vector[:-1])


def test_secure_scaler_matches_the_pooled_one() -> None:
    data = telemetry()
    scaler, sent = secure_scaler(data, secagg_aggregator())
    pooled = Scaler.fit(np.concatenate(list(data.values())))
    assert np.allclose(scaler.mean, pooled.mean, rtol=1e-5)
    assert np.allclose(scaler.scale, pooled.scale, rtol=1e-5)
    assert sent > 0


def test_secure_fedavg_equals_fedavg_in_the_clear_up_to_quantisation() -> None:
    """One round (later rounds amplify the quantisation difference through Adam)."""
    data = telemetry()
    plan = FederatedPlan(rounds=1, local_epochs=2, batch=32, window=5, hidden=6, latent=3)
    secure = train_federated(data, FEATURES, secagg_aggregator(), plan)
    clear = train_federated(data, FEATURES, plain_aggregator(), plan)
    a = get_parameters(secure.detector.model)
    b = get_parameters(clear.detector.model)
    assert np.max(np.abs(a - b)) < 1e-5
    assert [r.agents for r in secure.rounds] == [(0, 1, 2, 3)]
    assert all(r.bytes > 0 and r.clipped == 0 for r in secure.rounds)
    # the threshold is the pooled errors' percentile, to within one histogram bin
    model = secure.detector.model
    scaler = secure.detector.scaler
    errors = np.concatenate(
        [
            reconstruction_errors(model, sliding(scaler.transform(v), 5)).mean(axis=1)
            for v in data.values()
        ]
    )
    exact = np.percentile(errors, 99)
    ratio = ERROR_BINS[1] / ERROR_BINS[0]
    assert exact <= secure.detector.static.value <= exact * ratio**2


def test_agents_that_drop_out_of_a_round_are_left_out_of_it() -> None:
    data = telemetry(agents=5)
    plan = FederatedPlan(rounds=2, local_epochs=1, batch=32, window=5, hidden=4, latent=2)
    # secure sums 0–2 make the scaler, 3 and 4 are the rounds' updates: agent 4 drops out
    # in round 2 of the protocol run that aggregates the second update
    drops = {4: {2: [4]}}
    result = train_federated(
        data, FEATURES, secagg_aggregator(dropouts=lambda call: drops.get(call, {})), plan
    )
    assert [r.agents for r in result.rounds] == [(0, 1, 2, 3, 4), (0, 1, 2, 3)]


def test_federated_and_central_detectors_score_anomalies() -> None:
    data = telemetry()
    federated = train_federated(data, FEATURES, mpc_aggregator(parties=2), PLAN).detector
    central = central_detector(data, FEATURES, PLAN)
    rng = np.random.default_rng(3)
    test = telemetry(agents=1, steps=200)[0]
    labels = np.array(["normal"] * 200, dtype=object)
    test[100:130, 1] += 400.0  # a memory anomaly
    labels[100:130] = "high_memory"
    test += rng.normal(0, 0.001, test.shape)
    for detector in (federated, central):
        scores = window_f1(detector, [(test, labels.astype(str))])
        assert scores["recall"] > 0.9
        assert 0 <= scores["f1"] <= 1


def memory_anomaly(bump: float) -> tuple[np.ndarray, np.ndarray]:
    test = telemetry(agents=1, steps=200, seed=5)[0]
    labels = np.array(["normal"] * 200, dtype=object)
    test[100:130, 1] += bump
    labels[100:130] = "high_memory"
    return test, labels.astype(str)


def test_held_out_metrics_tell_an_under_trained_model_from_a_trained_one() -> None:
    """Trained over the agents' bus (signed envelopes): one FedAvg round against eight.
    On held-out normal telemetry the reconstruction error falls by more than a third, and
    a memory anomaly (+100 MB on ~300) that the one-round model misses is found."""
    data, held_out = telemetry(), telemetry(steps=200, seed=99)
    scores = {}
    for rounds in (1, 8):
        plan = FederatedPlan(
            rounds=rounds,
            local_epochs=2,
            batch=32,
            window=5,
            hidden=6,
            latent=3,
            learning_rate=1e-2,
        )
        result = train_federated(data, FEATURES, bus_aggregator(), plan)
        detector = result.detector
        assert [r.agents for r in result.rounds] == [(0, 1, 2, 3)] * rounds
        error = np.mean(
            [
                reconstruction_errors(
                    detector.model, sliding(detector.scaler.transform(v), 5)
                ).mean()
                for v in held_out.values()
            ]
        )
        scores[rounds] = (error, window_f1(detector, [memory_anomaly(100.0)])["f1"])
    (error_1, f1_1), (error_8, f1_8) = scores[1], scores[8]
    assert error_8 < 0.67 * error_1, scores
    assert f1_8 > 0.9 and f1_1 < 0.5, scores


def test_f1_is_reported_after_every_round_and_shows_convergence() -> None:
    """With `evaluate`, the agents sum their error histograms after every round, so each
    round's global model has a threshold and a held-out F1: the first round's model
    misses the memory anomaly that the eighth one finds."""
    plan = FederatedPlan(
        rounds=8, local_epochs=2, batch=32, window=5, hidden=6, latent=3, learning_rate=1e-2
    )
    said: list[str] = []
    result = train_federated(
        telemetry(), FEATURES, secagg_aggregator(), plan,
        lambda log: said.append(describe_round(log, plan.rounds)),
        lambda detector: window_f1(detector, [memory_anomaly(100.0)])["f1"],
    )  # fmt: skip
    assert len(result.f1) == plan.rounds == len(said)
    assert all(f"F1 {f1:.3f}" in line for f1, line in zip(result.f1, said, strict=True))
    assert result.f1[0] < 0.5 < 0.9 < result.f1[-1], result.f1
    assert result.threshold_bytes > 0 and not any(r.rejected for r in result.rounds)
    untrained = train_federated(telemetry(), FEATURES, secagg_aggregator(), replace(plan, rounds=0))
    assert untrained.f1 == [] and untrained.rounds == []
    moved = get_parameters(result.detector.model) - get_parameters(untrained.detector.model)
    assert np.linalg.norm(moved) > 0.1


def test_a_round_sum_beyond_n_bounds_is_refused_and_one_within_is_averaged() -> None:
    plan = FederatedPlan(clip=1.0)
    inside = SecureSum(np.append(np.full(4, 0.5), 3.0), (0, 1, 2), 0.0, 0)
    step, why = bounded_step(inside, plan)
    assert why == "" and step is not None and np.allclose(step, 0.5 / 3)
    beyond = SecureSum(np.append(np.full(4, 2.0), 3.0), (0, 1, 2), 0.0, 0)
    step, why = bounded_step(beyond, plan)
    assert step is None and "L2 norm 4, beyond 3 × the bound 1" in why
    miscounted = SecureSum(np.append(np.zeros(4), 7.0), (0, 1, 2), 0.0, 0)
    step, why = bounded_step(miscounted, plan)
    assert step is None and "counts sum to 7, not the 3 agents" in why
    left_out = SecureSum(np.append(np.full(4, 0.5), 2.0), (0, 1, 2), 0.0, 0, refused=1)
    step, why = bounded_step(left_out, plan)
    assert why == "" and step is not None and np.allclose(step, 0.25)


def test_agent_telemetry_is_one_own_series_per_pop() -> None:
    from pathlib import Path

    from secmas.scenario.loader import load_scenario
    from secmas.secagg.federated import agent_telemetry

    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml")
    data = agent_telemetry(scenario, samples=120, window=10)
    assert data.pops == tuple(p.id for p in scenario.pops) and data.cnf == "web"
    assert sorted(data.values) == list(range(6))
    # 120 windows split among 6 agents: 20 windows of 10 steps each, 29 steps
    assert {v.shape for v in data.values.values()} == {(29, len(data.features))}
    first = data.values[0]
    assert not any(np.allclose(first, v) for a, v in data.values.items() if a)
    lonely = scenario.model_copy(update={"pops": scenario.pops[:1]})
    with pytest.raises(ValueError, match="at least two agents"):
        agent_telemetry(lonely, samples=120, window=10)
