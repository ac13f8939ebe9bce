"""The live view: a run feeds the hub through its step loop; the app streams it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secmas.agents.mind import Mind
from secmas.cli.main import default_scenario_path
from secmas.pipeline.operate import OperateResult, operate
from secmas.scenario.loader import load_scenario
from secmas.ui import minds
from secmas.ui.app import create_app
from secmas.ui.live import LiveHub, LiveLoop
from secmas.ui.topology import scenario_view


@pytest.fixture(scope="module")
def live_run() -> tuple[LiveHub, OperateResult]:
    """The reference scenario without the trust layer, reported live."""
    scenario = load_scenario(default_scenario_path())
    scenario = scenario.model_copy(
        update={"security": scenario.security.model_copy(update={"enabled": False})}
    )
    hub = LiveHub()
    hub.begin("live-1", scenario_view(scenario, "test").model_dump(mode="json"), 240.0)
    result = asyncio.run(operate(scenario, loops=[LiveLoop(hub)]))
    hub.end("finished", "live-1", passed=True)
    return hub, result


def parse(stream: str) -> list[tuple[int, str, Any]]:
    """(id, event, data) of each server-sent event."""
    events = []
    for block in stream.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def test_the_snapshot_holds_the_run_as_it_went(live_run: tuple[LiveHub, OperateResult]) -> None:
    hub, result = live_run
    state = hub.snapshot()
    assert state.status == "finished" and state.folder == "live-1"
    assert state.now == 240.0 and len(state.telemetry) == 240
    assert [t.model_dump() for t in state.telemetry] == [asdict(t) for t in result.telemetry]
    assert len(state.auctions) == len(result.journal.auctions) == 15
    assert state.auctions[0].winner == "pop5"
    assert [p.instance for p in state.placements] == [p.instance for p in result.journal.placements]
    assert [i.id for i in state.initial] == ["link_monitor@pop6#0"]
    assert len(state.actions) == len(result.journal.actions)
    titles = [a.title for a in state.alerts]
    assert titles[0] == "Link Monitor: link over-used"
    assert titles.count("Classifier: malicious flows") == 2
    assert state.scenario is not None and state.scenario.topology is not None
    assert state.attestations == [] and state.plan == []


def test_events_stream_in_order_and_resume_after_an_id(
    live_run: tuple[LiveHub, OperateResult],
) -> None:
    hub, _ = live_run
    client = TestClient(create_app(Path("/nonexistent"), hub))
    answer = client.get("/api/live/events")
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = parse(answer.text)
    assert [e[0] for e in events] == list(range(1, hub.snapshot().seq + 1))
    kinds = [e[1] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("progress") == 240
    assert kinds.count("auction") == 15
    later = parse(client.get("/api/live/events?since=100").text)
    assert later[0][0] == 101 and later == events[100:]
    resumed = parse(client.get("/api/live/events", headers={"Last-Event-ID": "200"}).text)
    assert resumed == events[200:]
    assert client.get("/api/live/events?since=-1").status_code == 422
    assert client.get("/api/live").json()["seq"] == len(events)


def test_an_idle_hub_says_so_and_streams_nothing() -> None:
    client = TestClient(create_app(Path("/nonexistent")))
    assert client.get("/api/live").json()["status"] == "idle"
    assert parse(client.get("/api/live/events").text) == []


def test_the_loop_keeps_pace_with_the_wall_clock() -> None:
    loop = LiveLoop(LiveHub(), pace=100.0)

    async def steps() -> float:
        started = asyncio.get_running_loop().time()
        for now in (1.0, 11.0, 21.0):
            await loop._keep_pace(now)
        return asyncio.get_running_loop().time() - started

    assert 0.18 <= asyncio.run(steps()) < 1.0


def test_each_agents_mind_streams_as_it_changes(
    live_run: tuple[LiveHub, OperateResult],
) -> None:
    """Each `mind` event is the agent's mind after the changes journalled so far: one of
    the minds its changes pass through, in their order."""
    hub, result = live_run
    client = TestClient(create_app(Path("/nonexistent"), hub))
    shown = [data for _, kind, data in parse(client.get("/api/live/events").text) if kind == "mind"]
    agents = sorted({change.agent for change in result.journal.minds})
    assert sorted({data["agent"] for data in shown}) == agents == [f"pop{n}" for n in range(1, 7)]
    went: dict[str, int] = {}
    for agent in agents:
        mind, passed = Mind(), []
        for change in (c for c in result.journal.minds if c.agent == agent):
            mind.apply(change)
            passed.append(minds.view(mind, agent, 0).model_dump(exclude={"time"}))
        steps = [
            passed.index({k: v for k, v in data.items() if k != "time"})
            for data in shown
            if data["agent"] == agent
        ]
        assert steps == sorted(steps), agent
        went[agent] = len(set(steps))
    assert went["pop6"] > 3  # the monitored link's agent saw the attack and acted on it
    last = hub.snapshot().minds["pop6"]
    assert last.model_dump(mode="json") == [d for d in shown if d["agent"] == "pop6"][-1]
