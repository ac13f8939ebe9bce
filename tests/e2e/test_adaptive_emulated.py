"""Moving target defence measured, not predicted: the adaptive-defence run on the
emulated engine really moves its CNFs (real state, a real probe), and its report gives,
for every move, the model's prediction beside what was measured, with the quota judged
on the measured downtime.

Needs root, network namespaces, Mininet and nftables (skipped otherwise). The trust layer
is on, as in the scenario (its bring-up takes about a second, before the first goal is
posted); CTI is off here (the scenario runs it with `secmas run`), and the run is cut to
30 s with moves from 5 s, so that it takes about 35 s (at 20 s, beside `stress-ng --cpu 2`
in a full suite, every move was still under way at the end).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.network.emulation.conftest import leftovers, needs_emulation

from secmas.mtd.calibration import calibrated
from secmas.mtd.emulated import EmulatedMovingTargetLoop
from secmas.pipeline.emulated import operate_emulated
from secmas.report.acceptance import Timeline, acceptance
from secmas.report.record import build_report
from secmas.scenario.loader import load_scenario

pytestmark = [needs_emulation, pytest.mark.usefixtures("alone")]

SCENARIO = Path(__file__).parents[2] / "scenarios" / "adaptive-emulated.yaml"
DURATION = 30


def short_scenario():
    scenario = load_scenario(SCENARIO)
    return scenario.model_copy(
        update={
            "cti": None,
            "traffic": scenario.traffic.model_copy(update={"duration": DURATION}),
            "mtd": scenario.mtd.model_copy(update={"start": 5, "lead": 3}),
        }
    )


def test_every_move_reports_predicted_and_measured_and_the_quota_is_on_measured(
    tmp_path: Path,
) -> None:
    before = set(leftovers())
    scenario = short_scenario()
    loop = EmulatedMovingTargetLoop(scenario, scenario.mtd)
    result = asyncio.run(operate_emulated(scenario, loops=[loop], workdir=tmp_path))
    report = build_report(
        result, acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok), "t"
    )
    mtd = report["mtd"]
    assert (mtd["engine"], mtd["quota_judged_on"]) == ("emulated", "measured")
    moved = [m for m in mtd["moves"] if m["outcome"] == "moved"]
    assert moved, [(m["cnf"], m["outcome"], m["reason"]) for m in mtd["moves"]]
    for move in moved:
        assert move["predicted_downtime_s"] > 0 and move["predicted_total_s"] > 0
        assert 0 <= move["measured_downtime_s"] <= move["measured_total_s"]
        assert move["migration"] == move["method"]
        assert move["state_verified"] and move["state_bytes"] > 0
        assert move["source"] != move["destination"]
    # the CNFs' downtime spent, and every verdict, are the measured figures
    budgets = {m: u["budget_s"] for u in mtd["units"] for m in u["members"]}
    spent = {c: s for u in mtd["units"] for c, s in u["downtime_spent_s"].items()}
    for cnf, total in spent.items():
        measured = sum(m["measured_downtime_s"] for m in moved if m["cnf"] == cnf)
        assert abs(total - measured) < 1e-9
    for move in moved:
        so_far = sum(
            m["measured_downtime_s"]
            for m in moved
            if m["cnf"] == move["cnf"] and m["arrived_at"] <= move["arrived_at"]
        )
        assert move["within_quota"] == (so_far <= budgets[move["cnf"]] + 1e-9)
    assert mtd["within_quota"] == all(spent[c] <= budgets[c] + 1e-9 for c in spent)
    assert mtd["probe"]["requests"] > 0
    # the agents that won the moves were attested, keyed and never revoked
    trust = report["trust"]
    assert {p for p, a in trust["agents"].items() if a["trusted"]} == {p.id for p in scenario.pops}
    assert all(e["result"] == "pass" for e in trust["attestations"])
    assert report["workflow"][-1]["outcome"] == "ok"
    # planned with the calibrated selector's picks; no move planned to arrive after the run
    assert mtd["models"]["selector"] == calibrated().calibration.selector.model
    assert set(mtd["models"]["selected"]) == {"web", "api"}
    assert all(m["planned_at"] + m["planned_total_s"] <= DURATION for m in mtd["moves"])
    assert set(leftovers()) <= before
