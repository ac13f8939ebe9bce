"""The files of a run: report.json is strict JSON, and says which numbers were not finite."""

from __future__ import annotations

import asyncio
from pathlib import Path

from secmas import strictjson
from secmas.pipeline.operate import operate
from secmas.report.acceptance import Timeline, acceptance
from secmas.report.files import write_run
from secmas.report.record import build_report
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_report_json_is_strict_and_notes_the_service_without_latency_limit(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
    security = scenario.security.model_copy(update={"enabled": False})
    # without a network service of its own, the run's default one has no latency limit (inf)
    scenario = scenario.model_copy(update={"security": security, "service": None})
    result = asyncio.run(operate(scenario, until=5.0))
    report = build_report(
        result, acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok), "x"
    )
    paths = write_run(tmp_path, report, result.journal, result.telemetry, None, scenario)
    data = strictjson.loads((tmp_path / "report.json").read_text())
    [(pointer, was)] = [(p, v) for p, v in data["non_finite"].items() if "max_latency" in p]
    assert was == "Infinity"
    step, key = pointer.split("/")[2], pointer.split("/")[-1]
    assert key == "max_latency_ms" and data["workflow"][int(step)]["outputs"][key] is None
    assert all(strictjson.problem(p) is None for p in paths if p.suffix == ".json")
