"""Attacks on a run's audit log that delete its anchors file: the hash chain alone cannot
show a log cut short or rewritten from some entry on, so `secmas audit verify` must not
call such a log intact. Without the anchors it is an error (exit 1), unless the verifier
says on purpose that it checks the chain alone (`--no-anchors`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from tests.policy.test_audit import rechain, write_log
from typer.testing import CliRunner

from secmas.cli.audit import register
from secmas.ledger import connect
from secmas.policy.audit import ANCHORS_FILE, AUDIT_FILE, Anchorer, AuditLog, audit_log_id, read_log

app = typer.Typer(pretty_exceptions_enable=False)
register(app)


def verify(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", *map(str, args)], env={"COLUMNS": "250"})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder: a log of 10 entries anchored at 4, 8 and 10 on the in-process EVM."""
    client = connect().deploy_audit_anchor()
    with AuditLog(tmp_path / AUDIT_FILE) as log:
        anchorer = Anchorer(
            log, client, audit_log_id("attacked"), every=4, path=tmp_path / ANCHORS_FILE
        )
        for i in range(10):
            log.append(float(i), "SSLAAssessor", "breach", f"InvalidSourcePackets > 0 ({i})")
        anchorer.close()
    return tmp_path


def test_a_truncated_log_with_its_anchors_deleted_is_not_intact(run: Path) -> None:
    log = run / AUDIT_FILE
    write_log(log, read_log(log)[:6])  # the last four decisions hidden
    (run / ANCHORS_FILE).unlink()  # and the evidence that there were ten
    code, output = verify(log)
    assert code == 1, output
    assert "intact" not in output
    assert f"no anchors file {run / ANCHORS_FILE}" in output and "--no-anchors" in output


def test_a_rewritten_log_with_its_anchors_deleted_is_not_intact(run: Path) -> None:
    log = run / AUDIT_FILE
    write_log(log, rechain(read_log(log), 3, "nothing happened"))
    (run / ANCHORS_FILE).unlink()
    code, output = verify(log)
    assert code == 1, output
    assert "intact" not in output


def test_no_anchors_checks_the_chain_alone_and_says_so(run: Path) -> None:
    """The deliberate choice: exit 0 for an unbroken chain, but never the word "intact"
    without saying that nothing proves the log complete."""
    log = run / AUDIT_FILE
    write_log(log, read_log(log)[:6])
    (run / ANCHORS_FILE).unlink()
    code, output = verify(log, "--no-anchors")
    assert code == 0, output
    assert "chain unbroken" in output and "not checked against anchors" in output
    code, output = verify(log, "--no-anchors", "--anchors", run / "elsewhere.json")
    assert code == 2 and "--no-anchors" in output and "--anchors" in output
