"""The same client against a real JSON-RPC node (Hardhat): deploy the committed artifacts,
run a step of the chain, and see a revert surface as the same LedgerRevert."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from tests.ledger.conftest import build_pipeline, evidence

from secmas.ledger import LedgerRevert, NodeAccount, connect


def test_attestation_flow_over_json_rpc(hardhat_url: str) -> None:
    ledger = connect(hardhat_url)
    # Hardhat's first two prefunded accounts; the node signs their transactions.
    assert isinstance(ledger.mlfo, NodeAccount) and isinstance(ledger.secaas, NodeAccount)
    assert ledger.mlfo.address != ledger.secaas.address
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3)
    p.bootstrap()
    step, receipt = p.attest()
    assert receipt.tx_hash.startswith("0x") and receipt.gas_used > 0
    assert p.mlfo.root_of_trust(p.pid) == step.measured == p.members[1].address
    records = p.mlfo.records(p.pid)
    assert [r.tx_hash for r in records][-1] == receipt.tx_hash
    contracts.secret_store.push_secrets(p.pid, 1, {p.members[0].account: b"k"})
    assert p.members[0].store.fetch_secret(p.pid) == (1, b"k")

    # Reverts of a locally signed transaction, of a node-signed one and of a view call.
    with pytest.raises(LedgerRevert) as caught:
        p.members[0].registry.record_result(p.pid, 2, evidence("nonce"), True, evidence("x"))
    assert (caught.value.contract, caught.value.function, caught.value.rule) == (
        "AgentRegistry",
        "recordResult",
        "AgentRegistry: caller is not the elected verifier",
    )
    with pytest.raises(LedgerRevert, match="AgentRegistry: caller is not the SECaaS"):
        p.mlfo.record_initial(p.pid, p.members[0].account, evidence("nonce"), True, evidence("x"))
    with pytest.raises(LedgerRevert) as caught:
        p.members[2].store.fetch_secret(p.pid)
    assert caught.value.rule == "SecretStore: caller not trusted"
    # Nonces stay in step after the reverts.
    p.attest()
    assert p.mlfo.record_count(p.pid) == 3


def _rpc(url: str, method: str, *params: object) -> Any:
    """One JSON-RPC call straight to the node, past the client under test."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["result"]


def test_gas_report_matches_the_nodes_receipts_and_fees_follow_the_base_fee(
    hardhat_url: str,
) -> None:
    ledger = connect(hardhat_url)
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3, name="gas-report")
    p.bootstrap()
    p.attest()
    # The base fee jumps to 50 gwei: the next locally signed transaction must follow it.
    base_fee = 50 * 10**9
    _rpc(hardhat_url, "hardhat_setNextBlockBaseFeePerGas", hex(base_fee))
    _rpc(hardhat_url, "hardhat_mine", "0x1")
    _, receipt = p.attest()
    sent = _rpc(hardhat_url, "eth_getTransactionByHash", receipt.tx_hash)
    tip = int(_rpc(hardhat_url, "eth_maxPriorityFeePerGas"), 16)
    assert int(sent["maxFeePerGas"], 16) >= 2 * base_fee * 7 // 8 + tip
    assert int(sent["maxPriorityFeePerGas"], 16) == tip

    report = ledger.gas_report([m.account for m in p.members], steps=2, period_s=10.0)
    assert len(report.transactions) >= 9
    for tx in report.transactions:
        node = _rpc(hardhat_url, "eth_getTransactionReceipt", "0x" + tx.tx_hash.hex())
        assert tx.gas_used == int(node["gasUsed"], 16)
        assert tx.effective_gas_price == int(node["effectiveGasPrice"], 16)
    total = report.total()
    assert total.fee_wei == sum(
        int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)
        for r in (
            _rpc(hardhat_url, "eth_getTransactionReceipt", "0x" + t.tx_hash.hex())
            for t in report.transactions
        )
    )
    assert report.by_function()["AgentRegistry.recordResult"].transactions == 2
