"""The gas report reads what the chain charged: every transaction of the run's accounts,
named by the function it called, at the gas and price its receipt gives."""

from __future__ import annotations

from tests.ledger.conftest import build_pipeline

from secmas.ledger import Ledger, connect
from secmas.ledger.abi import contract_abi
from secmas.ledger.chain import Chain
from secmas.ledger.connection import GENESIS_FUNDING_WEI, memory_accounts
from secmas.ledger.evmnode import PRIORITY_FEE_WEI, EvmNode
from secmas.ledger.gas import SECONDS_PER_DAY, GasReport, Spent, function_name
from secmas.ledger.node import SentTransaction


def _sent(
    data: bytes, gas: int, price: int = 1, to: str | None = "0x" + "11" * 20
) -> SentTransaction:
    return SentTransaction(b"\x00" * 32, 1, "0x" + "22" * 20, to, data, 0, gas, price, None)  # type: ignore[arg-type]


def test_report_covers_every_transaction_at_its_receipts_gas() -> None:
    mlfo, secaas = memory_accounts()
    node = EvmNode({a.address: GENESIS_FUNDING_WEI for a in (mlfo, secaas)})  # read below
    ledger = Ledger(Chain(node), mlfo, secaas)
    contracts = ledger.deploy()
    pipeline = build_pipeline(ledger, contracts, 3)
    receipts = [pipeline.bootstrap(), pipeline.attest()[1], pipeline.attest()[1]]
    report = ledger.gas_report([m.account for m in pipeline.members], steps=2, period_s=10.0)
    names = [function_name(t) for t in report.transactions]
    assert names[:4] == [
        "AgentRegistry.constructor",
        "SecretStore.constructor",
        "AgentRegistry.registerAgents",
        "AgentRegistry.setPlans",
    ]
    assert names.count("AgentRegistry.recordResult") == 2
    by_hash = {"0x" + t.tx_hash.hex(): t for t in report.transactions}
    for receipt in receipts:
        assert by_hash[receipt.tx_hash].gas_used == receipt.gas_used
    # The run's chain charges its block's base fee + tip (EIP-1559), below the fee cap.
    for t in report.transactions:
        assert t.effective_gas_price == node.block(t.block).base_fee + PRIORITY_FEE_WEI
    total = report.total()
    assert total.fee_wei == sum(t.gas_used * t.effective_gas_price for t in report.transactions)
    assert sum(s.gas for s in report.by_function().values()) == total.gas


def test_mlfo_balance_falls_by_the_reported_fees_and_the_funding() -> None:
    ledger = connect(None)
    before = ledger.balance(ledger.mlfo)
    contracts = ledger.deploy()
    pipeline = build_pipeline(ledger, contracts, 2)
    funding = sum(ledger.balance(m.account) for m in pipeline.members)
    report = ledger.gas_report([], steps=0, period_s=10.0)
    assert ledger.balance(ledger.mlfo) == before - funding - report.total().fee_wei
    assert report.step() is None and report.to_json()["per_day"] is None


def test_step_and_day_divide_the_step_functions_by_the_steps() -> None:
    abi = contract_abi("AgentRegistry")
    open_step = abi.encode("openStep", [b"\x01" * 32, 0])
    transactions = (
        _sent(open_step, 100_000, 3),
        _sent(open_step, 300_000, 3),
        _sent(b"", 21_000, 3),
    )
    report = GasReport(transactions, steps=2, period_s=20.0)
    assert function_name(transactions[2]) == "transfer"
    assert report.step() == Spent(1, 200_000, 600_000)
    per_day = SECONDS_PER_DAY // 20
    assert report.per_day() == Spent(per_day, 200_000 * per_day, 600_000 * per_day)
    assert report.by_function()["AgentRegistry.openStep"] == Spent(2, 400_000, 1_200_000)
    assert function_name(_sent(b"\xde\xad\xbe\xef", 1)) == "unknown"
    assert function_name(_sent(b"\x60\x80", 1, to=None)) == "unknown.constructor"


def test_a_step_mined_after_the_last_report_counts_as_a_step() -> None:
    """A step still running as the run ended is on chain (its `recordStep`) but in no
    report: it is counted, so the mean step is not its two neighbours' gas over one."""
    abi = contract_abi("AgentRegistry")
    step = abi.encode(
        "recordStep", [b"\x01" * 32, 0, 1, b"\x02" * 32, True, b"\x03" * 32, b"ref", b"sig"]
    )
    report = GasReport((_sent(step, 200_000, 1), _sent(step, 202_000, 1)), steps=1, period_s=10)
    assert report.steps_made() == 2
    assert report.step() == Spent(1, 201_000, 201_000)
