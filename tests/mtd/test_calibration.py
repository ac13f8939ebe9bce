"""Learned or analytical, chosen on held-out error: with small datasets whose "measured"
figures are the analytical model's (it cannot be beaten) or differ from it for one method
(the learned model must take over there, and only there)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from secmas.mtd.calibration import (
    ANALYTIC,
    LEARNED,
    calibrated,
    calibrated_models,
    folds,
)
from secmas.mtd.dataset import Dataset, Record, generate
from secmas.mtd.migration import METHODS, Method, MigrationModel

EXACT = MigrationModel(noise=0.0)


def measured(slower: Method | None = None, factor: float = 4.0) -> Dataset:
    """34 containers, each migrated by every method as the noise-free model says, but
    `slower`'s migrations `factor` times as long (total and downtime)."""
    data = generate(seed=3, repeats=1, model=EXACT)

    def adjust(record: Record) -> Record:
        if record.method is not slower:
            return record
        phases = dataclasses.replace(
            record.phases,
            total_s=factor * record.phases.total_s,
            downtime_s=factor * record.phases.downtime_s,
        )
        return Record(record.instance, phases)

    return Dataset(
        data.instances, tuple(tuple(adjust(r) for r in g) for g in data.records), data.seed
    )


def test_the_folds_cover_every_instance_once() -> None:
    groups = folds(11, 3, seed=1)
    assert sorted(np.concatenate(groups).tolist()) == list(range(11))
    with pytest.raises(ValueError, match="2 ≤ folds ≤ instances"):
        folds(3, 5, seed=1)


def test_the_analytical_model_is_kept_where_it_is_exact() -> None:
    chosen = calibrated_models(measured(), k=3, model=EXACT)
    calibration = chosen.calibration
    assert all(t.analytic_mae_s == pytest.approx(0.0, abs=1e-9) for t in calibration.targets)
    assert {t.model for t in calibration.targets} == {ANALYTIC}
    assert calibration.selector.analytic_regret == pytest.approx(0.0, abs=1e-12)
    assert calibration.selector.model == ANALYTIC
    instance = measured().instances[0]
    for method in METHODS:
        estimate = chosen.predictor.predict(method, instance.load, instance.bandwidth)
        expected = EXACT.expected(method, instance.load, instance.bandwidth)
        assert (estimate.total_s, estimate.downtime_s) == (expected.total_s, expected.downtime_s)


def test_the_learned_model_takes_over_only_where_the_analytical_one_is_worse() -> None:
    chosen = calibrated_models(measured(slower=Method.COLD), k=3, model=EXACT)
    by = {(t.method, t.target): t for t in chosen.calibration.targets}
    for (method, _), choice in by.items():
        assert choice.model == (LEARNED if method is Method.COLD else ANALYTIC)
        if method is Method.COLD:
            assert choice.learned_mae_s < choice.analytic_mae_s
    describe = chosen.predictor.describe()
    assert describe["cold/total_s"] == LEARNED and describe["hybrid/downtime_s"] == ANALYTIC
    instance = measured().instances[0]
    cold = chosen.predictor.predict(Method.COLD, instance.load, instance.bandwidth)
    assert cold == chosen.predictor.learned.predict(Method.COLD, instance.load, instance.bandwidth)


def test_the_selector_follows_the_held_out_regret() -> None:
    # hybrid 50 times as long: never best measured, while the analytical model picks it
    # for many containers, so the learned selector must win
    chosen = calibrated_models(measured(slower=Method.HYBRID, factor=50.0), k=3, model=EXACT)
    choice = chosen.calibration.selector
    assert choice.learned_regret < choice.analytic_regret
    assert choice.model == LEARNED == chosen.selector.model
    instance = measured().instances[0]
    assert chosen.selector.select(instance.load, instance.bandwidth) is not Method.HYBRID


def test_the_shipped_recording_calibrates_and_reports_both_errors() -> None:
    report = calibrated().calibration.to_json()
    assert len(report["regressor"]) == 2 * len(METHODS)
    for row in report["regressor"]:
        better = row["learned_mae_s"] < row["analytic_mae_s"]
        assert row["model"] == (LEARNED if better else ANALYTIC)
    selector = report["selector"]
    better = selector["learned_regret"] < selector["analytic_regret"]
    assert selector["model"] == (LEARNED if better else ANALYTIC)
