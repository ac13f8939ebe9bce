"""The ledger's exceptions: one for contract reverts whatever the backend, one per other cause.

The in-process EVM, Hardhat and production nodes each report a revert differently (py-evm's
failed computation, an RPC error with or without the payload, a mined receipt with status 0);
callers see `LedgerRevert` with the contract's own rule text in every case.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error raised by `secmas.ledger`."""


class LedgerRevert(LedgerError):
    """A contract call or transaction reverted; `rule` is the contract's revert reason,
    e.g. "AgentRegistry: caller is not the MLFO"."""

    def __init__(self, contract: str, function: str, rule: str) -> None:
        super().__init__(f"{contract}.{function} reverted: {rule}")
        self.contract = contract
        self.function = function
        self.rule = rule


class TransactionRejected(LedgerError):
    """The node refused a transaction before executing it (nonce, funds, fees, gas limit)."""

    def __init__(self, contract: str, function: str, reason: str) -> None:
        super().__init__(f"{contract}.{function} rejected by the node: {reason}")
        self.contract = contract
        self.function = function
        self.reason = reason


class LedgerUnavailable(LedgerError):
    """The Ethereum node at `url` could not be reached."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"ledger node {url} unavailable: {cause}")
        self.url = url
        self.cause = cause

    def __reduce__(self) -> tuple[type[LedgerUnavailable], tuple[str, str]]:
        return LedgerUnavailable, (self.url, self.cause)  # raised in the ledger host too
