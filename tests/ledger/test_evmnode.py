"""The in-process chain node: what it checks before executing, what a mined transaction
costs, blocks, logs and revert reasons (on py-evm, with signed transactions)."""

from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak, to_checksum_address

from secmas.ledger.abi import contract_abi
from secmas.ledger.accounts import Account
from secmas.ledger.artifacts import load_artifact
from secmas.ledger.evmnode import BLOCK_GAS_LIMIT, CHAIN_ID, COINBASE, EvmNode
from secmas.ledger.node import Mined, NodeRefused, NodeRevert
from secmas.ledger.transactions import Transaction

FUNDS = 10**21
TIP = 10**9


@pytest.fixture
def owner() -> Account:
    return Account.from_key(b"\x01" * 32)


@pytest.fixture
def node(owner: Account) -> EvmNode:
    return EvmNode({owner.address: FUNDS}, clock=lambda: 1_700_000_000.0)


def _tx(node: EvmNode, sender: Account, **fields: object) -> Transaction:
    values: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "nonce": node.nonce(sender.address),
        "max_priority_fee": TIP,
        "max_fee": 2 * node.base_fee() + TIP,
        "gas": 100_000,
        "to": b"\x22" * 20,
        "value": 0,
        "data": b"",
    }
    values.update(fields)
    return Transaction(**values)  # type: ignore[arg-type]


def test_a_transfer_moves_value_and_charges_gas_at_base_fee_plus_tip(
    node: EvmNode, owner: Account
) -> None:
    base_fee = node.base_fee()
    assert base_fee < 10**9  # EIP-1559: below genesis's 1 gwei after an empty block
    mined = node.submit(owner.sign_transaction(_tx(node, owner, value=5)))
    assert (mined.status, mined.block, mined.gas_used) == (1, 1, 21_000)
    assert node.block(1).base_fee == base_fee
    assert node.balance("0x" + "22" * 20) == 5
    assert node.balance(owner.address) == FUNDS - 5 - 21_000 * (base_fee + TIP)
    assert node.balance(owner.address, block=0) == FUNDS
    assert node.balance(COINBASE) == 21_000 * TIP  # the base fee is burnt
    assert node.nonce(owner.address) == 1


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"nonce": 7}, "nonce 7"),
        ({"chain_id": 1}, "chain id 1"),
        ({"gas": BLOCK_GAS_LIMIT + 1}, "block gas limit"),
        ({"max_fee": 1, "max_priority_fee": 0}, "below the base fee"),
        ({"value": FUNDS}, "insufficient funds"),
    ],
)
def test_refused_before_executing(
    node: EvmNode, owner: Account, fields: dict[str, object], why: str
) -> None:
    with pytest.raises(NodeRefused, match=why):
        node.submit(owner.sign_transaction(_tx(node, owner, **fields)))
    assert (node.block_number(), node.nonce(owner.address)) == (0, 0)


def test_contracts_deploy_at_the_create_address_revert_with_reasons_and_log(
    node: EvmNode, owner: Account
) -> None:
    abi = contract_abi("AgentRegistry")
    code = abi.constructor_data(load_artifact("AgentRegistry").bytecode, [owner.address])
    deployed = node.submit(
        owner.sign_transaction(_tx(node, owner, to=None, data=code, gas=4_500_000))
    )
    create = keccak(rlp.encode([bytes.fromhex(owner.address[2:]), 0]))[-20:]
    assert deployed.contract_address == to_checksum_address(create)
    registry = deployed.contract_address
    assert node.call(owner.address, registry, abi.encode("owner", [])) == bytes(12) + bytes.fromhex(
        owner.address[2:]
    )
    set_plan = abi.encode("setPlans", [b"\x01" * 32, 1, 0, [[owner.address]]])
    with pytest.raises(NodeRevert, match="agent not registered"):
        node.submit(
            owner.sign_transaction(_tx(node, owner, to=bytes.fromhex(registry[2:]), data=set_plan))
        )
    assert node.nonce(owner.address) == 1  # a revert is not mined
    register = abi.encode(
        "registerAgents",
        [b"\x01" * 32, [owner.address], [b"\x02" * 32], [b"\x03" * 32], [b"\x04" * 32]],
    )
    mined = node.submit(
        owner.sign_transaction(
            _tx(node, owner, to=bytes.fromhex(registry[2:]), data=register, gas=500_000)
        )
    )
    (log,) = node.logs(registry, [abi.topic("AgentRegistered")], 0, None)
    assert log == mined.logs[0] and log.block == 2 and log.tx_hash == mined.tx_hash
    assert node.logs(registry, [abi.topic("AgentRegistered")], 3, None) == []
    assert abi.decode_log(log).args["account"] == owner.address  # type: ignore[union-attr]


def test_a_view_is_executed_once_per_block_and_answers_as_the_state_does(
    node: EvmNode, owner: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    abi = contract_abi("AgentRegistry")
    code = abi.constructor_data(load_artifact("AgentRegistry").bytecode, [owner.address])
    registry = node.submit(
        owner.sign_transaction(_tx(node, owner, to=None, data=code, gas=4_500_000))
    ).contract_address
    executed: list[bytes] = []
    execute = node._execute_call

    def counted(*args: object) -> bytes | NodeRevert:
        executed.append(args[3])  # type: ignore[arg-type]
        return execute(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(node, "_execute_call", counted)
    pipeline = b"\x01" * 32
    members = abi.encode("members", [pipeline])
    assert abi.decode("members", node.call(COINBASE, registry, members)) == ([],)
    assert abi.decode("members", node.call(COINBASE, registry, members)) == ([],)
    assert len(executed) == 1
    entry = abi.encode("agentOf", [pipeline, owner.address])
    node.call(owner.address, registry, entry)
    node.call(COINBASE, registry, entry)
    assert len(executed) == 3  # another sender is another call
    set_plan = abi.encode("setPlans", [pipeline, 1, 0, [[owner.address]]])
    for _ in range(2):  # a revert is kept, and raised again
        with pytest.raises(NodeRevert, match="agent not registered"):
            node.call(owner.address, registry, set_plan)
    assert len(executed) == 4
    register = abi.encode(
        "registerAgents",
        [pipeline, [owner.address], [b"\x02" * 32], [b"\x03" * 32], [b"\x04" * 32]],
    )
    node.submit(
        owner.sign_transaction(
            _tx(node, owner, to=bytes.fromhex(registry[2:]), data=register, gas=500_000)
        )
    )
    # a new block: the same call runs again and sees the registration
    assert abi.decode("members", node.call(COINBASE, registry, members)) == ([owner.address],)
    assert len(executed) == 5
    earlier = node.block_number() - 1
    assert abi.decode("members", node.call(COINBASE, registry, members, block=earlier)) == ([],)


def test_the_calls_on_one_block_share_its_state_and_leave_it_as_it_was(
    node: EvmNode, owner: Account
) -> None:
    """Calls on a block run in one kept state, each undone after it: a call that writes
    (registering an agent, moving value) leaves nothing for the next call to see."""
    abi = contract_abi("AgentRegistry")
    code = abi.constructor_data(load_artifact("AgentRegistry").bytecode, [owner.address])
    registry = node.submit(
        owner.sign_transaction(_tx(node, owner, to=None, data=code, gas=4_500_000))
    ).contract_address
    pipeline = b"\x01" * 32
    register = abi.encode(
        "registerAgents",
        [pipeline, [owner.address], [b"\x02" * 32], [b"\x03" * 32], [b"\x04" * 32]],
    )
    members = abi.encode("members", [pipeline])
    node.call(owner.address, registry, register, value=10**18)  # runs, is not mined
    assert abi.decode("members", node.call(COINBASE, registry, members)) == ([],)
    assert node.call(owner.address, registry, register, gas=499_999, value=10**18) == b""
    assert abi.decode("members", node.call(owner.address, registry, members)) == ([],)
    assert node.balance(registry) == 0
    assert node.nonce(owner.address) == 1


def test_out_of_gas_is_a_revert_and_blocks_keep_increasing_times(
    node: EvmNode, owner: Account
) -> None:
    loop = b"\x5b\x60\x00\x56"  # JUMPDEST PUSH1 0 JUMP: init code that never ends
    with pytest.raises(NodeRevert, match="out of gas"):
        node.submit(owner.sign_transaction(_tx(node, owner, to=None, data=loop, gas=60_000)))
    for _ in range(3):
        node.submit(owner.sign_transaction(_tx(node, owner)))
    times = [node.block_time(n) for n in range(4)]
    assert times == sorted(set(times))  # strictly increasing, though the clock stands still
    with pytest.raises(ValueError, match="no block 4"):
        node.block_time(4)


def test_it_signs_for_nobody(node: EvmNode) -> None:
    assert node.accounts() == []
    with pytest.raises(NodeRefused, match="holds no keys"):
        node.submit_unsigned({"from": "0x" + "11" * 20})


def _registry(node: EvmNode, owner: Account) -> str:
    """An AgentRegistry deployed by `owner`: its address."""
    abi = contract_abi("AgentRegistry")
    code = abi.constructor_data(load_artifact("AgentRegistry").bytecode, [owner.address])
    deployed = node.submit(
        owner.sign_transaction(_tx(node, owner, to=None, data=code, gas=4_500_000))
    ).contract_address
    assert deployed is not None
    return deployed


def test_transactions_sent_together_are_mined_together_each_with_its_own_outcome(
    node: EvmNode, owner: Account
) -> None:
    """Three senders at once: their transfers share one block, each charged its own gas;
    a reverting contract call among them is undone and not mined; a refused one (a nonce
    gap) is answered alone; what does not fit the block's gas goes into the next."""
    others = [Account.from_key(bytes([i]) * 32) for i in (2, 3, 4)]
    for other in others:
        node.submit(
            owner.sign_transaction(
                _tx(node, owner, to=bytes.fromhex(other.address[2:]), value=10**18)
            )
        )
    abi = contract_abi("AgentRegistry")
    registry = _registry(node, owner)
    set_plan = abi.encode("setPlans", [b"\x01" * 32, 1, 0, [[owner.address]]])
    head = node.block_number()
    outcomes = node.submit_all(
        [
            others[0].sign_transaction(_tx(node, others[0], value=1)),
            owner.sign_transaction(_tx(node, owner, to=bytes.fromhex(registry[2:]), data=set_plan)),
            others[1].sign_transaction(_tx(node, others[1], value=2, nonce=9)),
            others[1].sign_transaction(_tx(node, others[1], value=3)),
            others[2].sign_transaction(_tx(node, others[2], gas=BLOCK_GAS_LIMIT - 30_000)),
        ]
    )
    first, reverted, refused, second, large = outcomes
    assert isinstance(reverted, NodeRevert) and "agent not registered" in str(reverted)
    assert isinstance(refused, NodeRefused) and "nonce 9" in str(refused)
    assert isinstance(first, Mined) and isinstance(second, Mined) and isinstance(large, Mined)
    assert (first.block, second.block, large.block) == (head + 1, head + 1, head + 2)
    assert first.gas_used == second.gas_used == large.gas_used == 21_000
    assert node.block(head + 1).gas_used == 42_000
    assert node.nonce(owner.address) == 4  # the revert was not mined
    assert node.balance("0x" + "22" * 20) == 1 + 3
    included = [node.included(m.tx_hash) for m in (first, second)]
    assert [i.mined.block for i in included if i is not None] == [head + 1] * 2
    assert node.block(head + 1).transactions == (first.tx_hash, second.tx_hash)


def test_the_logs_of_a_block_are_numbered_through_it(node: EvmNode, owner: Account) -> None:
    abi = contract_abi("AgentRegistry")
    registry = _registry(node, owner)
    register = abi.encode(
        "registerAgents",
        [b"\x01" * 32, [owner.address], [b"\x02" * 32], [b"\x03" * 32], [b"\x04" * 32]],
    )
    pipeline_two = abi.encode(
        "registerAgents",
        [b"\x02" * 32, [owner.address], [b"\x02" * 32], [b"\x03" * 32], [b"\x04" * 32]],
    )
    to = bytes.fromhex(registry[2:])
    mined = node.submit_all(
        [
            owner.sign_transaction(_tx(node, owner, to=to, data=register, gas=500_000)),
            owner.sign_transaction(
                _tx(
                    node,
                    owner,
                    to=to,
                    data=pipeline_two,
                    gas=500_000,
                    nonce=node.nonce(owner.address) + 1,
                )
            ),
        ]
    )
    logs = [log for m in mined if isinstance(m, Mined) for log in m.logs]
    assert len(logs) >= 2 and len({log.block for log in logs}) == 1
    assert [log.log_index for log in logs] == list(range(len(logs)))
    assert node.logs(registry, [abi.topic("AgentRegistered")], logs[0].block, None) == [
        log for log in logs if log.topics[0] == abi.topic("AgentRegistered")
    ]
