"""The deployment workflow: numbered, timed, recorded steps; failures name the step and
leave nothing registered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.ledger.ids import pipeline_id
from secmas.ledger.keyfile import LedgerKeys
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.network.clock import VirtualClock
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.images import WrappedImage, wrap_native_image
from secmas.pipeline.inprocess import bring_up
from secmas.pipeline.operate import operate
from secmas.pipeline.workflow import STEPS, Workflow
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus
from secmas.trust.repository import ReferenceRepository

ROOT = Path(__file__).resolve().parents[2]


def test_steps_are_timed_recorded_and_failures_name_the_step() -> None:
    async def main() -> Workflow:
        flow = Workflow()
        assert await flow.step("0", lambda: 41 + 1, {"x": 1}, lambda v: {"value": v}) == 42

        async def broken() -> None:
            raise ValueError("no such thing")

        with pytest.raises(PipelineError, match=r"step 5 \(MLFO deploys the wrapped images\)"):
            await flow.step("5", broken)
        return flow

    flow = asyncio.run(main())
    first, failed = flow.records
    assert (first.number, first.outcome, first.outputs) == ("0", "ok", {"value": 42})
    assert first.inputs == {"x": 1} and first.seconds >= 0
    assert failed.outcome == "failed: no such thing"


def test_the_demo_records_every_step_in_order() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
    result = asyncio.run(operate(scenario, until=30))
    assert [s["number"] for s in result.workflow] == list(STEPS)
    assert all(s["outcome"] == "ok" for s in result.workflow)
    mlfo = next(s for s in result.workflow if s["number"] == "1")["outputs"]
    assert [a["pop"] for a in mlfo["agents"]] == [f"pop{i}" for i in range(1, 7)]
    keys = next(s for s in result.workflow if s["number"] == "13-14")["outputs"]
    assert keys["epoch"] == 1 and keys["recipients"] == 6


def test_a_failed_initial_attestation_stops_and_revokes_every_registered_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first agent of the plan runs other code than SECaaS wrapped: step 9–12 fails,
    and the agents registered at step 6–7 are all revoked on chain."""
    code = Path("/proc/self/exe").resolve()
    repository = ReferenceRepository(":memory:")
    genuine = wrap_native_image(code, Ed25519PrivateKey.generate(), repository)
    other = tmp_path / "other"
    other.write_bytes(Path("/bin/ls").read_bytes())
    stale = wrap_native_image(other, Ed25519PrivateKey.generate(), repository)
    impostor = WrappedImage(stale.manifest, genuine.runtime)

    async def main(flow: Workflow, server: LedgerServer) -> None:
        bus = MemoryBus()
        try:
            await bring_up(
                "rollback",
                ["a1", "a2", "a3"],
                bus,
                VirtualClock(),
                Security(ledger=server.url),
                keys=LedgerKeys(server.mlfo, server.secaas),
                images={"a1": impostor},
                workflow=flow,
            )
        finally:
            await bus.close()

    with LedgerServer(port=0) as server:
        monkeypatch.setenv(LEDGER_TOKEN_ENV, server.token)  # the agents' way to the token
        flow = Workflow()
        with pytest.raises(PipelineError, match=r"step 9-12 .*initial attestation of a1 failed"):
            asyncio.run(main(flow, server))
        registered = next(r for r in flow.records if r.number == "6-7").outputs
        contracts = server.connect().attach(registered["AgentRegistry"], registered["SecretStore"])
        pid = pipeline_id("rollback")
        accounts = registered["accounts"].values()
        assert len(accounts) == 3
        assert not any(contracts.registry.is_active(pid, a) for a in accounts)
    assert flow.records[-1].outcome.startswith("failed: initial attestation of a1 failed")
