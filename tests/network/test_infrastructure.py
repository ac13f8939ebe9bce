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


def test_a_hold_is_the_holders_alone_until_committed(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    told: list[tuple[str, str, Amount]] = []
    infra.pop_listeners.append(lambda op, pop, amount: told.append((op, pop, amount)))
    one = Amount(1, 2, 10)
    infra.hold("A", one)
    # every other agent still sees A's committed state; A's own next promise fits around it
    assert infra.free("A") == infra.total("A")
    assert infra.pops["A"].unheld == infra.total("A") - one
    assert told == []
    infra.commit("A", one)
    assert infra.free("A") == infra.total("A") - one and infra.pops["A"].held == Amount()
    assert told == [("allocate", "A", one)]
    infra.hold("A", one)
    infra.unhold("A", one)
    assert infra.pops["A"].unheld == infra.free("A")


def test_holds_and_commits_never_exceed_capacity(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    half = Amount(4, 8, 20)  # C has 8 cores and 16 GB
    infra.hold("C", half)
    infra.hold("C", half)
    with pytest.raises(CapacityError):
        infra.hold("C", Amount(1, 0, 0))
    with pytest.raises(CapacityError):
        infra.deploy("C", "rate_limiter")  # a deployment cannot take what is held either
    infra.commit("C", half)
    infra.apply_allocate("C", Amount(1, 0, 0))  # another agent's view moved meanwhile
    with pytest.raises(CapacityError):
        infra.commit("C", half)  # the winner answers FAILURE, the goal is re-auctioned
    assert infra.pops["C"].held == half  # a failed commit keeps the hold for its release
