"""Client of the AuditAnchor contract: heads of hash-chained audit logs, anchored on-chain.

The log itself stays off-chain (`secmas.policy.audit`); the ledger keeps (count, head) pairs
that its writer cannot take back, which is what lets a verifier catch a log that was cut
short or rewritten consistently after an anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.exceptions import DecodingError

from secmas.ledger.chain import BoundContract, Receipt
from secmas.ledger.errors import LedgerError
from secmas.ledger.ids import ID_SIZE

# Measured ~92k for a log's first anchor (three fresh storage words and the event) and
# ~75k for later ones; the rest is headroom.
_GAS_ANCHOR = 150_000


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """One anchor as the contract holds it: the first `count` entries of the log end with
    the entry whose hash is `head`; `timestamp` is the block's (seconds since the epoch)."""

    count: int
    head: bytes
    timestamp: int


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) != ID_SIZE:
        raise ValueError(f"{what} must be {ID_SIZE} bytes, got {len(value)}")
    return bytes(value)


class AuditAnchorClient(BoundContract):
    """AuditAnchor as seen by one sender (its owner anchors, anyone reads)."""

    NAME = "AuditAnchor"

    @property
    def url(self) -> str:
        """The chain's JSON-RPC URL ("memory" for the in-process EVM), for anchors files."""
        return self._chain.url

    def anchor(self, log: bytes, count: int, head: bytes) -> Receipt:
        """Anchors the head of the first `count` entries of log `log` (both bytes32); the
        count must exceed the log's last anchored one and the head must not be zero."""
        return self._send(
            "anchor", _bytes32(log, "log id"), count, _bytes32(head, "head"), gas=_GAS_ANCHOR
        )

    def anchor_count(self, log: bytes) -> int:
        """How many anchors log `log` has; LedgerError when no AuditAnchor is at the address
        (a call to an account without code answers with empty data)."""
        try:
            return int(self._call("anchorCount", _bytes32(log, "log id"))[0])
        except DecodingError:
            raise LedgerError(f"no AuditAnchor contract at {self.address}") from None

    def anchor_at(self, log: bytes, index: int) -> AnchorRecord:
        """The `index`-th anchor of log `log`, oldest first."""
        count, head, timestamp = self._call("anchorAt", _bytes32(log, "log id"), index)
        return AnchorRecord(int(count), bytes(head), int(timestamp))

    def anchors(self, log: bytes) -> list[AnchorRecord]:
        """Every anchor of log `log`, oldest first."""
        return [self.anchor_at(log, i) for i in range(self.anchor_count(log))]
