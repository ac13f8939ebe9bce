"""Run folders whose files are not what they should be: every such folder is listed with
the reason, and a scenario.yaml that cannot be read is said so, never replaced."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secmas.ui.app import create_app

DDOS = (resources.files("secmas") / "data" / "ddos-6pop.yaml").read_text(encoding="utf-8")


def report(scenario: str = "ddos-6pop") -> dict[str, Any]:
    """The smallest report.json the schema takes."""
    return {
        "schema": "secmas.run/1",
        "run_id": "r1",
        "scenario": scenario,
        "seed": 1,
        "pops": 6,
        "wall_seconds": 1.0,
        "simulated_seconds": 10.0,
        "bus_messages": 0,
        "auctions": [],
        "placements": [],
        "actions": [],
        "final_instances": [],
        "capacity": {},
        "telemetry": [],
        "acceptance": {
            "attack_reduction": None,
            "legit_ratio": None,
            "capacity_ok": True,
            "passed": True,
        },
    }


def run_folder(root: Path, name: str, scenario: str | bytes | None = None) -> Path:
    """A readable run under `root`, with that scenario.yaml if given."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report()))
    if scenario is not None:
        data = scenario.encode() if isinstance(scenario, str) else scenario
        (folder / "scenario.yaml").write_bytes(data)
    return folder


def test_a_run_whose_report_is_not_a_file_is_listed_with_why(tmp_path: Path) -> None:
    run_folder(tmp_path, "fine")
    (tmp_path / "folder" / "report.json").mkdir(parents=True)
    (tmp_path / "pipe").mkdir()
    os.mkfifo(tmp_path / "pipe" / "report.json")  # opening it would wait for a writer
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "report.json").symlink_to(tmp_path / "gone.json")
    (tmp_path / "not a run").mkdir()
    client = TestClient(create_app(tmp_path))
    listed = {r["id"]: r for r in client.get("/api/runs").json()}
    assert set(listed) == {"fine", "folder", "pipe", "dangling"}
    assert listed["fine"]["readable"] and listed["fine"]["problem"] is None
    problems = {name: r["problem"] for name, r in listed.items() if not r["readable"]}
    assert problems == {
        "folder": "report.json is a directory, not a file",
        "pipe": "report.json is not a regular file",
        "dangling": "report.json is a link that cannot be followed: No such file or directory",
    }
    for name, problem in problems.items():
        answer = client.get(f"/api/runs/{name}")
        assert answer.status_code == 422
        assert answer.json()["detail"] == f"run {name!r} cannot be shown: {problem}"


def scenario_of(root: Path, name: str) -> dict[str, Any]:
    client = TestClient(create_app(root))
    whole = client.get(f"/api/runs/{name}")
    assert whole.status_code == 200, whole.text
    view = client.get(f"/api/runs/{name}/scenario").json()
    assert whole.json()["scenario"] == view
    return view


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pops: [\n", "scenario.yaml:2: (top level): YAML syntax"),
        (DDOS.replace("cpu:", "cpus:", 1), "scenario.yaml:"),
        (
            DDOS.replace("id: ddos-6pop", "id: other", 1),
            "scenario.yaml is scenario 'other', but report.json names 'ddos-6pop'",
        ),
        (b"id: \xff\xfe\n", "scenario.yaml: (top level): cannot read file"),
    ],
)
def test_an_unreadable_scenario_file_is_said_not_replaced(
    tmp_path: Path, text: str | bytes, problem: str
) -> None:
    run_folder(tmp_path, "run", text)
    view = scenario_of(tmp_path, "run")
    assert view["topology"] is None and view["source"] == "scenario.yaml"
    assert view["problem"].startswith(problem), view["problem"]
    assert str(tmp_path) not in view["problem"]  # the folder's path is the page's business


def test_a_scenario_file_that_is_a_directory_is_said(tmp_path: Path) -> None:
    (run_folder(tmp_path, "run") / "scenario.yaml").mkdir()
    view = scenario_of(tmp_path, "run")
    assert view["topology"] is None
    assert view["problem"] == "scenario.yaml is a directory, not a file"


def test_a_repaired_scenario_file_is_read_again(tmp_path: Path) -> None:
    folder = run_folder(tmp_path, "run", "pops: [\n")
    client = TestClient(create_app(tmp_path))
    assert client.get("/api/runs/run/scenario").json()["problem"]
    (folder / "scenario.yaml").write_text(DDOS)
    view = client.get("/api/runs/run/scenario").json()
    assert view["problem"] is None and view["source"] == "scenario.yaml" and view["topology"]


def test_without_a_scenario_file_the_embedded_one_is_used_as_before(tmp_path: Path) -> None:
    run_folder(tmp_path, "run")
    view = scenario_of(tmp_path, "run")
    assert view["source"] == "embedded scenario ddos-6pop" and view["topology"]
    assert view["problem"] is None
