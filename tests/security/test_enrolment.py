"""Attacks on enrolment: before, the first `join` for a PoP name won, in clear. An
adversary on the bus now tries to enrol as a PoP without the one-time credential the IML
driver handed to the genuine agent (first, before it), with a credential of its own
making, after the genuine agent (with the genuine credential it stole later, or by
replaying the genuine join frame), or with a clear-text join. All are refused with the
reason, and only the genuine agent's keys are enrolled."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.security.conftest import BusPair, run

from secmas.ledger import Account
from secmas.pipeline.agent_process import AgentConfig, handed_credential
from secmas.pipeline.busaccess import BusAccess
from secmas.pipeline.membership import join_subject
from secmas.pipeline.orchestrator import Orchestrator
from secmas.pipeline.processes import Driver
from secmas.scenario.loader import load_scenario
from secmas.transport.address import BusAddress
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.enrolment import CREDENTIAL_ENV, Credential, EnrolmentError, JoinRequest
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILE = ROOT / "scenarios" / "ddos-6pop.yaml"


def driver(raw: object, workdir: Path) -> Orchestrator:
    """The MLFO of a multi-process run over `raw`."""
    scenario = load_scenario(SCENARIO_FILE)
    access = BusAccess(BusAddress.parse("nats://127.0.0.1:4222"))
    run = Driver(scenario, SCENARIO_FILE, access, None, None, raw, workdir)  # type: ignore[arg-type]
    return run.mlfo


async def join(
    bus: object, name: str, credential: Credential, identity: AgentIdentity | None = None
) -> dict[str, str]:
    """What an agent process does: a sealed join to the MLFO under `credential`."""
    identity = identity or AgentIdentity.generate(name)
    keys = {MLFO: PeerKeys(credential.mlfo_key, credential.mlfo_signing_key)}
    control = ControlPlane(bus, identity, keys, credential.pipeline)  # type: ignore[arg-type]
    request = JoinRequest.make(identity, Account.create().address, credential)
    answer = await control.enrol(
        join_subject(credential.pipeline), MLFO, credential.mlfo_key, request.encode(), 5.0
    )
    await control.close()
    return dict(json.loads(answer))


def test_only_the_credential_holder_enrols_and_only_once(buses: BusPair, tmp_path: Path) -> None:
    async def main() -> None:
        async with buses() as (bus, theirs):
            mlfo = driver(bus, tmp_path)
            await mlfo.control.serve(join_subject(mlfo.name), mlfo._on_join, enrolment=True)
            handed = Credential.take(mlfo._hand_credential("pop1"))
            # The adversary knows everything public: pipeline, names, the MLFO's keys.
            made_up = Credential(
                handed.pipeline,
                "pop1",
                b"\x00" * 32,
                handed.mlfo_key,
                handed.mlfo_signing_key,
                handed.secaas_key,
                handed.secaas_signing_key,
            )
            first = await join(theirs, "pop1", made_up)  # before the genuine agent
            assert first == {"error": "the credential proof does not match"}
            unissued = await join(theirs, "pop2", replace(made_up, agent="pop2"))
            assert unissued == {"error": "no enrolment credential was issued for 'pop2'"}

            genuine = AgentIdentity.generate("pop1")
            frames: list[bytes] = []

            async def tap(_subject: str, data: bytes) -> None:
                frames.append(data)

            await theirs.subscribe(join_subject(mlfo.name), tap)
            assert await join(bus, "pop1", handed, genuine) == {"accepted": "pop1"}
            assert mlfo.joined["pop1"].sealing_key == genuine.sealing_public

            stolen_later = await join(theirs, "pop1", handed)  # the spent credential
            assert stolen_later == {"error": "pop1 is already enrolled"}
            await theirs.request(join_subject(mlfo.name), frames[-1], 5.0)  # replayed
            with pytest.raises(TimeoutError):  # a clear-text join, as before
                clear = {"name": "pop1", "address": "0x0", "signing_key": "00" * 32}
                await theirs.request(join_subject(mlfo.name), json.dumps(clear).encode(), 0.5)
            assert mlfo.joined["pop1"].sealing_key == genuine.sealing_public
            assert mlfo.directory["pop1"].sealing == genuine.sealing_public
            assert len(mlfo.enrolment.refused) == 4  # made-up, unissued, stolen, replayed
            assert mlfo.control.stats.dropped["version"] >= 1  # the clear-text join
            await mlfo.control.close()

    run(main())


def test_an_agent_without_its_credential_stops_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AgentConfig("pop1", SCENARIO_FILE, "nats://127.0.0.1:4222", "p", "http://x")
    monkeypatch.delenv(CREDENTIAL_ENV, raising=False)
    with pytest.raises(EnrolmentError, match="no enrolment credential"):
        handed_credential(config)
    mlfo = driver(object(), tmp_path)
    other = mlfo._hand_credential("pop2")
    monkeypatch.setenv(CREDENTIAL_ENV, str(other))
    with pytest.raises(EnrolmentError, match="a credential for pop2"):
        handed_credential(AgentConfig("pop1", SCENARIO_FILE, "n", mlfo.name, "http://x"))
    assert not other.exists()  # read once, then gone
    mine = mlfo._hand_credential("pop1")
    assert mine.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(CREDENTIAL_ENV, str(mine))
    credential = handed_credential(AgentConfig("pop1", SCENARIO_FILE, "n", mlfo.name, "http://x"))
    assert credential is not None and credential.agent == "pop1"
    assert not mine.exists()
