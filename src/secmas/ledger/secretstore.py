"""Client of the SecretStore contract: the pipeline key per key epoch, sealed per agent.

Sealing (encryption to each agent's X25519 key) happens off-chain; this only moves bytes:
each sealed secret goes on chain in its push's log, and the contract keeps where.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from secmas.ledger.abi import indexed_topic
from secmas.ledger.chain import AccountLike, BoundContract, Receipt, address_of
from secmas.ledger.errors import LedgerError
from secmas.ledger.node import BLOCK_GAS_LIMIT

_GAS_PUSH_BASE = 60_000
_GAS_PUSH_PER_ACCOUNT = 29_000
_GAS_PER_LOGGED_WORD = 800
MAX_PUSH_GAS = BLOCK_GAS_LIMIT * 5 // 6
"""The most gas one push may ask for (25 M, within a block with room to spare): about 750
agents' secrets (a sealed secret costs a storage slot, its log and its calldata, about 32 k
gas; each held its bytes in storage before, about 105 k)."""


def _gas_for(sealed: bytes) -> int:
    return _GAS_PUSH_PER_ACCOUNT + _GAS_PER_LOGGED_WORD * ((len(sealed) + 31) // 32 + 1)


def push_batches(secrets: Mapping[AccountLike, bytes]) -> Iterator[dict[AccountLike, bytes]]:
    """`secrets` in consecutive batches whose push fits MAX_PUSH_GAS each, so that a key
    epoch reaches any number of agents (one transaction per batch)."""
    batch: dict[AccountLike, bytes] = {}
    gas = _GAS_PUSH_BASE
    for account, sealed in secrets.items():
        cost = _gas_for(sealed)
        if batch and gas + cost > MAX_PUSH_GAS:
            yield batch
            batch, gas = {}, _GAS_PUSH_BASE
        batch[account] = sealed
        gas += cost
    if batch:
        yield batch


class SecretStoreClient(BoundContract):
    """SecretStore as seen by one sender (the MLFO pushes, trusted agents fetch)."""

    NAME = "SecretStore"

    def push_secrets(
        self, pipeline: bytes, epoch: int, secrets: Mapping[AccountLike, bytes]
    ) -> Receipt:
        """Stores each agent's sealed secret for key epoch `epoch` (the registry's current
        one) in one transaction; every agent must be active and trusted. ValueError when
        the push would ask for more than MAX_PUSH_GAS (`push_batches` splits it)."""
        accounts = [address_of(a) for a in secrets]
        sealed = [bytes(s) for s in secrets.values()]
        gas = _GAS_PUSH_BASE + sum(_gas_for(s) for s in sealed)
        if gas > MAX_PUSH_GAS:
            raise ValueError(
                f"pushing {len(sealed)} secrets needs {gas} gas, above {MAX_PUSH_GAS}: "
                "push them in batches (push_batches)"
            )
        return self._send("pushSecrets", pipeline, epoch, accounts, sealed, gas=gas)

    def fetch_secret(self, pipeline: bytes) -> tuple[int, bytes]:
        """(current key epoch, the caller's sealed secret for it): the contract names the
        block the secret was pushed in, and its `SecretPushed` log there holds it."""
        epoch, block = self._call("fetchSecret", pipeline)
        box = self.sealed_secret(pipeline, int(epoch), int(block))
        if box is None:
            raise LedgerError(f"SecretStore: no SecretPushed log for the caller in block {block}")
        return int(epoch), box

    def sealed_secret(self, pipeline: bytes, epoch: int, block: int) -> bytes | None:
        """The caller's sealed secret of `epoch` from its `SecretPushed` log in `block`
        (this store's log, under the caller's address; no contract call); None when that
        block holds none."""
        topics = [
            self._abi.topic("SecretPushed"),
            pipeline,
            indexed_topic("uint64", epoch),
            indexed_topic("address", self.sender.address),
        ]
        logs = self._chain.logs(self.address, topics, block, block)
        boxes = [e.args["sealedSecret"] for e in self._decode_logs(logs)]
        return bytes(boxes[-1]) if boxes else None

    def has_secret(self, pipeline: bytes, epoch: int, account: AccountLike) -> bool:
        """Whether a secret for `account` was pushed in `epoch`."""
        return bool(self._call("hasSecret", pipeline, epoch, address_of(account))[0])
