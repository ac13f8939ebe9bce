"""Key epochs pushed through the SecretStore: whatever the number of agents, every push
fits a block, and every agent opens the same secret."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.ledger.conftest import build_pipeline

from secmas.ledger import connect, secretstore
from secmas.ledger.secretstore import MAX_PUSH_GAS, push_batches
from secmas.trust.epochs import Recipient, fetch_secret, keyable, push_epoch, secret_pushed
from secmas.trust.identity import AgentIdentity

BOX = 92
"""Bytes of one sealed 32-byte secret."""


@given(sizes=st.lists(st.integers(1, 4096), max_size=300))
def test_batches_keep_every_secret_in_order_and_fit_the_limit(sizes: list[int]) -> None:
    secrets = {f"0x{i:040x}": bytes(size) for i, size in enumerate(sizes)}
    batches = list(push_batches(secrets))
    assert [a for batch in batches for a in batch] == list(secrets)
    assert all(batch for batch in batches)
    for batch in batches:
        gas = secretstore._GAS_PUSH_BASE + sum(secretstore._gas_for(s) for s in batch.values())
        assert gas <= MAX_PUSH_GAS or len(batch) == 1


def test_a_1000_agent_push_takes_two_transactions_each_under_the_limit() -> None:
    secrets = {f"0x{i:040x}": bytes(BOX) for i in range(1000)}
    batches = list(push_batches(secrets))
    assert len(batches) == 2  # one push of all 1,000 would ask for 32 M gas
    assert sum(map(len, batches)) == 1000


def test_one_push_too_large_for_a_block_is_refused_before_it_is_sent() -> None:
    ledger = connect(None)
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 1)
    too_many = {f"0x{i:040x}": bytes(BOX) for i in range(800)}
    with pytest.raises(ValueError, match="push them in batches"):
        contracts.secret_store.push_secrets(p.pid, 1, too_many)


def test_every_agent_opens_the_secret_pushed_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = connect(None)
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3, "batched")
    p.bootstrap()
    p.attest()
    p.attest()
    # room for one box per push: three transactions on the real EVM
    monkeypatch.setattr(secretstore, "MAX_PUSH_GAS", secretstore._GAS_PUSH_BASE + 50_000)
    identities = [AgentIdentity.generate(m.name) for m in p.members]
    recipients = [
        Recipient(m.address, i.sealing_public) for m, i in zip(p.members, identities, strict=True)
    ]
    pushed = push_epoch("batched", contracts.registry, contracts.secret_store, recipients)
    assert len(pushed.receipts) == 3
    assert len({r.tx_hash for r in pushed.receipts}) == 3
    opened = {
        fetch_secret("batched", m.store, identity).secret
        for m, identity in zip(p.members, identities, strict=True)
    }
    assert len(opened) == 1
    assert [pushed.blocks[m.address] for m in p.members] == [r.block for r in pushed.receipts]
    told = {
        secret_pushed("batched", m.store, identity, pushed.epoch, pushed.blocks[m.address])
        for m, identity in zip(p.members, identities, strict=True)
    }
    assert {t.secret for t in told if t is not None} == opened  # no call to the store
    # a block that holds another agent's box, or none, holds nothing for this agent
    first, second = p.members[0], p.members[1]
    blocks = pushed.blocks
    assert secret_pushed("batched", first.store, identities[0], 1, blocks[second.address]) is None
    assert secret_pushed("batched", first.store, identities[0], 1, 0) is None
    assert secret_pushed("batched", first.store, identities[0], 2, blocks[first.address]) is None


def test_a_key_push_goes_to_the_agents_trusted_on_chain_whatever_their_number() -> None:
    """Seven agents: four attested (trusted), one of them revoked since, three never
    attested. One view answers while all may be keyed; the refused ones are left out one
    view at a time, and past two every member's record is read."""
    ledger = connect(None)
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 7, "keyable")
    p.bootstrap()
    for _ in range(3):
        p.attest()
    registry = contracts.registry
    addresses = [m.address for m in p.members]
    assert keyable(registry, p.pid, addresses[:4]) == addresses[:4]
    registry.revoke(p.pid, p.members[1].account)
    assert keyable(registry, p.pid, addresses[:4]) == [addresses[0], *addresses[2:4]]
    assert keyable(registry, p.pid, addresses[::-1]) == [addresses[3], addresses[2], addresses[0]]
    assert keyable(registry, p.pid, []) == []
