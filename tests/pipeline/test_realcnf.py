"""The agents' closed loop on a real CNF, what needs no network: the ground truth it is
judged against, how long the detector's normal phase is, and the runs it refuses before
any work (with the reason)."""

from __future__ import annotations

import pytest
from tests.network.emulation.conftest import line_scenario

from secmas.analytics.cnfloop import Condition
from secmas.api.errors import RunInputError
from secmas.api.loops import real_cnf_loop
from secmas.api.observer import RunObserver
from secmas.pipeline.errors import RunError
from secmas.pipeline.realcnf import RealCNFLoop, check_normal_phase, conditions, normal_phase

WEB = {"id": "web", "host": "server", "pop": "C"}


def _scenario(**extra: object):
    data = {"cnfs": [WEB], "analytics": {"detect": True}, "network": {"engine": "emulated"}}
    return line_scenario(**(data | extra))


def test_the_ground_truth_is_the_attack_and_the_incidents_run_inside_the_cnf() -> None:
    scenario = _scenario(
        incidents=[
            {"kind": "high_memory", "cnf": "web", "start": 20, "stop": 25},
            {"kind": "high_cpu", "cnf": "web", "start": 14},
        ]
    )
    found = conditions(scenario)
    assert [c.kind for c in found] == ["syn_flood", "high_cpu", "high_memory"]
    assert found[1] == Condition("high_cpu", 14.0, 30.0)  # no stop: the run's end
    assert normal_phase(scenario) == 5.0


def test_the_detector_needs_normal_behaviour_before_the_first_attack() -> None:
    with pytest.raises(RunError, match="starts at 5 s: start it at 12 s or later"):
        check_normal_phase(_scenario())
    late = _scenario(attack={"kind": "http_flood", "start": 12, "ports": [8000], "attach": ["A"]})
    check_normal_phase(late)
    quiet = _scenario(attack=None, traffic=line_scenario().traffic.model_dump() | {"duration": 40})
    assert normal_phase(quiet) == 20.0  # nothing happens: half the run


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({}, "starts at 5 s"),
        (
            {"analytics": {"detect": True, "training": "federated"}},
            "federated training runs on the simulator",
        ),
        ({"incidents": [{"kind": "disk_storm", "cnf": "web", "start": 20}]}, "not disk_storm"),
    ],
)
def test_runs_the_real_cnf_loop_cannot_make_are_refused(extra: dict, says: str) -> None:
    with pytest.raises(RunInputError, match=says):
        real_cnf_loop(_scenario(**extra), RunObserver())


def test_a_scenario_without_a_cnf_serving_the_server_is_refused() -> None:
    scenario = _scenario(
        hosts=[{"id": "server", "attach": "C", "ip": "10.0.0.100"}, {"id": "h2", "attach": "B"}],
        cnfs=[{"id": "api", "host": "h2", "pop": "B"}],
    )
    with pytest.raises(RunInputError, match="serves the traffic server"):
        real_cnf_loop(scenario, RunObserver())


def test_a_runnable_scenario_gets_the_loop_with_the_default_detector() -> None:
    scenario = _scenario(attack={"kind": "mixed", "start": 15, "ports": [8000], "attach": ["A"]})
    loop = real_cnf_loop(scenario, RunObserver())
    assert isinstance(loop, RealCNFLoop) and loop.prepared.choice.model == "zscore"
