"""What differs between two runs' scenarios, field by field (`secmas.ui.scenario_diff`),
and over the API."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from secmas.cli.main import default_scenario_path
from secmas.scenario.loader import parse_scenario
from secmas.ui.app import create_app
from secmas.ui.scenario_diff import Difference, scenario_diff

REFERENCE = default_scenario_path("ddos-6pop").read_text()


def test_the_same_scenario_has_no_difference() -> None:
    assert scenario_diff(parse_scenario(REFERENCE), parse_scenario(REFERENCE)) == []


def test_each_changed_field_is_named_by_its_path_with_both_values() -> None:
    changed = (
        REFERENCE.replace("seed: 7", "seed: 8")
        .replace("{id: pop3, cpu: 2,", "{id: pop3, cpu: 3,")
        .replace("{a: pop2, b: pop5, bandwidth: 9,", "{a: pop2, b: pop5, bandwidth: 7,")
        .replace(
            "  - {id: server, attach: pop6, ip: 10.0.0.100}\n",
            "  - {id: server, attach: pop6, ip: 10.0.0.100}\n"
            "  - {id: mirror, attach: pop5, ip: 10.0.0.101}\n",
        )
    )
    differences = scenario_diff(parse_scenario(REFERENCE), parse_scenario(changed))
    assert [(d.path, d.kind, d.a, d.b) for d in differences] == [
        ("seed", "changed", 7, 8),
        ("pops[id=pop3].cpu", "changed", 2, 3),
        (
            "hosts[id=mirror]",
            "only-b",
            None,
            {"id": "mirror", "attach": "pop5", "ip": "10.0.0.101"},
        ),
        ("links[1].bandwidth", "changed", 9, 7),
    ]


def test_the_api_compares_two_runs_scenarios(client: TestClient) -> None:
    answer = client.get("/api/runs/secure/scenario/diff", params={"other": "policy"})
    assert answer.status_code == 200
    differences = [Difference.model_validate(d) for d in answer.json()]
    assert Difference(path="id", kind="changed", a="ddos-6pop", b="spoofed-injection") in (
        differences
    )
    same = client.get("/api/runs/secure/scenario/diff", params={"other": "secure"})
    assert same.json() == []


def test_a_run_to_compare_that_is_missing_or_unreadable_is_4xx_with_a_message(
    client: TestClient,
) -> None:
    missing = client.get("/api/runs/secure/scenario/diff", params={"other": "nope"})
    assert missing.status_code == 404 and "no run 'nope'" in missing.json()["detail"]
    broken = client.get("/api/runs/secure/scenario/diff", params={"other": "broken"})
    assert broken.status_code == 422 and "cannot be shown" in broken.json()["detail"]
    unnamed = client.get("/api/runs/secure/scenario/diff")
    assert unnamed.status_code == 422 and unnamed.json()["detail"][0]["loc"] == ["query", "other"]


def test_a_run_whose_scenario_cannot_be_found_is_422_with_the_reason(
    runs: Path, tmp_path: Path
) -> None:
    (tmp_path / "secure").symlink_to(runs / "secure", target_is_directory=True)
    report = json.loads((runs / "secure" / "report.json").read_text())
    (tmp_path / "lost").mkdir()
    (tmp_path / "lost" / "report.json").write_text(json.dumps(report | {"scenario": "mine"}))
    client = TestClient(create_app(tmp_path))
    answer = client.get("/api/runs/secure/scenario/diff", params={"other": "lost"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "run 'lost': its scenario cannot be read: neither in the run folder nor embedded"
    )
