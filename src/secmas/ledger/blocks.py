"""How often the chain mines a block, measured before a run, and the shortest attestation
period that fits it.

An attestation step is one transaction (`AgentRegistry.recordStep`), mined in the first
block after it is sent, so up to one block interval after the verifier's verdict; the
challenge, the measurement and the relying party's check come on top, and SECaaS's
unannounced records share the chain with the steps. A period of STEP_BLOCKS intervals
leaves one interval for the transaction and one for the rest: with 12 s blocks a step
every 10 s would fall behind for good, each step starting later than the last.

A node that mines on arrival (Hardhat's automine, the in-process EVM) has no interval.
Otherwise the interval is the median gap between the timestamps of the latest blocks, the
genesis block left out (its time is the chain's creation, not a mining time); a chain too
young to show three blocks after it is watched until it mines them.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from secmas.ledger.chain import Chain
from secmas.ledger.errors import LedgerError
from secmas.ledger.rpcnode import JsonRpcNode

STEP_BLOCKS = 2
"""Block intervals one attestation period must hold: the step's transaction, the rest."""

SAMPLE_BLOCKS = 8
"""Gaps between the latest blocks whose median is the interval."""

PROBE_S = 60.0
"""Longest wait for new blocks on a chain too young to measure (Ethereum: 12 s slots)."""

AUTOMINE_METHODS = ("hardhat_getAutomine", "anvil_getAutomine")
"""Development nodes that say whether they mine each transaction on arrival."""


@dataclass(frozen=True, slots=True)
class BlockInterval:
    """Seconds between two blocks (0: a block per transaction, on arrival) and how that
    was learnt."""

    seconds: float
    how: str

    @property
    def shortest_period(self) -> float:
        """The shortest attestation period, in wall seconds, this chain carries."""
        return STEP_BLOCKS * self.seconds


def measure_interval(
    chain: Chain,
    *,
    probe_s: float = PROBE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> BlockInterval:
    """The block interval of `chain`'s node; LedgerError when it mines nothing for
    `probe_s` seconds while too young to measure."""
    if automines(chain):
        return BlockInterval(0.0, "the node mines each transaction on arrival")
    latest = chain.block_number()
    first = max(1, latest - SAMPLE_BLOCKS)
    if latest - first < 2:
        first, latest = _probe(chain, probe_s, sleep)
    stamps = [chain.block_time(n) for n in range(first, latest + 1)]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return BlockInterval(
        float(statistics.median(gaps)),
        f"median gap between blocks {first} to {latest} ({len(gaps)} gaps)",
    )


def automines(chain: Chain) -> bool:
    """Whether the node mines every transaction on arrival: the in-process EVM does, a
    development node says so when asked, any other node is taken not to."""
    node = chain.node
    if not isinstance(node, JsonRpcNode):
        return True
    for method in AUTOMINE_METHODS:
        try:
            return bool(node.request(method, []))
        except LedgerError:
            continue  # not this kind of node
    return False


def _probe(chain: Chain, probe_s: float, sleep: Callable[[float], None]) -> tuple[int, int]:
    """First and last of three blocks after the genesis, waiting for a young chain to
    mine them."""
    deadline = time.monotonic() + probe_s
    start = max(1, chain.block_number() - 1)
    while chain.block_number() < start + 2:
        if time.monotonic() > deadline:
            raise LedgerError(
                f"{chain.url}: mined no block for {probe_s:g} s; cannot measure its block time"
            )
        sleep(0.25)
    return start, chain.block_number()
