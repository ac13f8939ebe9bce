"""The ledger: AgentRegistry (agents, attestation chain, rotating root of trust) and
SecretStore (the pipeline key per key epoch, sealed per agent), with a web3.py client for
the in-process EVM and any Ethereum JSON-RPC node.

    ledger = connect(None)                     # or connect("http://127.0.0.1:8545")
    contracts = ledger.deploy()
    registry = contracts.registry.as_(agent_account)
"""

import sys

from secmas.ledger.abi import LedgerEvent
from secmas.ledger.chain import AccountLike, NodeAccount, Receipt
from secmas.ledger.connection import MEMORY, Contracts, Ledger, connect
from secmas.ledger.errors import LedgerError, LedgerRevert, LedgerUnavailable, TransactionRejected
from secmas.ledger.ids import agent_id, id_name, pipeline_id
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

# eth_account (through py_ecc) and py-evm raise the interpreter's recursion limit to 100 000
# on import. Deep recursion anywhere in the process (a deeply nested JSON message, say) then
# overflows the C stack and kills the process instead of raising RecursionError. The
# contracts nest calls two deep, well within Python's default limit, so put that back.
PYTHON_RECURSION_LIMIT = 1000
if sys.getrecursionlimit() > PYTHON_RECURSION_LIMIT:
    sys.setrecursionlimit(PYTHON_RECURSION_LIMIT)

__all__ = [
    "DEFAULT_AGENT_FUNDING_WEI",
    "MEMORY",
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
