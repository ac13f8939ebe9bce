"""Attacks on the in-process ledger's transaction checks: only the key holder acts for an
account, and a signed transaction runs once, on this chain, as signed."""

from __future__ import annotations

import pytest

from secmas.ledger import Ledger, LedgerRevert, RegistryClient, TransactionRejected, connect
from secmas.ledger.abi import contract_abi
from secmas.ledger.accounts import Account
from secmas.ledger.evmnode import CHAIN_ID
from secmas.ledger.node import NodeRefused
from secmas.ledger.transactions import SECP256K1_N, Transaction

Setup = tuple[Ledger, RegistryClient]


@pytest.fixture
def ledger_and_registry() -> Setup:
    ledger = connect(None)
    return ledger, ledger.deploy().registry


def _set_plan(registry: RegistryClient, sender: Account, nonce: int) -> Transaction:
    data = contract_abi("AgentRegistry").encode(
        "setPlans", [b"\x01" * 32, 1, 0, [[sender.address]]]
    )
    to = bytes.fromhex(registry.address[2:])
    return Transaction(CHAIN_ID, nonce, 10**9, 3 * 10**9, 200_000, to, 0, data)


def test_a_replayed_transaction_is_refused(ledger_and_registry: Setup) -> None:
    ledger, _ = ledger_and_registry
    agent = ledger.new_account()
    funding = Transaction(
        CHAIN_ID,
        ledger.chain.node.nonce(ledger.mlfo.address),
        10**9,
        3 * 10**9,
        21_000,
        bytes.fromhex(agent.address[2:]),
        10**18,
        b"",
    )
    signed = ledger.mlfo.sign_transaction(funding)
    ledger.chain.node.submit(signed)
    with pytest.raises(NodeRefused, match="nonce"):
        ledger.chain.node.submit(signed)
    assert ledger.balance(agent) == 10**18


def test_a_transaction_cannot_be_sent_in_the_mlfos_name(ledger_and_registry: Setup) -> None:
    ledger, registry = ledger_and_registry
    signed = bytearray(ledger.mlfo.sign_transaction(_set_plan(registry, ledger.mlfo, 1)))
    signed[-40] ^= 1  # the MLFO's signature, altered: recovers some other, unfunded, account
    with pytest.raises(NodeRefused):
        ledger.chain.node.submit(bytes(signed))
    intruder = ledger.new_account()  # funded, with its own key: still not the MLFO
    mlfo = ledger.chain.sender(ledger.mlfo)
    ledger.chain.transact(mlfo, intruder.address, b"", gas=21_000, value=10**18, where=("", ""))
    with pytest.raises(LedgerRevert, match="not the MLFO"):
        registry.as_(intruder).set_plans(b"\x01" * 32, [[intruder.address]])[0]


def test_the_high_s_twin_of_a_signature_is_refused(ledger_and_registry: Setup) -> None:
    import rlp

    ledger, registry = ledger_and_registry
    signed = ledger.mlfo.sign_transaction(_set_plan(registry, ledger.mlfo, 0))
    fields = rlp.decode(signed[1:])
    s = int.from_bytes(fields[11], "big")
    fields[9] = b"" if fields[9] == b"\x01" else b"\x01"
    fields[11] = (SECP256K1_N - s).to_bytes(32, "big")  # EIP-2: the same signer, malleated
    with pytest.raises(NodeRefused, match="low s"):
        ledger.chain.node.submit(b"\x02" + rlp.encode(fields))


def test_a_transaction_signed_for_another_chain_is_refused(ledger_and_registry: Setup) -> None:
    ledger, registry = ledger_and_registry
    tx = _set_plan(registry, ledger.mlfo, 0)
    other = Transaction(
        1,
        *[
            getattr(tx, f)
            for f in ("nonce", "max_priority_fee", "max_fee", "gas", "to", "value", "data")
        ],
    )
    with pytest.raises(NodeRefused, match="chain id 1"):
        ledger.chain.node.submit(ledger.mlfo.sign_transaction(other))


def test_an_unfunded_account_cannot_act(ledger_and_registry: Setup) -> None:
    ledger, registry = ledger_and_registry
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        registry.as_(ledger.new_account()).open_step(b"\x01" * 32)
