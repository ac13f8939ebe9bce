"""Connecting to a chain: the run's own EVM or any Ethereum JSON-RPC node.

`connect(None)` starts a private chain of the run's own (`secmas.ledger.evmnode`, py-evm,
run in a child process by `secmas.ledger.nodeprocess`) whose genesis funds the MLFO and
the SECaaS, two accounts of fresh random keys (known to no one else: the well-known test
keys would let whoever reaches a served copy act as either); agents get their gas money
from `register_agents`. `connect("http://…")` uses a node: the
MLFO and SECaaS are the given keys, or else the node's first two unlocked accounts
(Hardhat's prefunded ones); a node that asks for a bearer token (`secmas ledger serve`)
gets `token`, else the one in `SECMAS_LEDGER_TOKEN`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secmas.ledger.abi import LedgerEvent, contract_abi
from secmas.ledger.accounts import Account
from secmas.ledger.anchor import AuditAnchorClient
from secmas.ledger.artifacts import load_artifact
from secmas.ledger.chain import AccountLike, Chain, NodeAccount, Sender, address_of
from secmas.ledger.errors import LedgerError
from secmas.ledger.gas import GasReport, measure_gas
from secmas.ledger.node import MEMORY
from secmas.ledger.nodeprocess import NodeProcess
from secmas.ledger.registry import RegistryClient
from secmas.ledger.reputation import ReputationClient
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV, JsonRpcNode
from secmas.ledger.secretstore import SecretStoreClient

_GAS_DEPLOY_REGISTRY = 4_500_000
_GAS_DEPLOY_STORE = 1_200_000
_GAS_DEPLOY_ANCHOR = 600_000
_GAS_DEPLOY_REPUTATION = 900_000


@dataclass(frozen=True, slots=True)
class Contracts:
    """The deployed pair, both bound to the MLFO; `as_` rebinds either to another sender."""

    registry: RegistryClient
    secret_store: SecretStoreClient

    def events(self, from_block: int = 0, *, pipeline: bytes | None = None) -> list[LedgerEvent]:
        """Events of both contracts in chain order."""
        events = self.registry.events(from_block, pipeline=pipeline)
        events += self.secret_store.events(from_block, pipeline=pipeline)
        return sorted(events, key=lambda e: (e.block, e.log_index))


class Ledger:
    """A connection with its MLFO and SECaaS accounts; deploys or attaches the contracts."""

    def __init__(
        self, chain: Chain, mlfo: Account | NodeAccount, secaas: Account | NodeAccount
    ) -> None:
        self.chain = chain
        self.mlfo = mlfo
        self.secaas = secaas
        self.first_block = chain.block_number() + 1
        """The first block this connection's transactions can be in: where its gas is read."""
        for account in (mlfo, secaas):
            if isinstance(account, Account):
                chain.add_key(account)

    @property
    def url(self) -> str:
        """The node's URL, or "memory" for the in-process EVM."""
        return self.chain.url

    def block_time(self, number: int) -> int:
        """The timestamp (Unix seconds) of block `number`."""
        return self.chain.block_time(number)

    def new_account(self) -> Account:
        """A fresh account for an agent; its transactions are signed locally."""
        account = Account.create()
        self.chain.add_key(account)
        return account

    def balance(self, account: AccountLike) -> int:
        """The balance of `account` in wei."""
        return self.chain.balance(account)

    def block_number(self) -> int:
        """The latest block, e.g. where to resume polling events."""
        return self.chain.block_number()

    def gas_report(
        self, agents: Sequence[AccountLike], *, steps: int, period_s: float
    ) -> GasReport:
        """What the MLFO, the SECaaS and `agents` had mined since this connection was made,
        from the receipts; `steps` mutual attestation steps ran, one per `period_s`."""
        senders = [address_of(a) for a in (self.mlfo, self.secaas, *agents)]
        return measure_gas(self.chain, senders, self.first_block, steps=steps, period_s=period_s)

    def deploy(self, secaas: AccountLike | None = None) -> Contracts:
        """Deploys AgentRegistry (attested by `secaas`, default this ledger's SECaaS) and
        SecretStore from the MLFO account."""
        deployer = self.chain.sender(self.mlfo)
        secaas_address = address_of(self.secaas if secaas is None else secaas)
        registry = self._create(
            deployer, RegistryClient.NAME, secaas_address, gas=_GAS_DEPLOY_REGISTRY
        )
        store = self._create(deployer, SecretStoreClient.NAME, registry, gas=_GAS_DEPLOY_STORE)
        return self.attach(registry, store)

    def _create(self, deployer: Sender, name: str, *args: Any, gas: int) -> str:
        data = contract_abi(name).constructor_data(load_artifact(name).bytecode, args)
        mined = self.chain.transact(deployer, None, data, gas=gas, where=(name, "constructor"))
        return str(mined.contract_address)

    def attach(self, registry: str, secret_store: str) -> Contracts:
        """Clients of contracts deployed earlier (by this process or another), bound to the
        MLFO."""
        deployer = self.chain.sender(self.mlfo)
        return Contracts(
            RegistryClient(self.chain, registry, deployer),
            SecretStoreClient(self.chain, secret_store, deployer),
        )

    def deploy_audit_anchor(self) -> AuditAnchorClient:
        """Deploys an AuditAnchor owned by the MLFO, which alone may anchor audit logs."""
        deployer = self.chain.sender(self.mlfo)
        address = self._create(deployer, AuditAnchorClient.NAME, gas=_GAS_DEPLOY_ANCHOR)
        return self.attach_audit_anchor(address)

    def attach_audit_anchor(self, address: str) -> AuditAnchorClient:
        """A client of an AuditAnchor deployed earlier, bound to the MLFO."""
        return AuditAnchorClient(self.chain, address, self.chain.sender(self.mlfo))

    def deploy_reputation(self, registry: str) -> ReputationClient:
        """Deploys a Reputation contract whose reporters the AgentRegistry at `registry`
        vouches for; the client is bound to the MLFO (agents report with `as_`)."""
        deployer = self.chain.sender(self.mlfo)
        address = self._create(
            deployer, ReputationClient.NAME, registry, gas=_GAS_DEPLOY_REPUTATION
        )
        return ReputationClient(self.chain, address, deployer)


def _local(key: bytes | str | None) -> Account | None:
    return None if key is None else Account.from_key(key)


def memory_accounts(
    mlfo_key: bytes | str | None = None, secaas_key: bytes | str | None = None
) -> tuple[Account, Account]:
    """The MLFO and SECaaS of an in-process chain: the given keys, else fresh random ones,
    so that no two chains share them and no one outside the run knows them."""
    mlfo = Account.create() if mlfo_key is None else Account.from_key(mlfo_key)
    secaas = Account.create() if secaas_key is None else Account.from_key(secaas_key)
    return mlfo, secaas


GENESIS_FUNDING_WEI = 10**24
"""What the in-process chain's genesis gives the MLFO and the SECaaS."""


def connect(
    url: str | None = None,
    *,
    mlfo_key: bytes | str | None = None,
    secaas_key: bytes | str | None = None,
    timeout_s: float = 10.0,
    ca_file: Path | None = None,
    token: str | None = None,
) -> Ledger:
    """A ledger on the in-process EVM (`url` None or "memory") or on the JSON-RPC node at
    `url` (http:// or https://; an https node's certificate is checked against `ca_file`,
    or the system's trust store; `token`, else `SECMAS_LEDGER_TOKEN`, is its bearer
    token). Without keys, the in-process chain funds two fresh random keys and a node
    uses its first two unlocked accounts (one only: it is both)."""
    if url is None or url == MEMORY:
        mlfo, secaas = memory_accounts(mlfo_key, secaas_key)
        funded = {a.address: GENESIS_FUNDING_WEI for a in (mlfo, secaas)}
        return Ledger(Chain(NodeProcess(funded)), mlfo, secaas)
    mlfo, secaas = _local(mlfo_key), _local(secaas_key)
    if token is None:
        token = os.environ.get(LEDGER_TOKEN_ENV) or None
    chain = Chain(JsonRpcNode(url, timeout_s=timeout_s, ca_file=ca_file, token=token))
    if mlfo is not None and secaas is not None:
        return Ledger(chain, mlfo, secaas)
    unlocked = chain.node_accounts()
    if mlfo is None:
        if not unlocked:
            raise LedgerError(f"node {url} has no unlocked accounts: pass mlfo_key")
        mlfo = unlocked[0]
    if secaas is None:
        secaas = unlocked[1] if len(unlocked) > 1 else mlfo
    return Ledger(chain, mlfo, secaas)
