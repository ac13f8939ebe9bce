"""Client of the SecretStore contract: the pipeline key per key epoch, sealed per agent.

Sealing (encryption to each agent's X25519 key) happens off-chain; this only moves bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from secmas.ledger.chain import AccountLike, BoundContract, Receipt, address_of

_GAS_PUSH_BASE = 60_000
_GAS_PUSH_PER_ACCOUNT = 35_000
_GAS_PER_STORED_WORD = 24_000


class SecretStoreClient(BoundContract):
    """SecretStore as seen by one sender (the MLFO pushes, trusted agents fetch)."""

    NAME = "SecretStore"

    def push_secrets(
        self, pipeline: bytes, epoch: int, secrets: Mapping[AccountLike, bytes]
    ) -> Receipt:
        """Stores each agent's sealed secret for key epoch `epoch` (the registry's current
        one); every agent must be active and trusted."""
        accounts = [address_of(a) for a in secrets]
        sealed = [bytes(s) for s in secrets.values()]
        gas = _GAS_PUSH_BASE + sum(
            _GAS_PUSH_PER_ACCOUNT + _GAS_PER_STORED_WORD * ((len(s) + 31) // 32 + 1) for s in sealed
        )
        return self._send("pushSecrets", pipeline, epoch, accounts, sealed, gas=gas)

    def fetch_secret(self, pipeline: bytes) -> tuple[int, bytes]:
        """(current key epoch, the caller's sealed secret for it)."""
        epoch, sealed = self._call("fetchSecret", pipeline)
        return int(epoch), bytes(sealed)

    def has_secret(self, pipeline: bytes, epoch: int, account: AccountLike) -> bool:
        """Whether a secret for `account` was pushed in `epoch`."""
        return bool(self._call("hasSecret", pipeline, epoch, address_of(account))[0])
