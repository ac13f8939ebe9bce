"""The attestation period checked against the chain's block time before a run: a period
the chain cannot carry is refused with the reason, or lengthened when
the scenario says so (`security.attestation.block_time: adapt`).

The check concerns paced runs (agents as processes), where a simulated second is
1 / speed wall seconds and a step's transaction waits for real blocks. An in-process run
on the virtual clock waits for its ledger calls (`run_blocking`), so a slow chain
lengthens its wall time, not its attestation period.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from secmas.api.errors import RunInputError
from secmas.ledger.blocks import STEP_BLOCKS, BlockInterval, measure_interval
from secmas.ledger.chain import Chain
from secmas.ledger.errors import LedgerError, LedgerUnavailable
from secmas.ledger.rpcnode import JsonRpcNode
from secmas.scenario.model import Scenario

logger = logging.getLogger(__name__)

Measure = Callable[[str], BlockInterval]
"""The block interval of the node at a JSON-RPC URL."""


def node_interval(url: str) -> BlockInterval:
    """The block interval of the node at `url` (`measure_interval`)."""
    return measure_interval(Chain(JsonRpcNode(url)))


def fit_block_time(
    scenario: Scenario, speed: float, *, measure: Measure = node_interval
) -> Scenario:
    """`scenario`, its attestation period lengthened when it asks to adapt; RunInputError
    when the period is too short for the chain's block time and it does not. Nothing is
    checked without the trust layer or on the in-process chain; an unreachable node is
    left to the run, which names it."""
    security = scenario.security
    if not security.enabled or security.ledger == "memory":
        return scenario
    try:
        interval = measure(security.ledger)
    except LedgerUnavailable:
        return scenario
    except LedgerError as exc:
        raise RunInputError(str(exc), option="ledger") from None
    attestation = security.attestation
    shortest = interval.shortest_period * speed  # simulated seconds
    if attestation.period >= shortest:
        return scenario
    if attestation.block_time == "adapt":
        period = float(math.ceil(shortest))
        logger.warning(
            "security.attestation.period %g s lengthened to %g s: blocks every %g s on %s",
            attestation.period,
            period,
            interval.seconds,
            security.ledger,
        )
        adapted = attestation.model_copy(update={"period": period})
        return scenario.model_copy(
            update={"security": security.model_copy(update={"attestation": adapted})}
        )
    raise RunInputError(
        f"security.attestation.period {attestation.period:g} s ({attestation.period / speed:g}"
        f" wall s at {speed:g}x real time) is shorter than the {STEP_BLOCKS} block intervals "
        f"an attestation step needs on {security.ledger}: a block every {interval.seconds:g} s "
        f"({interval.how}). Use a period of at least {math.ceil(shortest):g} s, a lower "
        "--speed, or security.attestation.block_time: adapt"
    )
