"""A run's budget sized from measured gas, the funds check and the sweep
(`secmas.ledger.funding`) on the in-process EVM."""

from __future__ import annotations

import pytest

from secmas.ledger.connection import connect
from secmas.ledger.funding import (
    HEADROOM_GAS,
    MARGIN,
    STEP_GAS,
    TRANSFER_GAS,
    Budget,
    InsufficientFunds,
    require_funds,
    run_steps,
    sweep,
)


def test_each_agent_gets_its_share_of_the_steps_with_the_margin() -> None:
    assert run_steps(240.0, 10.0, 6) == 30  # ddos-6pop: 24 periods and the first round
    assert run_steps(240.0, 10.0, 6, groups=2) == 54  # a step a period in each group
    plan = Budget(agents=6, steps=30, max_fee=3 * 10**9)
    assert plan.per_agent_wei == (MARGIN * 5 * STEP_GAS + HEADROOM_GAS) * 3 * 10**9
    assert plan.per_agent_wei < 10**17  # not a flat 1 ETH
    assert plan.mlfo_wei > 6 * plan.per_agent_wei


def test_one_account_for_both_roles_must_pay_for_both() -> None:
    ledger = connect()
    plan = Budget(agents=6, steps=30, max_fee=ledger.chain.fees().max_fee)
    require_funds(ledger.chain, ledger.mlfo, ledger.secaas, plan)
    poor = ledger.new_account()
    need = plan.mlfo_wei + plan.secaas_wei
    ledger.chain.transact(
        ledger.chain.sender(ledger.mlfo), poor.address, b"", gas=TRANSFER_GAS,
        value=need - 1, where=("test", "transfer"),
    )  # fmt: skip
    with pytest.raises(InsufficientFunds, match=f"the MLFO and SECaaS account {poor.address}"):
        require_funds(ledger.chain, poor, poor, plan)


def test_a_sweep_leaves_less_than_a_transfers_fee() -> None:
    ledger = connect()
    agent = ledger.new_account()
    ledger.chain.transact(
        ledger.chain.sender(ledger.mlfo), agent.address, b"", gas=TRANSFER_GAS,
        value=10**16, where=("test", "transfer"),
    )  # fmt: skip
    before = ledger.balance(ledger.mlfo)
    swept = sweep(ledger.chain, agent, ledger.mlfo)
    fee = TRANSFER_GAS * ledger.chain.fees().max_fee
    assert swept.left == ledger.balance(agent) < fee
    assert ledger.balance(ledger.mlfo) == before + swept.value
    assert sweep(ledger.chain, agent, ledger.mlfo).value == 0  # dust: nothing to send
