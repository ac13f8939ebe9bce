"""The agents' closed loop on a real CNF, what needs no network: the runs it refuses before
any work (with the reason), that it holds nothing of the attacker's schedule, and the
scoring of its report against the attacker's episodes after the run."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.network.emulation.conftest import line_scenario

import secmas.pipeline.realcnf as realcnf
from secmas.analytics.cnfloop import Condition
from secmas.analytics.csvdata import shipped_normal_recording
from secmas.api.errors import RunInputError
from secmas.api.loops import real_cnf_loop
from secmas.api.observer import RunObserver
from secmas.network.emulation.attacker_process import HiddenAttacker, Planned
from secmas.pipeline.cnf_emulated import DetectorChoice, PreparedDetector
from secmas.pipeline.errors import RunError
from secmas.pipeline.realcnf import WARMUP, CNFView, RealCNFLoop, check_warmup, score_against

WEB = {"id": "web", "host": "server", "pop": "C"}
UNRECORDED = DetectorChoice(recording=None)
"""The loop without a normal recording to read (the shipped one is part D's to test)."""


def _scenario(**extra: object):
    data = {"cnfs": [WEB], "analytics": {"detect": True}, "network": {"engine": "emulated"}}
    return line_scenario(**(data | extra))


def test_the_run_must_outlast_the_warm_up() -> None:
    check_warmup(_scenario())  # 30 s
    short = line_scenario().traffic.model_dump() | {"duration": WARMUP}
    with pytest.raises(RunError, match=f"first {WARMUP:g} s .*lasts {WARMUP:g} s"):
        check_warmup(_scenario(traffic=short))


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            {"traffic": line_scenario().traffic.model_dump() | {"duration": 15}},
            "lasts 15 s",
        ),
        (
            {"analytics": {"detect": True, "training": "federated"}},
            "federated training runs on the simulator",
        ),
        ({"incidents": [{"kind": "disk_storm", "cnf": "web", "start": 20}]}, "not disk_storm"),
    ],
)
def test_runs_the_real_cnf_loop_cannot_make_are_refused(extra: dict, says: str) -> None:
    with pytest.raises(RunInputError, match=says):
        real_cnf_loop(_scenario(**extra), RunObserver(), detector=UNRECORDED)


def test_a_scenario_without_a_cnf_serving_the_server_is_refused() -> None:
    scenario = _scenario(
        hosts=[{"id": "server", "attach": "C", "ip": "10.0.0.100"}, {"id": "h2", "attach": "B"}],
        cnfs=[{"id": "api", "host": "h2", "pop": "B"}],
    )
    with pytest.raises(RunInputError, match="serves the traffic server"):
        real_cnf_loop(scenario, RunObserver(), detector=UNRECORDED)


def test_the_default_detector_learns_the_shipped_normal_recording() -> None:
    choice = DetectorChoice()
    assert choice.model == "zscore" and choice.recording == shipped_normal_recording()
    loop = real_cnf_loop(_scenario(), RunObserver(), detector=UNRECORDED)
    assert isinstance(loop, RealCNFLoop)


def test_a_missing_normal_recording_is_named() -> None:
    from secmas.api.cnf import detector_choice

    missing = Path("/nonexistent/normal.csv")
    with pytest.raises(RunError, match=re.escape("--recording /nonexistent/normal.csv")):
        PreparedDetector.read(detector_choice(None, missing))


def _reachable(root: object) -> list[object]:
    """Every object reachable from `root` through attributes and containers."""
    seen: dict[int, object] = {}
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, type, np.ndarray)):
            continue
        seen[id(item)] = item
        if isinstance(item, dict):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo += list(item)
        elif hasattr(item, "__dict__") or hasattr(item, "__slots__"):
            todo += list(getattr(item, "__dict__", {}).values())
            todo += [getattr(item, s) for s in getattr(item, "__slots__", ()) if hasattr(item, s)]
    return list(seen.values())


def test_the_loop_never_holds_the_attackers_schedule() -> None:
    """By construction: the schedule is drawn inside the attacker's own process (its
    seed and start are all the run hands it), the loop's module cannot name it, its
    view of the data plane gives no ground truth, and nothing the loop holds is a planned
    attack, an attacker or a condition."""
    assert {f.name for f in dataclasses.fields(HiddenAttacker)} == {"seed", "start"}
    source = Path(realcnf.__file__).read_text(encoding="utf-8")
    assert "attacker_process" not in source and "draw_schedule" not in source
    for name in ("conditions", "normal_phase", "truth"):
        assert not hasattr(realcnf, name) and not hasattr(CNFView, name)
    assert not hasattr(CNFView, "cnf_truth")
    loop = real_cnf_loop(_scenario(), RunObserver(), detector=UNRECORDED)
    held = _reachable(loop)
    assert not [o for o in held if isinstance(o, (Planned, HiddenAttacker, Condition))]


def _report(alerts: list[float], mitigations: list[tuple[float, float | None]]) -> dict[str, Any]:
    rows = [
        {
            "detected_at": t,
            "in_effect_at": e,
            "time_to_mitigate": None if e is None else e - t,
            "remedy": "guard",
        }
        for t, e in mitigations
    ]
    return {
        "alerts": [{"time": t, "severity": [["throughput", 9.0], ["cpu", 3.0]]} for t in alerts],
        "mitigations": rows,
        "real_cnf": {
            "window": 4,
            "persistence": 2,
            "warmup": 20.0,
            "watched": [20.0, 80.0],
            "above_bounds": [[31.0, ["throughput"]], [61.0, ["cpu"]]],
        },
    }


def test_the_run_is_scored_after_it_against_the_attackers_episodes() -> None:
    episodes = [
        {"kind": "http_flood", "start": 30.0, "stop": 40.0},
        {"kind": "high_cpu", "start": 60.0, "stop": 80.0},  # outlived the run
    ]
    report = _report([31.5, 46.0, 62.0, 70.0], [(31.5, 33.0), (46.0, None), (62.0, 64.0)])
    scored = score_against(report, episodes, step=1.0)
    score = scored["run_score"]
    assert score["detected"] == "2/2" and score["median_delay"] == pytest.approx(1.75)
    assert [a["time_to_mitigate"] for a in score["attacks"]] == [pytest.approx(1.5), 2.0]
    # 46 s is past the flood's stop and its grace (window 4 + persistence 2 - 1 steps)
    assert score["false_alerts"] == 1 and score["needless_mitigations"] == 1
    assert score["normal_seconds"] == pytest.approx(60.0 - 15.0 - 20.0)
    assert [a["showed"] for a in score["attacks"]] == [True, True]
    conditions = [(m["condition"], m["delay"]) for m in scored["mitigations"]]
    assert conditions == [("http_flood", pytest.approx(1.5)), (None, None), ("high_cpu", 2.0)]


def test_a_missed_attack_that_left_nothing_to_see_says_so() -> None:
    episodes = [{"kind": "http_flood", "start": 44.0, "stop": 51.0}]
    score = score_against(_report([], []), episodes, step=1.0)["run_score"]
    assert score["detected"] == "0/1" and score["attacks"][0]["showed"] is False


def test_a_flood_a_standing_guard_held_off_is_mitigated_before_detection() -> None:
    """A guard in effect since 29 s; the flood from 44 s moved none of its metrics (the
    report's steps above bounds are at 31 and 61 s): held off, not missed."""
    episodes = [{"kind": "http_flood", "start": 44.0, "stop": 51.0}]
    score = score_against(_report([27.0], [(27.0, 29.0)]), episodes, step=1.0)["run_score"]
    (flood,) = score["attacks"]
    assert flood["delay"] is None and flood["mitigated_before_detection"] is True
    assert score["detected"] == "0/1" and score["handled"] == "1/1"


def test_an_attack_in_the_warm_up_the_loop_learnt_normal_from_fails_the_run() -> None:
    """The loop learns this instance's levels from its warm-up: an attacker that struck
    then would have been learnt as normal, so the run is refused rather than scored."""
    episodes = [{"kind": "high_memory", "start": 12.0, "stop": 40.0}]
    with pytest.raises(RunError, match=r"high_memory at 12 s, in the warm-up \(first 20 s\)"):
        score_against(_report([], []), episodes, step=1.0)
