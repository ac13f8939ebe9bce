"""Client of the Reputation contract: the promises each agent kept and broke, on-chain.

Judging a promise stays off-chain (`secmas.agents.reputation`); each agent reports its own
tallies of its peers from its own account, so a report is signed by whoever made it and
the contract refuses one from an agent the registry no longer trusts, or about itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.exceptions import DecodingError

from secmas.ledger.chain import BoundContract, Receipt
from secmas.ledger.errors import LedgerError
from secmas.ledger.ids import ID_SIZE

# Measured ~79k for a first report of one peer (two fresh storage words, the registry's
# two calls and the event) and ~60k more per further peer never reported before; the rest
# is headroom.
_GAS_REPORT_BASE = 40_000
_GAS_REPORT_PER_PEER = 70_000


@dataclass(frozen=True, slots=True)
class PeerTally:
    """Promises one peer kept and broke (towards one observer, or all of them)."""

    peer: str
    """The peer's account address."""
    kept: int
    broken: int


class ReputationClient(BoundContract):
    """Reputation as seen by one sender (an agent reports its own tallies; anyone reads)."""

    NAME = "Reputation"

    def report(self, pipeline: bytes, tallies: Sequence[PeerTally]) -> Receipt:
        """Adds the sender's tallies of its peers in `pipeline` (bytes32)."""
        if len(pipeline) != ID_SIZE:
            raise ValueError(f"pipeline id must be {ID_SIZE} bytes, got {len(pipeline)}")
        gas = _GAS_REPORT_BASE + _GAS_REPORT_PER_PEER * len(tallies)
        return self._send(
            "report",
            pipeline,
            [t.peer for t in tallies],
            [t.kept for t in tallies],
            [t.broken for t in tallies],
            gas=gas,
        )

    def tally(self, pipeline: bytes, peer: str) -> PeerTally:
        """Every observer's tallies of `peer` added up; LedgerError when no Reputation
        contract is at the address."""
        try:
            kept, broken = self._call("tally", pipeline, peer)
        except DecodingError:
            raise LedgerError(f"no Reputation contract at {self.address}") from None
        return PeerTally(peer, int(kept), int(broken))

    def tally_by(self, pipeline: bytes, observer: str, peer: str) -> PeerTally:
        """What `observer` reported of `peer`."""
        kept, broken = self._call("tallyBy", pipeline, observer, peer)
        return PeerTally(peer, int(kept), int(broken))
