"""A secure run whose closed loop trains federated, with every agent its own OS process
(`secmas run --federated --processes`): once the pipeline is up (attested on the ledger,
enrolled, keyed), the agent processes train the detector, each on its own PoP's
telemetry, the secure sums travelling over the sealed NATS bus; report.json has one F1
per round, and the keys the sums were checked against are the agents' own."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.loops_runs import NEEDS_NATS

from secmas.api import Processes
from secmas.api import run as api_run
from secmas.scenario.loader import load_scenario

pytestmark = NEEDS_NATS

SCENARIO = Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml"
ROUNDS = 2


def test_the_run_trains_its_detector_among_its_attested_agent_processes(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO)
    analytics = scenario.analytics.model_copy(
        update={
            "training": "federated",
            "rounds": ROUNDS,
            "samples": 120,
            "epochs": ROUNDS,
            "profile_epochs": 2,
        }
    )
    scenario = scenario.model_copy(update={"analytics": analytics})
    folder = tmp_path / "run"
    result = api_run(scenario, out=folder, placement=Processes())
    report = result.report
    training = report["analytics"]["federated_training"]
    assert report["analytics"]["detector"]["training"] == "federated"
    # one F1 per round, each round applied and the global model moved in each
    assert len(training["f1"]) == ROUNDS == len(training["rounds"])
    assert all(0.0 <= f1 <= 1.0 for f1 in training["f1"])
    assert all(r["moved"] > 0 and not r["rejected"] for r in training["rounds"])
    # the agents that trained are the attested, trusted ones, every round all of them
    trust = report["trust"]
    pops = [p.id for p in scenario.pops]
    attested = {e["measured"] for e in trust["attestations"] if e["result"] == "pass"}
    assert training["agents"] == pops and set(pops) <= attested
    assert all(trust["agents"][p]["trusted"] for p in pops)
    assert all(r["agents"] == pops for r in training["rounds"])
    assert training["refused"] == []
    # the keys the MLFO read back from the registry are each agent process's own, and
    # training did not cost any agent its attestation (no JIT pages left behind)
    for pop in pops:
        log = (folder / f"agent-{pop}.log").read_text()
        said = re.search(rf"federated training: {pop} contributed to (\d+) .* with (\w+)", log)
        assert said is not None, log[-2000:]
        assert int(said.group(1)) >= ROUNDS and said.group(2) == training["signing_keys"][pop]
    assert {e["result"] for e in trust["attestations"]} == {"pass"}
