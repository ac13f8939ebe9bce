"""The same client against a real JSON-RPC node (Hardhat): deploy the committed artifacts,
run a step of the chain, and see a revert surface as the same LedgerRevert."""

from __future__ import annotations

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
