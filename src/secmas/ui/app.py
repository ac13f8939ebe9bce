"""The web app of `secmas ui`: the API under /api/, its OpenAPI schema at /openapi.json,
and the page at /.

| endpoint | answers |
| --- | --- |
| `GET /api/runs` | every run under the runs directory, newest first (unreadable: why) |
| `GET /api/runs/{id}` | everything the page shows about one run |
| `GET /api/runs/{id}/scenario` | the scenario, its topology drawn, traffic and attack windows |
| `GET /api/runs/{id}/scenario/diff?other=B` | what differs from run B's scenario, field by field |
| `GET /api/runs/{id}/workflow` | the deployment steps 0–14 as they ran |
| `GET /api/runs/{id}/agents` | per agent: PoP, status, trust score, attestation history |
| `GET /api/runs/{id}/auctions` | every auction: bids with T, C, D, utility, refusals, winner |
| `GET /api/runs/{id}/minds` | the agents whose beliefs, goals and intentions were recorded |
| `GET /api/runs/{id}/minds/{agent}?time=T` | that agent's beliefs, goals and intentions at T s |
| `GET /api/runs/{id}/placements` | VNF instances at the start and every placement event |
| `GET /api/runs/{id}/ledger` | contracts, attestation plan and records, key epochs, audit anchors |
| `GET /api/runs/{id}/alerts` | alerts of every source, with explanations and what was done |
| `GET /api/runs/{id}/audit` | the hash-chained audit log, verified against its anchors |
| `GET /api/runs/{id}/metrics` | traffic series and the CNFs' metrics |
| `GET /api/runs/{id}/ssla` | every SSLA term over time: breach episodes, enforcements |
| `GET /api/runs/{id}/cti` | CTI hygiene per domain, PoPs barred, sharing decisions |
| `GET /api/runs/{id}/mtd` | moving target defence: budgets, moves predicted vs measured |
| `GET /api/runs/{id}/network` | steered paths and blocked flows over time |
| `GET /api/runs/{id}/figures` | key figures, the same for every run (to compare two) |
| `GET /api/live` | the run in progress so far (`secmas demo --ui`) |
| `GET /api/live/events` | what follows, as server-sent events |

An unknown run is 404, an id that is not one (a separator or a control character, too
long) 422, a run whose report.json is unreadable 422 with the reason, an agent whose
mind the run did not record 404, a time outside the run (or not a number) 422, a
scenario to compare that cannot be read 422; each with a `detail` message. The last
three answer null when the run has no such section.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, StreamingResponse

from secmas.scenario.model import Scenario
from secmas.ui import minds, views
from secmas.ui import runs as store
from secmas.ui.adaptive import CtiView, MtdView
from secmas.ui.compliance import SslaView
from secmas.ui.live import LiveHub
from secmas.ui.models import (
    AgentView,
    Alert,
    Auction,
    AuditView,
    Figure,
    Ledger,
    LiveState,
    Metrics,
    MindIndex,
    MindView,
    PlacementTimeline,
    RunDetail,
    RunSummary,
    ScenarioView,
    WorkflowStep,
)
from secmas.ui.network import NetworkView
from secmas.ui.runs import RUN_ID, LoadedRun, RunStore, UnknownRun, UnreadableRun
from secmas.ui.scenario_diff import Difference, scenario_diff

T = TypeVar("T")

RunId = Annotated[
    str,
    PathParam(
        pattern=RUN_ID,
        max_length=255,
        description="the run folder's name (any, spaces included, but '/', '\\' and "
        "control characters)",
    ),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no run of that id"},
    422: {"description": "not a run id, or the run's report.json is unreadable"},
}
MIND_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no run of that id, or no agent of that name in it"},
    422: {"description": "not a run id, an unreadable run, or a time not in the run"},
}
POLL_SECONDS = 0.1
KEEPALIVE_SECONDS = 10.0


def page() -> str:
    """The single web page (static/index.html)."""
    return (resources.files("secmas.ui") / "static" / "index.html").read_text(encoding="utf-8")


def create_app(runs: Path, hub: LiveHub | None = None) -> FastAPI:
    """The app serving the runs under `runs` and, when given, the live run of `hub`."""
    app = FastAPI(
        title="secmas",
        summary="Runs of the secure multi-agent system: topology, placements, auctions, "
        "attestation plan and ledger, traffic and alerts.",
        version="1",
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN
        redoc_url=None,
    )
    runs_store = RunStore(runs)
    live = hub or LiveHub()
    app.state.runs = runs_store
    app.state.hub = live

    def loaded(run_id: str, view: Callable[[LoadedRun], T]) -> T:
        try:
            return view(runs_store.load(run_id))
        except UnknownRun as exc:
            raise HTTPException(404, str(exc)) from None
        except UnreadableRun as exc:
            raise HTTPException(422, f"run {run_id!r} cannot be shown: {exc}") from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page()

    @app.get("/api/runs", tags=["runs"])
    def list_runs() -> list[RunSummary]:
        """Every run under the runs directory, newest first; unreadable ones say why."""
        return runs_store.summaries()

    @app.get("/api/runs/{run_id}", tags=["runs"], responses=ERRORS)
    def run_detail(run_id: RunId) -> RunDetail:
        """Everything about one run: what the page shows."""
        return loaded(run_id, store.detail)

    @app.get("/api/runs/{run_id}/scenario", tags=["runs"], responses=ERRORS)
    def run_scenario(run_id: RunId) -> ScenarioView:
        """The scenario: topology (PoPs, links, hosts, clients, attackers), traffic, attack."""
        return loaded(run_id, store.scenario_of)

    @app.get("/api/runs/{run_id}/scenario/diff", tags=["runs"], responses=ERRORS)
    def run_scenario_diff(
        run_id: RunId,
        other: Annotated[str, Query(max_length=255, description="the run to compare with (B)")],
    ) -> list[Difference]:
        """What differs between this run's scenario (A) and `other`'s (B), field by field."""
        return scenario_diff(loaded(run_id, _scenario), loaded(other, _scenario))

    @app.get("/api/runs/{run_id}/workflow", tags=["runs"], responses=ERRORS)
    def run_workflow(run_id: RunId) -> list[WorkflowStep]:
        """The deployment workflow's steps (0–14) with inputs, outputs, time and outcome."""
        return loaded(run_id, lambda r: r.report.workflow)

    @app.get("/api/runs/{run_id}/agents", tags=["runs"], responses=ERRORS)
    def run_agents(run_id: RunId) -> list[AgentView]:
        """Per agent: PoP, status, trust score, attestation history, auctions won."""
        return loaded(run_id, lambda r: store.detail(r).agents)

    @app.get("/api/runs/{run_id}/auctions", tags=["runs"], responses=ERRORS)
    def run_auctions(run_id: RunId) -> list[Auction]:
        """Every auction: bids with T, C, D and Eq. 3.1 utility, refusals, winner."""
        return loaded(run_id, lambda r: r.report.auctions)

    @app.get("/api/runs/{run_id}/minds", tags=["runs"], responses=ERRORS)
    def run_minds(run_id: RunId) -> MindIndex:
        """The agents whose beliefs, goals and intentions the run recorded."""
        return loaded(run_id, lambda r: minds.index(r.report))

    @app.get("/api/runs/{run_id}/minds/{agent}", tags=["runs"], responses=MIND_ERRORS)
    def run_mind(
        run_id: RunId,
        agent: str,
        time: Annotated[float, Query(description="simulated second, within the run")],
    ) -> MindView:
        """One agent's beliefs, goals and intentions at a time of the run."""
        report = loaded(run_id, lambda r: r.report)
        try:
            return minds.mind_at(report, agent, time)
        except minds.UnknownAgent as exc:
            raise HTTPException(404, str(exc)) from None
        except minds.OutOfRun as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/runs/{run_id}/placements", tags=["runs"], responses=ERRORS)
    def run_placements(run_id: RunId) -> PlacementTimeline:
        """VNF instances over time."""
        return loaded(run_id, lambda r: views.placements(r.report))

    @app.get("/api/runs/{run_id}/ledger", tags=["runs"], responses=ERRORS)
    def run_ledger(run_id: RunId) -> Ledger | None:
        """The trust layer on chain (null for an --insecure run)."""
        return loaded(run_id, store.ledger)

    @app.get("/api/runs/{run_id}/alerts", tags=["runs"], responses=ERRORS)
    def run_alerts(run_id: RunId) -> list[Alert]:
        """Alerts of the agents, the trust layer, the closed loop and the SSLA manager."""
        return loaded(run_id, lambda r: views.run_alerts(r.report))

    @app.get("/api/runs/{run_id}/audit", tags=["runs"], responses=ERRORS)
    def run_audit(run_id: RunId) -> AuditView | None:
        """The run's audit log, verified (null when the run has none)."""
        return loaded(run_id, store.audit)

    @app.get("/api/runs/{run_id}/metrics", tags=["runs"], responses=ERRORS)
    def run_metrics(run_id: RunId) -> Metrics:
        """Traffic towards the server per step; the CNFs' metrics when monitored."""
        return loaded(run_id, store.metrics)

    @app.get("/api/runs/{run_id}/ssla", tags=["runs"], responses=ERRORS)
    def run_ssla(run_id: RunId) -> SslaView | None:
        """Every SSLA guarantee term over the run (null when no SSLA manager ran)."""
        return loaded(run_id, store.ssla)

    @app.get("/api/runs/{run_id}/cti", tags=["runs"], responses=ERRORS)
    def run_cti(run_id: RunId) -> CtiView | None:
        """CTI hygiene per domain and the sharing decisions (null without CTI)."""
        return loaded(run_id, store.cti)

    @app.get("/api/runs/{run_id}/mtd", tags=["runs"], responses=ERRORS)
    def run_mtd(run_id: RunId) -> MtdView | None:
        """The moving target defence's moves, predicted against measured (null without)."""
        return loaded(run_id, store.mtd)

    @app.get("/api/runs/{run_id}/network", tags=["runs"], responses=ERRORS)
    def run_network(run_id: RunId) -> NetworkView:
        """Steered paths (end inferred from the journal) and blocked flows over the run."""
        return loaded(run_id, store.network)

    @app.get("/api/runs/{run_id}/figures", tags=["runs"], responses=ERRORS)
    def run_figures(run_id: RunId) -> list[Figure]:
        """Key figures with their unit and which way is better: two runs side by side."""
        return loaded(run_id, store.figures)

    @app.get("/api/live", tags=["live"])
    def live_state() -> LiveState:
        """The live run so far; `status` idle when none is running in this process."""
        return live.snapshot()

    @app.get(
        "/api/live/events",
        tags=["live"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "events"}},
    )
    async def live_events(
        request: Request,
        since: Annotated[int, Query(ge=0, description="last event number already seen")] = 0,
        last_event_id: Annotated[int | None, Header(ge=0)] = None,
    ) -> StreamingResponse:
        """Server-sent events after `since` (or the Last-Event-ID header), until the run
        ends; `id` is the event number, `event` its kind, `data` JSON."""
        start = max(since, last_event_id or 0)
        return StreamingResponse(
            _stream(live, start, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app


def _scenario(run: LoadedRun) -> Scenario:
    """The run's scenario, or a 422 that says why there is none."""
    if run.scenario is None:
        why = run.scenario_problem or "neither in the run folder nor embedded"
        raise HTTPException(422, f"run {run.id!r}: its scenario cannot be read: {why}")
    return run.scenario


async def _stream(hub: LiveHub, last: int, request: Request) -> AsyncIterator[str]:
    hub.streams += 1
    hub.watched = True
    try:
        yield "retry: 2000\n\n"
        quiet = 0.0
        while True:
            events, status = hub.since(last)
            for seq, kind, data in events:
                yield f"id: {seq}\nevent: {kind}\ndata: {json.dumps(_finite(data))}\n\n"
                last = seq
            if not events and status != "running":
                return
            if events:
                quiet = 0.0
            elif quiet >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
            quiet += POLL_SECONDS
    finally:
        hub.streams -= 1


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities (which JavaScript's JSON.parse refuses) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
