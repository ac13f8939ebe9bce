"""One agent's beliefs, goals and intentions at a time of a finished run, over the API
(`secmas.ui.minds`), against what report.json's `minds` replay to."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from secmas.agents.journal import Journal, apply_json
from secmas.agents.mind import Mind, replay


def recorded(report: dict[str, Any]) -> Journal:
    """report.json's minds as the agents journalled them."""
    journal = Journal()
    for change in report["minds"]:
        apply_json(journal, {"event": "mind", **change})
    return journal


def busy_moment(report: dict[str, Any]) -> tuple[str, float, Mind]:
    """The first agent and time at which it believes something, has goals and pursues one."""
    journal = recorded(report)
    for change in journal.minds:
        mind = replay(journal.minds, change.agent, change.time)
        if mind.beliefs and mind.goals and mind.intentions:
            return change.agent, change.time, mind
    raise AssertionError("no agent ever had beliefs, goals and an intention at once")


def test_the_run_lists_the_agents_whose_minds_it_recorded(
    client: TestClient, reports: dict[str, dict[str, Any]]
) -> None:
    index = client.get("/api/runs/secure/minds").json()
    pops = [f"pop{n}" for n in range(1, 7)]
    assert index["agents"] == pops
    assert index["end"] >= reports["secure"]["simulated_seconds"]
    assert client.get("/api/runs/secure").json()["minds"] == index


def test_an_agents_mind_at_a_time_is_what_the_report_replays_to(
    client: TestClient, reports: dict[str, dict[str, Any]]
) -> None:
    agent, t, mind = busy_moment(reports["secure"])
    shown = client.get(f"/api/runs/secure/minds/{agent}", params={"time": t}).json()
    assert shown["agent"] == agent and shown["time"] == t
    assert shown["beliefs"] == sorted(mind.beliefs)
    assert [(g["id"], g["goal"], g["status"], g["plan"]) for g in shown["goals"]] == [
        (g.id, g.goal, g.status, g.plan) for g in sorted(mind.goals.values(), key=lambda g: g.id)
    ]
    assert [(g["goal"], g["plan"]) for g in shown["intentions"]] == [
        (g.goal, g.plan) for g in mind.intentions
    ]
    start = client.get(f"/api/runs/secure/minds/{agent}", params={"time": 0}).json()
    assert start["intentions"] == [] and start != shown


def test_an_unknown_agent_is_404_and_a_time_not_in_the_run_422_with_a_message(
    client: TestClient,
) -> None:
    unknown = client.get("/api/runs/secure/minds/pop9", params={"time": 1})
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("no agent 'pop9' in this run; its agents: pop1")
    for bad in ("-1", "1e9", "nan", "inf"):
        answer = client.get("/api/runs/secure/minds/pop1", params={"time": bad})
        assert answer.status_code == 422, bad
        assert "is not in the run: from 0 to" in answer.json()["detail"], bad
    for bad in ("soon", ""):
        answer = client.get("/api/runs/secure/minds/pop1", params={"time": bad})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
            "query",
            "time",
        ]
    missing = client.get("/api/runs/secure/minds/pop1")
    assert missing.status_code == 422 and missing.json()["detail"][0]["type"] == "missing"
    assert client.get("/api/runs/nope/minds/pop1", params={"time": 1}).status_code == 404


@given(st.text(min_size=1, max_size=20), st.floats(allow_nan=True, allow_infinity=True))
def test_no_agent_or_time_gets_a_server_error(client: TestClient, agent: str, t: float) -> None:
    answer = client.get("/api/runs/secure/minds/" + quote(agent, safe=""), params={"time": t})
    assert answer.status_code in (200, 404, 422), (agent, t, answer.text)


@pytest.mark.parametrize("run", ["policy", "loop"])
def test_every_run_records_its_agents_minds(client: TestClient, run: str) -> None:
    index = client.get(f"/api/runs/{run}/minds").json()
    assert index["agents"]
    first = client.get(f"/api/runs/{run}/minds/{index['agents'][0]}", params={"time": index["end"]})
    assert first.status_code == 200
