"""What a run's transactions cost, read from the chain: each transaction's receipt gives
the gas it used and the price per gas it paid (EIP-1559 `effectiveGasPrice`: min(fee cap,
base fee + tip)); nothing here is estimated.

    report = measure_gas(chain, senders, first_block, steps=12, period_s=10.0)
    report.to_json()                           # report.json's trust.gas

A transaction is named by what it called: `Contract.function` from its 4-byte selector,
`Contract.constructor` from its init code, `transfer` for a plain payment (agent funding
and its sweep). An attestation step (`001_…` steps 9–12, repeated every period) costs the
`STEP_FUNCTIONS` its transactions called, divided by the mutual steps the run made; a day
of them at the scenario's period is that times 86 400 / period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from eth_typing import ChecksumAddress

from secmas.ledger.abi import ContractAbi, contract_abi
from secmas.ledger.artifacts import CONTRACT_NAMES, load_artifact
from secmas.ledger.chain import Chain
from secmas.ledger.node import SentTransaction

SECONDS_PER_DAY = 86_400
TRANSFER = "transfer"
STEP_FUNCTIONS = frozenset(
    {
        "AgentRegistry.openStep",
        "AgentRegistry.provideReference",
        "AgentRegistry.recordResult",
        "AgentRegistry.recordStep",
    }
)
"""The registry calls a periodic attestation step makes: opening, reference and verdict,
or `recordStep`, which records the reference and the verdict in one transaction."""
VERDICTS = frozenset({"AgentRegistry.recordResult", "AgentRegistry.recordStep"})
"""The call that ends a step: one per step made."""


@cache
def _abis() -> tuple[ContractAbi, ...]:
    return tuple(contract_abi(c) for c in CONTRACT_NAMES)


@cache
def _init_codes() -> tuple[tuple[str, bytes], ...]:
    return tuple((c, load_artifact(c).bytecode) for c in CONTRACT_NAMES)


def function_name(tx: SentTransaction) -> str:
    """What `tx` called: `Contract.function`, `Contract.constructor`, `transfer`, or
    `unknown` for a call into no packaged contract's function."""
    if tx.to is None:
        created = (c for c, code in _init_codes() if tx.data.startswith(code))
        return f"{next(created, 'unknown')}.constructor"
    if not tx.data:
        return TRANSFER
    for abi in _abis():
        function = abi.function_of(tx.data[:4])
        if function is not None:
            return f"{abi.name}.{function}"
    return "unknown"


@dataclass(frozen=True, slots=True)
class Spent:
    """Gas and fee (wei) of some transactions."""

    transactions: int
    gas: int
    fee_wei: int

    @classmethod
    def of(cls, txs: Iterable[SentTransaction]) -> Spent:
        listed = list(txs)
        return cls(
            len(listed),
            sum(t.gas_used for t in listed),
            sum(t.gas_used * t.effective_gas_price for t in listed),
        )

    def to_json(self) -> dict[str, int]:
        return {"transactions": self.transactions, "gas": self.gas, "fee_wei": self.fee_wei}


@dataclass(frozen=True, slots=True)
class GasReport:
    """The run's transactions with their receipts' gas, and how often a step ran."""

    transactions: tuple[SentTransaction, ...]
    steps: int
    period_s: float

    def total(self) -> Spent:
        return Spent.of(self.transactions)

    def by_function(self) -> dict[str, Spent]:
        """Gas and fees per contract function, in order of first use."""
        grouped: dict[str, list[SentTransaction]] = {}
        for tx in self.transactions:
            grouped.setdefault(function_name(tx), []).append(tx)
        return {name: Spent.of(txs) for name, txs in grouped.items()}

    def step(self) -> Spent | None:
        """The mean attestation step (None before any mutual step): its functions' gas and
        fees over the steps made, its transactions per step rounded up."""
        steps = self.steps_made()
        if steps == 0:
            return None
        spent = Spent.of(t for t in self.transactions if function_name(t) in STEP_FUNCTIONS)
        return Spent(-(-spent.transactions // steps), spent.gas // steps, spent.fee_wei // steps)

    def steps_made(self) -> int:
        """The mutual steps the run reported or, when more verdicts were mined, those: a
        step still running as the run ended is on chain but in no report."""
        return max(self.steps, sum(function_name(t) in VERDICTS for t in self.transactions))

    def per_day(self) -> Spent | None:
        """A day of steps at the scenario's attestation period."""
        step = self.step()
        if step is None:
            return None
        per_day = SECONDS_PER_DAY / self.period_s
        return Spent(
            round(step.transactions * per_day),
            round(step.gas * per_day),
            round(step.fee_wei * per_day),
        )

    def to_json(self) -> dict[str, object]:
        step, day = self.step(), self.per_day()
        return {
            "total": self.total().to_json(),
            "by_function": {n: s.to_json() for n, s in self.by_function().items()},
            "steps": self.steps_made(),
            "period_s": self.period_s,
            "per_step": None if step is None else step.to_json(),
            "per_day": None if day is None else day.to_json(),
        }


def measure_gas(
    chain: Chain,
    senders: Sequence[ChecksumAddress],
    first_block: int,
    *,
    steps: int,
    period_s: float,
) -> GasReport:
    """The gas report of what `senders` had mined from `first_block` to the latest block."""
    mined = chain.sent_by(frozenset(senders), first_block)
    return GasReport(tuple(mined), steps, period_s)
