"""The trust section of report.json is made one way for every placement: the same keys,
each agent's placement columns added, and no credentials from the ledger's URL."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.ledger.connection import connect
from secmas.pipeline.trustreport import TrustRecords, trust_report
from secmas.pipeline.workflow import Workflow
from secmas.report.model import Trust
from secmas.scenario.model import Security
from secmas.trust.epochs import EpochPush
from secmas.trust.liveness import LivenessMonitor
from secmas.trust.view import TrustView
from secmas.trust.wrap import wrap


def records(tmp_path: Path, ledger_url: str, columns: dict[str, dict[str, object]]) -> TrustRecords:
    ledger = connect(None)
    contracts = ledger.deploy()
    agent = tmp_path / "agent"
    agent.mkdir(parents=True)
    (agent / "__init__.py").write_text("NAME = 'agent'\n")
    view = TrustView()
    view.trust("pop1")
    view.trust("pop2")
    view.exclude("pop2", "failed attestation")
    accounts = {"pop1": ledger.new_account().address, "pop2": ledger.new_account().address}
    return TrustRecords(
        pipeline="p",
        ledger_url=ledger_url,
        contracts=contracts,
        security=Security(),
        view=view,
        accounts=accounts,
        columns=columns,
        plan=["pop1", "pop2"],
        groups=[["pop1", "pop2"]],
        setup_tx={"deploy": "0x01"},
        entries=[],
        pushes=[],
        rotations=[],
        liveness=LivenessMonitor("p", set(accounts), beats={"pop1": 3}),
        workflow=Workflow(),
        round_trips=[0.01, 0.03],
        ledger=ledger,
        funding=None,
        channel=None,
        external=None,
        image=wrap(agent, Ed25519PrivateKey.generate(), image="agent", version="1"),
    )


def test_an_epoch_pushed_to_nobody_is_reported_without_a_transaction(tmp_path: Path) -> None:
    """Every admitted agent untrusted on chain when the rekey came (all failed): the push
    sealed the secret for nobody and sent nothing."""
    nobody = records(tmp_path, "memory", {})
    nobody.pushes.append(EpochPush(2, (), (), None))
    section = trust_report(nobody, now=10.0)
    Trust.model_validate(section)
    assert section["key_epochs"] == [{"epoch": 2, "recipients": 0, "tx": None, "batches": 0}]


def test_the_ledger_url_is_reported_without_its_credentials(tmp_path: Path) -> None:
    url = "https://mlfo:s3cret-token@ledger.example:8545"
    section = trust_report(records(tmp_path, url, {}), now=10.0)
    assert section["ledger"] == "https://***@ledger.example:8545"
    assert "s3cret" not in repr(section)


def test_each_placement_adds_its_columns_and_the_section_is_valid(tmp_path: Path) -> None:
    in_process = {"pop1": {"key_epoch": 1}, "pop2": {"key_epoch": None}}
    as_processes = {"pop1": {"killed_at": None}, "pop2": {"killed_at": 31.5}}
    for columns in (in_process, as_processes):
        section = trust_report(
            records(tmp_path / next(iter(columns["pop2"])), "memory", columns), 10.0
        )
        Trust.model_validate(section)
        agents = section["agents"]
        assert agents["pop1"]["trusted"] and not agents["pop2"]["trusted"]
        assert agents["pop2"]["excluded"] == "failed attestation"
        assert agents["pop1"]["heartbeats"] == 3 and agents["pop2"]["heartbeats"] == 0
        assert all(agents[a].items() >= columns[a].items() for a in agents)
        assert section["image"]["name"] == "agent"
        assert section["challenge_round_trips"]["count"] == 2
