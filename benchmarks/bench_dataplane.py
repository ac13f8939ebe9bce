"""One scenario, two engines: the flow-level simulator against the emulated network.

Runs the compressed reference scenario (`scenarios/ddos-emulated.yaml`) and one generated
topology (SNDlib Abilene, compressed the same way: VNF images a tenth of their size, 75 s,
the attack at 10 s, 4 % of the rates on the real network) on both engines, with the same
agents, auctions and trust layer, and reports per run: attack removed and legitimate
traffic restored (the acceptance figures, from real counters on the emulated engine),
the time from the attack's start until the attack reaching the server stays under 10 %
of what the attackers send, the auctions and bus messages, the wall time, and the
simulator's speed-up, whether the reference scenario told Table 5.8's story
(`secmas.report.story`), and the machine's load average (a real-time engine on a shared
2-core machine measures its neighbours too). Then the scale of the emulated engine on
this machine: rings of growing numbers of PoPs are built and carry traffic and a flood,
and the time to build,
to read every node's counters once (which must stay well under a step) and to take the
network down is measured.

    python benchmarks/bench_dataplane.py [--quick]

Needs root (the emulated engine). Writes benchmarks/results/dataplane.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from machine import describe
from secmas.api import run
from secmas.network.clock import ScaledClock
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload
from secmas.pipeline.operate import OperateResult
from secmas.report.acceptance import Timeline, acceptance
from secmas.report.record import auction_entry
from secmas.report.story import departures, sequence
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario
from secmas.scenario.topology import scenario_from_graph, scenario_from_topology

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
REFERENCE = ROOT / "scenarios" / "ddos-emulated.yaml"
GENERATED = "sndlib/abilene"
DURATION, ATTACK_START, SCALE = 75.0, 10.0, 0.04
MITIGATED = 0.1  # attack at the server under this share of what is sent


def compressed(scenario: Scenario) -> Scenario:
    """The scenario as ddos-emulated compresses ddos-6pop: images a tenth of their size
    (every download time T a tenth), 75 s with the attack at 10 s, 4 % of the rates, half
    the attackers at twice the rate (the same attack, each flow above the Classifier's
    10 real SYNs a second after the limits)."""
    assert scenario.traffic is not None and scenario.attack is not None
    return scenario.model_copy(
        update={
            "vnfs": tuple(
                v.model_copy(update={"image_size": v.image_size / 10}) for v in scenario.vnfs
            ),
            "traffic": scenario.traffic.model_copy(update={"duration": DURATION}),
            "attack": scenario.attack.model_copy(
                update={
                    "start": ATTACK_START,
                    "attackers": max(1, scenario.attack.attackers // 2),
                    "rate": scenario.attack.rate * 2,
                }
            ),
            "network": scenario.network.model_copy(update={"scale": SCALE}),
        }
    )


def mitigation_time(result: OperateResult, start: float) -> float | None:
    """Seconds from the attack's start until the attack reaching the server stays under
    MITIGATED of what is sent to the end of the run (None if it never does)."""
    after = [x for x in result.telemetry if x.t >= start]
    for index, sample in enumerate(after):
        if all(x.attack <= MITIGATED * max(x.offered_attack, 1e-9) for x in after[index:]):
            return sample.t - start
    return None


def figures(scenario: Scenario, result: OperateResult, engine: str) -> dict[str, Any]:
    assert scenario.attack is not None
    accepted = acceptance(result.telemetry, Timeline.of(scenario), result.capacity.ok)
    actions = [
        f"{a.time:.1f} {a.agent} {a.action}"
        for a in result.journal.actions
        if a.action not in ("steer", "unsteer", "blockFlow")
    ]
    blocks = [a for a in result.journal.actions if a.action == "blockFlow"]
    auctions = [auction_entry(*a) for a in result.journal.auctions]
    emulation = getattr(result, "emulation", None) or {}
    return {
        "engine": engine,
        "attack_removed": accepted.attack_reduction,
        "legit_restored": accepted.legit_ratio,
        "passed": accepted.passed,
        "mitigation_s": mitigation_time(result, scenario.attack.start),
        "first_block_s": blocks[0].time - scenario.attack.start if blocks else None,
        "blocks": len(blocks),
        "auctions": len(result.journal.auctions),
        "messages": result.messages,
        "wall_s": result.wall_seconds,
        "run_s": len(result.telemetry) * (scenario.traffic.step if scenario.traffic else 1),
        "placements": [f"{p.vnf}@{p.pop}" for p in result.journal.placements],
        "actions": actions,
        "requests": emulation.get("requests"),
        # Table 5.8 is the reference scenario's story; a generated topology tells its own
        "story": departures(auctions) if scenario.id == "ddos-emulated" else None,
        "auction_sequence": sequence(auctions),
    }


def one_run(scenario: Scenario, engine: str) -> dict[str, Any]:
    """The scenario on one engine, with the same agents, auctions and trust layer, run
    as `secmas run --dataplane ENGINE` runs it (`secmas.api.run`)."""
    with tempfile.TemporaryDirectory() as folder:
        result = run(scenario, engine=engine, out=Path(folder) / "run")
    return figures(scenario, result.operated, engine)


def both_engines(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario on the simulator, then on the emulated network, each run in a fresh
    process as `secmas run` would start it (in one process, the emulated run after a
    simulated one blocked only some of the flagged flows: not explained yet)."""
    rows = []
    for engine in ("simulator", "emulated"):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows.append(pool.submit(one_run, scenario, engine).result())
    rows[1]["speed_up"] = rows[1]["wall_s"] / max(rows[0]["wall_s"], 1e-9)
    return rows


def ring(pops: int) -> Scenario:
    """A ring of `pops` PoPs with a chord every fourth one, as a generated scenario."""
    nodes = [{"id": i} for i in range(pops)]
    edges = [{"source": i, "target": (i + 1) % pops} for i in range(pops)]
    edges += [{"source": i, "target": (i + pops // 2) % pops} for i in range(0, pops, 4)]
    return compressed(scenario_from_graph({"nodes": nodes, "edges": edges}, f"ring{pops}"))


def scale_point(pops: int, samples: int = 5) -> dict[str, Any]:
    """Build a ring, run its traffic and flood, time the build, sampling and teardown."""
    scenario = ring(pops)
    plan = emulation_plan(scenario)
    started = time.perf_counter()
    network = EmulatedNetwork(plan)
    with tempfile.TemporaryDirectory() as folder:
        network.start()
        try:
            built = time.perf_counter() - started
            workload = Workload(network, Path(folder), 1.0, 1)
            workload.start_service()
            workload.start_attack()
            controller = EmulatedController(network, ScaledClock(), 1.0)

            async def sample() -> list[float]:
                took = []
                for _ in range(samples):
                    began = time.perf_counter()
                    await controller.sample()
                    took.append(time.perf_counter() - began)
                    await asyncio.sleep(max(0.0, 1.0 - took[-1]))
                return took

            took = asyncio.run(sample())
            requests = workload.requests()
            workload.stop()
        finally:
            stopping = time.perf_counter()
            network.stop()
    return {
        "pops": pops,
        "namespaces": len(plan.namespaces),
        "client_addresses": sum(len(g.clients) for g in plan.groups),
        "links": len(plan.links),
        "build_s": built,
        "sample_s": statistics.mean(took),
        "sample_max_s": max(took),
        "stop_s": time.perf_counter() - stopping,
        "requests_ok": sum(r.ok for r in requests) / len(requests) if requests else None,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.2))
    left, middle, right = fig.subplots(1, 3)
    labels, removed, restored, mitigation = [], [], [], []
    for name, rows in results["scenarios"].items():
        for row in rows:
            labels.append(f"{name}\n{row['engine']}")
            removed.append(100 * (row["attack_removed"] or 0))
            restored.append(100 * (row["legit_restored"] or 0))
            mitigation.append(row["mitigation_s"] or 0)
    x = range(len(labels))
    left.bar([i - 0.2 for i in x], removed, 0.4, label="attack removed %")
    left.bar([i + 0.2 for i in x], restored, 0.4, label="legit restored %")
    left.axhline(90, color="grey", ls=":", lw=0.8)
    left.set_xticks(list(x), labels, fontsize=7)
    left.legend(fontsize=7)
    left.set_title("acceptance figures")
    middle.bar(list(x), mitigation, color="tab:purple")
    middle.set_xticks(list(x), labels, fontsize=7)
    middle.set_ylabel("s from attack start")
    middle.set_title("time to mitigation")
    scale = results["scale"]
    pops = [p["pops"] for p in scale]
    right.plot(pops, [p["build_s"] for p in scale], "o-", label="build")
    right.plot(pops, [p["sample_s"] for p in scale], "s-", label="read all counters")
    right.plot(pops, [p["stop_s"] for p in scale], "^-", label="tear down")
    right.axhline(1.0, color="grey", ls=":", lw=0.8, label="one step")
    right.set_xlabel("PoPs")
    right.set_ylabel("seconds")
    right.set_title("emulated engine on this machine")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reference scenario, small rings")
    args = parser.parse_args()
    scenarios = {"ddos-emulated": load_scenario(REFERENCE)}
    if not args.quick:
        scenarios[GENERATED] = compressed(scenario_from_topology(GENERATED, seed=1))
    results: dict[str, Any] = {
        "machine": describe(["mininet"], load_average_before=os.getloadavg()),
        "scale_factor": SCALE,
        "scenarios": {name: both_engines(s) for name, s in scenarios.items()},
        "scale": [scale_point(n) for n in ((6, 12) if args.quick else (6, 12, 24, 48))],
    }
    results["machine"]["load_average_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dataplane.json").write_text(json.dumps(results, indent=2))
    plot(results, RESULTS / "dataplane.png")
    for name, rows in results["scenarios"].items():
        for row in rows:
            story = row["story"]
            told = "" if story is None else f"; Table 5.8: {'; '.join(story) or 'told'}"
            print(
                f"{name:16} {row['engine']:9} removed {row['attack_removed']} restored "
                f"{row['legit_restored']} mitigation {row['mitigation_s']} s, "
                f"{row['auctions']} auctions, {row['messages']} messages, "
                f"{row['wall_s']:.1f} s wall{told}"
            )
    for point in results["scale"]:
        print(point)


if __name__ == "__main__":
    main()
