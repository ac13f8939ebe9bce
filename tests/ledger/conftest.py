"""Ledger fixtures: an in-process chain with the contracts deployed, pipelines of funded
agents, and a Hardhat JSON-RPC node for the tests that need one."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from secmas.ledger import (
    Account,
    AgentRegistration,
    Contracts,
    Ledger,
    Receipt,
    RegistryClient,
    SecretStoreClient,
    StepInfo,
    agent_id,
    connect,
    pipeline_id,
)
from secmas.ledger.devnode import NodeDidNotStart, hardhat_node
from secmas.ledger.registry import MAX_AGENTS_PER_REGISTRATION

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "ledger"
FUNDING_WEI = 10**17
HARDHAT_START_TIMEOUT_S = 60.0


def node_tools_missing() -> str | None:
    """Why the node-based tests cannot run here, None when they can."""
    if shutil.which("node") is None or shutil.which("npx") is None:
        return "node/npx not installed (scripts/setup --test installs them)"
    if not (TOOLS / "node_modules").is_dir():
        return "tools/ledger/node_modules missing (npm ci --no-audit --no-fund in tools/ledger)"
    return None


def evidence(label: str) -> bytes:
    """A 32-byte evidence digest."""
    return hashlib.sha256(label.encode()).digest()


@dataclass
class Member:
    """A registered agent and its views of both contracts."""

    account: Account
    name: str
    registry: RegistryClient
    store: SecretStoreClient

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class Pipeline:
    """A pipeline with registered, funded agents and a plan in registration order."""

    ledger: Ledger
    contracts: Contracts
    pid: bytes
    members: list[Member]
    mlfo: RegistryClient
    secaas: RegistryClient

    def member(self, address: str) -> Member:
        return next(m for m in self.members if m.address == address)

    def bootstrap(self, index: int = 0) -> Receipt:
        """The SECaaS attests member `index`, which becomes the root of trust."""
        return self.secaas.record_initial(
            self.pid, self.members[index].account, evidence("nonce"), True, evidence("initial")
        )

    def attest(self, passed: bool = True, group: int = 0) -> tuple[StepInfo, Receipt]:
        """Runs the group's open step: reference from the SECaaS, verdict from the verifier."""
        step = self.secaas.current_step(self.pid, group)
        assert step is not None, "no open step"
        sealed = b"sealed-ref-" + bytes([step.index])
        self.secaas.provide_reference(self.pid, step.index, sealed, group)
        verifier = self.member(step.verifier)
        reference = verifier.registry.reference_for(self.pid, group)
        assert (reference.step, reference.measured) == (step.index, step.measured)
        receipt = verifier.registry.record_result(
            self.pid, step.index, reference.nonce, passed, evidence(f"step {step.index}"), group
        )
        return step, receipt


def register_fresh(ledger: Ledger, contracts: Contracts, pid: bytes, size: int) -> list[Account]:
    """Registers `size` fresh funded agents in `pid`, in batches as the MLFO does."""
    accounts = [ledger.new_account() for _ in range(size)]
    registrations = [
        AgentRegistration(a.address, agent_id(f"agent-{i}"), os.urandom(32), os.urandom(32))
        for i, a in enumerate(accounts)
    ]
    for start in range(0, size, MAX_AGENTS_PER_REGISTRATION):
        contracts.registry.register_agents(
            pid,
            registrations[start : start + MAX_AGENTS_PER_REGISTRATION],
            funding_per_agent_wei=FUNDING_WEI,
        )
    return accounts


def build_pipeline(
    ledger: Ledger, contracts: Contracts, size: int, name: str = "pipeline-1", groups: int = 1
) -> Pipeline:
    """Registers `size` fresh agents in pipeline `name` and sets the plans to them: in
    `groups` attestation groups of consecutive members, all of the same size."""
    pid = pipeline_id(name)
    accounts = register_fresh(ledger, contracts, pid, size)
    each = size // groups
    contracts.registry.set_plans(pid, [accounts[g * each : (g + 1) * each] for g in range(groups)])
    members = [
        Member(a, f"agent-{i}", contracts.registry.as_(a), contracts.secret_store.as_(a))
        for i, a in enumerate(accounts)
    ]
    return Pipeline(
        ledger, contracts, pid, members, contracts.registry, contracts.registry.as_(ledger.secaas)
    )


@pytest.fixture
def ledger() -> Ledger:
    return connect(None)


@pytest.fixture
def contracts(ledger: Ledger) -> Contracts:
    return ledger.deploy()


@pytest.fixture
def pipeline3(ledger: Ledger, contracts: Contracts) -> Pipeline:
    return build_pipeline(ledger, contracts, 3)


@pytest.fixture(scope="session")
def hardhat_url() -> Iterator[str]:
    """A Hardhat node on a free loopback port, in its own process group (npx spawns
    several processes), stopped with the whole group at teardown."""
    missing = node_tools_missing()
    if missing:
        pytest.skip(f"Hardhat JSON-RPC tests need node tools: {missing}")
    try:
        with hardhat_node(TOOLS, timeout=HARDHAT_START_TIMEOUT_S) as url:
            yield url
    except NodeDidNotStart as exc:
        pytest.fail(str(exc))
