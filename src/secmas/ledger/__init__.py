"""The ledger: AgentRegistry (agents, attestation chain, rotating root of trust) and
SecretStore (the pipeline key per key epoch, sealed per agent), with a client for the
in-process EVM (py-evm) and any Ethereum JSON-RPC node.

    ledger = connect(None)                     # or connect("http://127.0.0.1:8545")
    contracts = ledger.deploy()
    registry = contracts.registry.as_(agent_account)
"""

from secmas.ledger.abi import LedgerEvent
from secmas.ledger.accounts import Account
from secmas.ledger.chain import AccountLike, NodeAccount, Receipt
from secmas.ledger.connection import MEMORY, Contracts, Ledger, connect
from secmas.ledger.errors import LedgerError, LedgerRevert, LedgerUnavailable, TransactionRejected
from secmas.ledger.ids import agent_id, id_name, pipeline_id
from secmas.ledger.node import PYTHON_RECURSION_LIMIT
from secmas.ledger.registry import (
    DEFAULT_AGENT_FUNDING_WEI,
    AgentInfo,
    AgentRegistration,
    AttestationRecord,
    Reference,
    RegistryClient,
    StepInfo,
)
from secmas.ledger.secretstore import SecretStoreClient

__all__ = [
    "DEFAULT_AGENT_FUNDING_WEI",
    "MEMORY",
    "PYTHON_RECURSION_LIMIT",
    "Account",
    "AccountLike",
    "AgentInfo",
    "AgentRegistration",
    "AttestationRecord",
    "Contracts",
    "Ledger",
    "LedgerError",
    "LedgerEvent",
    "LedgerRevert",
    "LedgerUnavailable",
    "NodeAccount",
    "Receipt",
    "Reference",
    "RegistryClient",
    "SecretStoreClient",
    "StepInfo",
    "TransactionRejected",
    "agent_id",
    "connect",
    "id_name",
    "pipeline_id",
]
