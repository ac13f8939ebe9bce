"""Attacks on a run's money: a key whose account cannot pay is refused before any
work, naming the account, its balance and the need; and no agent keeps what
it was given: every agent account is swept back to the MLFO when the run ends, down to
less than one transfer's fee."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from secmas.agents.ddos.world import World
from secmas.api import RunInputError, plan
from secmas.ledger.accounts import Account
from secmas.ledger.funding import STEP_GAS, TRANSFER_GAS
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "scenarios" / "ddos-6pop.yaml"
SCENARIO = load_scenario(REFERENCE)


def key_file(path: Path, account: Account) -> Path:
    path.write_text(account.key_hex + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


def test_a_key_without_funds_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker (or a typo) hands the run an empty account: it would fail mid-run,
    agents registered and half-funded; it is refused in the plan instead."""
    empty = Account.create()
    key = key_file(tmp_path / "mlfo.key", empty)
    with LedgerServer(port=0) as server:
        monkeypatch.setenv(LEDGER_TOKEN_ENV, server.token)
        secaas = key_file(tmp_path / "secaas.key", server.secaas)
        with pytest.raises(RunInputError) as refused:
            plan(REFERENCE, ledger=server.url, mlfo_key=key, secaas_key=secaas)
        said = str(refused.value)
        assert f"the MLFO account {empty.address} holds 0.000000 ETH" in said
        assert "the run needs" in said and "6 agents, 30 attestation steps" in said
        # the served chain's funded accounts pay: the same run is planned
        funded = key_file(tmp_path / "funded.key", server.mlfo)
        assert plan(
            REFERENCE, ledger=server.url, mlfo_key=funded, secaas_key=secaas
        ).ledger_keys.given


def test_every_agent_account_is_swept_back_to_the_mlfo_when_the_run_ends() -> None:
    async def main() -> InProcessAgents:
        world = World.simulated(SCENARIO)
        members = ["pop1", "pop2", "pop3"]
        pipeline = await bring_up(
            "swept", members, world.bus, world.clock, SCENARIO.security, duration=60.0
        )
        for _ in range(3):
            await pipeline.mlfo.chain.step()
        await pipeline.close()
        return pipeline

    pipeline = asyncio.run(asyncio.wait_for(main(), 120))
    ledger = pipeline.mlfo.ledger
    fee = TRANSFER_GAS * pipeline.mlfo.ledger.chain.fees().max_fee
    for member in pipeline.members.values():
        assert ledger.balance(member.account) < fee, member.identity.name
    report = pipeline.report(0.0)
    funding = report["funding"]
    assert funding["funded_wei"] == 3 * funding["per_agent_wei"] < 3 * 10**17
    assert funding["swept_wei"] > 0 and funding["left_wei"] < 3 * fee
    assert report["gas"]["by_function"]["transfer"]["transactions"] == 3
    # the funding is sized from this figure: a step must not cost more than it says
    assert 0 < report["gas"]["per_step"]["gas"] <= STEP_GAS
