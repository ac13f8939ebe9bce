"""The migration-time regressor on held-out seeds."""

from __future__ import annotations

import pytest

from secmas.mtd.dataset import generate
from secmas.mtd.migration import DEFAULT_MODEL, Load, Method
from secmas.mtd.regressor import MigrationRegressor


@pytest.fixture(scope="module")
def fitted() -> MigrationRegressor:
    return MigrationRegressor(seed=0).fit(generate(seed=20, repeats=20))


def test_scores_on_held_out_migrations(fitted) -> None:
    scores = fitted.score(generate(seed=21, repeats=3))
    assert set(scores) == {"total_s", "downtime_s"}
    for s in scores.values():
        assert s.r2 > 0.85
        assert s.mape < 0.25
        assert s.mae_s > 0


def test_predict_is_close_to_the_model(fitted) -> None:
    load = Load(cpu=0.5, memory_mb=450.0, disk_mbps=3.0, net_mbps=1.0)
    for method in Method:
        est = fitted.predict(method, load, 60.0)
        truth = DEFAULT_MODEL.expected(method, load, 60.0)
        assert est.total_s == pytest.approx(truth.total_s, rel=0.3)
        assert est.downtime_s == pytest.approx(truth.downtime_s, rel=0.3)


def test_random_forest_variant_and_errors() -> None:
    with pytest.raises(RuntimeError):
        MigrationRegressor().predict("cold", Load(0.1, 10.0, 0.0, 0.0), 10.0)
    with pytest.raises(ValueError):
        MigrationRegressor(kind="linear")  # type: ignore[arg-type]
    rf = MigrationRegressor(kind="random_forest").fit(generate(seed=22, repeats=2))
    assert rf.predict("hybrid", Load(0.5, 450.0, 3.0, 1.0), 60.0).total_s > 0
