"""What a run may spend on the chain, sized from measured gas, and the agents' money swept
back when it ends (a flat 1 ETH used to go to each fresh agent key and stay there).

An agent sends one transaction per attestation step it verifies (`recordStep`, 001_…
steps 9–12) and one reputation report at the end. A run of `duration` s at `period` makes
duration / period steps plus the first mutual round (one per planned agent), shared among
its agents along the plan (with attestation groups, one step per period in each). Each
agent gets

    (MARGIN × its share of the steps × STEP_GAS + HEADROOM_GAS) × fee cap

STEP_GAS is the gas report's `per_step` measured (one `recordStep`: 92 k in the demo, 94 k
at 1,000 agents, up to 118 k when a group's step is first written; the in-process node
charges what Hardhat does, `tests/ledger/test_evmnode_gas.py`, and
`tests/security/test_ledger_funds.py` checks a run's report against it; 202–215 k while
the registry kept each record in storage as well as in its log); MARGIN 2 covers
agents revoked mid-run (the others verify their share) and the reputation report;
HEADROOM_GAS the balance a node asks of the sender before a transaction (gas limit × fee
cap) or, on some nodes, before a view call (the block gas limit, 30 M, × the gas price).
The fee cap is the client's current EIP-1559 quote (twice the base fee plus the tip,
`secmas.ledger.chain.FeeQuote`).

The MLFO pays the contracts, the registration and every agent's funding, the SECaaS its
records (initial and unannounced checks, at most one per step); `require_funds` refuses a
run before it starts when either cannot pay, naming the account, its balance and the need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eth_typing import ChecksumAddress

from secmas.ledger.accounts import Account
from secmas.ledger.chain import AccountLike, Chain, address_of
from secmas.ledger.errors import LedgerError

STEP_GAS = 120_000
"""Measured gas of one attestation step (report.json `trust.gas.per_step.gas`), rounded up."""
SETUP_GAS = 5_000_000
"""Measured gas of the MLFO's setup for ddos-6pop less the registration: AgentRegistry
2.93 M, SecretStore 0.79 M, Reputation 0.63 M, the plan 0.19 M, a key push 0.60 M."""
REGISTER_GAS_PER_AGENT = 160_000
"""Measured gas of registering one agent (`registerAgents`: 945 k for six)."""
MARGIN = 2
HEADROOM_GAS = 30_000_000
"""The block gas limit (Hardhat's and the in-process node's): no call or transaction of an
agent names more, so a balance of it × the fee cap is never refused."""
TRANSFER_GAS = 21_000
"""A plain payment's gas (Yellow Paper G_transaction): the sweep's cost."""


class InsufficientFunds(LedgerError):
    """An account of the MLFO or SECaaS cannot pay for the run."""


@dataclass(frozen=True, slots=True)
class Budget:
    """What a run of `agents` agents making `steps` steps may spend at fee cap `max_fee`."""

    agents: int
    steps: int
    max_fee: int

    @property
    def per_agent_wei(self) -> int:
        """One agent's funding: its share of the steps, with the margin and headroom."""
        share = math.ceil(self.steps / max(self.agents, 1))
        return (MARGIN * share * STEP_GAS + HEADROOM_GAS) * self.max_fee

    @property
    def mlfo_wei(self) -> int:
        """The MLFO's setup and registration (with the margin) and every agent's funding."""
        gas = MARGIN * (SETUP_GAS + REGISTER_GAS_PER_AGENT * self.agents)
        return gas * self.max_fee + self.agents * self.per_agent_wei

    @property
    def secaas_wei(self) -> int:
        """The SECaaS's records: an initial attestation per agent and a check per step."""
        return MARGIN * (self.agents + self.steps) * STEP_GAS * self.max_fee

    def to_json(self) -> dict[str, int]:
        return {
            "steps": self.steps,
            "max_fee_wei": self.max_fee,
            "step_gas": STEP_GAS,
            "margin": MARGIN,
            "per_agent_wei": self.per_agent_wei,
        }


def run_steps(duration: float, period: float, planned: int, groups: int = 1) -> int:
    """The attestation steps a run can make: one per period in each attestation group,
    and the first mutual round."""
    return math.ceil(duration / period) * groups + planned


def budget(chain: Chain, agents: int, steps: int) -> Budget:
    """The run's budget at the chain's current fee cap."""
    return Budget(agents, steps, chain.fees().max_fee)


def require_funds(chain: Chain, mlfo: AccountLike, secaas: AccountLike, plan: Budget) -> None:
    """InsufficientFunds, naming the account, its balance and its need, when the MLFO or
    the SECaaS cannot pay for the run (one account for both needs both)."""
    needs: dict[ChecksumAddress, tuple[str, int]] = {}
    for role, account, need in (
        ("MLFO", mlfo, plan.mlfo_wei),
        ("SECaaS", secaas, plan.secaas_wei),
    ):
        address = address_of(account)
        named, before = needs.get(address, ("", 0))
        needs[address] = (f"{named} and {role}" if named else role, before + need)
    for address, (role, need) in needs.items():
        balance = chain.balance(address)
        if balance < need:
            raise InsufficientFunds(
                f"the {role} account {address} holds {_eth(balance)} ETH; the run needs "
                f"{_eth(need)} ETH ({plan.agents} agents, {plan.steps} attestation steps "
                f"at a fee cap of {plan.max_fee / 1e9:g} gwei, margin {MARGIN}): fund it "
                "or give another key"
            )


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f}"


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one account sent back: `value` wei (0: its balance did not cover the fee)."""

    account: ChecksumAddress
    value: int
    left: int


def sweep(chain: Chain, account: Account, to: AccountLike) -> Sweep:
    """Sends `account`'s balance less the transfer's fee at the fee cap to `to`; what
    stays is the fee cap's excess over the price paid, below one transfer's fee."""
    max_fee = chain.fees().max_fee
    value = chain.balance(account) - TRANSFER_GAS * max_fee
    if value > 0:
        sender = chain.sender(account)
        chain.transact(
            sender, address_of(to), b"", gas=TRANSFER_GAS, value=value, where=("sweep", "transfer")
        )
    return Sweep(account.address, max(value, 0), chain.balance(account))
