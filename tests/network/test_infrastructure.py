"""Lifecycle bookkeeping: deploy, scale in, terminate, reserve."""

from __future__ import annotations

import pytest

from secmas.network.infrastructure import CapacityError, Infrastructure
from secmas.network.resources import Amount
from secmas.scenario.model import Measure, Scenario


def test_deploy_and_terminate_return_resources(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    ad = infra.deploy("A", "anomaly_detector", units=2)  # 2 / 4 / 20
    assert infra.free("A") == Amount(6, 12, 480)
    infra.scale_in(ad.id, 1)  # back to 1 / 2 / 10
    assert infra.free("A") == Amount(7, 14, 490)
    infra.terminate(ad.id)
    assert infra.free("A") == infra.total("A")


def test_capacity_is_never_exceeded(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    infra.deploy("C", "classifier", units=4)  # 8 / 16 / 40: all cores and memory
    with pytest.raises(CapacityError):
        infra.deploy("C", "rate_limiter")
    assert infra.free("C") == Amount(0, 0, 460)


def test_idle_instance_must_be_large_enough(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    one = infra.deploy("B", "anomaly_detector")
    assert infra.idle_instance("B", "anomaly_detector", traffic=2.0) is one
    assert infra.idle_instance("B", "anomaly_detector", traffic=4.0) is None
    one.busy = True
    assert infra.idle_instance("B", "anomaly_detector") is None


def test_value_and_path_reservation(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    assert infra.value("A", "B", Measure.LOSS) == pytest.approx(1.0)
    infra.reserve_path(["A", "B", "C"], 4)
    assert infra.value("B", "C", Measure.BANDWIDTH) == 1.0
    with pytest.raises(CapacityError):
        infra.reserve_path(["C", "B"], 2)
    infra.release_path(["A", "B", "C"], 4)
    assert infra.value("B", "A", Measure.BANDWIDTH) == 10.0
