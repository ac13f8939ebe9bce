"""Attacks on a run's audit log that delete its anchors file: the hash chain alone cannot
show a log cut short or rewritten from some entry on, so `secmas audit verify` must not
call such a log intact. Without the anchors it is an error (exit 1), unless the verifier
says on purpose that it checks the chain alone (`--no-anchors`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.policy.test_audit import rechain, write_log
from tests.policy.test_audit_notary import notarised_log
from typer.testing import CliRunner

from secmas.cli.audit import register
from secmas.ledger import connect
from secmas.policy.audit import (
    ANCHORS_FILE,
    AUDIT_FILE,
    Anchorer,
    AuditLog,
    audit_log_id,
    make_entry,
    read_anchors,
    read_log,
    statement_bytes,
    write_anchors,
)
from secmas.policy.notary import NOTARY_KEY_FILE
from secmas.trust.keys import public_key_hex

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


# --- a finished run's log rewritten together with its anchors file ------------------------
#
# The in-process EVM of a default run is gone with the run, so after it only the anchors
# file speaks for the anchors. A forger who rewrites the log and the file beside it, every
# hash recomputed, must not get "intact": the anchors must carry the audit notary's
# signature under the key the verifier pins, which the forger does not hold.

POLICY = Path(__file__).parents[2] / "scenarios" / "policies" / "slice-isolation.yaml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """($SECMAS_HOME, run folder) of a real `secmas demo --policy …` run."""
    from secmas.cli.main import app as secmas

    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("runs") / "demo"
    result = CliRunner().invoke(
        secmas,
        ["demo", "--policy", str(POLICY), "--out", str(folder), "--quiet"],
        env={"SECMAS_HOME": str(home), "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    return home, folder


@pytest.fixture
def demo(finished: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the finished run that a test may tamper with, verified with its home."""
    home, folder = finished
    monkeypatch.setenv("SECMAS_HOME", str(home))
    return Path(shutil.copytree(folder, tmp_path / "demo"))


def rewrite(folder: Path, *, keep_signatures: bool) -> None:
    """What a forger does to the files: rewrites the log from its second entry on, every
    hash recomputed, and the anchors file to match, heads moved to the forged log and the
    notary's signatures kept or stripped."""
    log = folder / AUDIT_FILE
    forged = rechain(read_log(log), 1, "nothing happened")
    write_log(log, forged)
    anchors_file = folder / ANCHORS_FILE
    data = json.loads(anchors_file.read_text())
    for anchor in data["anchors"]:
        anchor["head"] = forged[anchor["count"] - 1].hash
        if not keep_signatures:
            anchor.pop("notary", None)
    anchors_file.write_text(json.dumps(data))


def test_the_finished_run_verifies_intact(demo: Path) -> None:
    code, output = verify(demo / AUDIT_FILE)
    assert code == 0, output
    assert "audit.jsonl: intact" in output


@pytest.mark.parametrize("keep_signatures", [True, False])
def test_a_log_rewritten_with_its_anchors_file_is_not_intact(
    demo: Path, keep_signatures: bool
) -> None:
    rewrite(demo, keep_signatures=keep_signatures)
    code, output = verify(demo / AUDIT_FILE)
    assert code == 1, output
    assert "intact" not in output
    reason = "signature does not hold" if keep_signatures else "never sealed"
    assert reason in " ".join(output.split())


def test_anchors_re_signed_with_the_forgers_own_key_are_not_intact(demo: Path) -> None:
    """The forger signs the rewritten anchors with a key of their own and names it in the
    file: the verifier trusts the pinned key, never one the file carries."""
    rewrite(demo, keep_signatures=True)
    forger = Ed25519PrivateKey.generate()
    anchors = read_anchors(demo / ANCHORS_FILE)
    signed = tuple(
        replace(
            a, notary=replace(a.notary, signature=forger.sign(statement_bytes(anchors, a)).hex())
        )
        for a in anchors.anchors
        if a.notary is not None
    )
    key = public_key_hex(forger.public_key())
    write_anchors(demo / ANCHORS_FILE, replace(anchors, anchors=signed, notary_key=key))
    code, output = verify(demo / AUDIT_FILE)
    assert code == 1, output
    assert f"the file names notary key {key}" in " ".join(output.split())
    code, output = verify(demo / AUDIT_FILE, "--trusted-key", key)  # unless told to trust it
    assert code == 0, output


def test_a_log_cut_back_to_an_earlier_signed_anchor_is_not_intact(
    notarised: tuple[AuditLog, Path],
) -> None:
    """Entries 6 and 7 removed with their anchors: every anchor left holds, but none seals."""
    log, anchors_path = notarised
    path = write_log(anchors_path.parent / AUDIT_FILE, list(log.entries)[:6])
    anchors = read_anchors(anchors_path)
    write_anchors(anchors_path, replace(anchors, anchors=anchors.anchors[:2]))
    code, output = verify(path)
    assert code == 1, output
    assert "never sealed the log" in output and "signed anchors cover 6 entries" in output


def test_entries_appended_after_the_seal_are_not_intact(
    notarised: tuple[AuditLog, Path],
) -> None:
    log, anchors_path = notarised
    entries = list(log.entries)
    late = make_entry(7, 7.0, "SSLAAssessor", "breach", "added later", {}, entries[-1].hash)
    path = write_log(anchors_path.parent / AUDIT_FILE, [*entries, late])
    code, output = verify(path)
    assert code == 1, output
    assert "audit.jsonl:8: entry seq 7: appended after the seal: the notary sealed" in output


@pytest.fixture
def notarised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AuditLog, Path]:
    """A log of 7 entries anchored at 3, 6 and 7 (sealed) by the user's notary."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("SECMAS_HOME", str(home))
    log, anchors_path = notarised_log(connect().deploy_audit_anchor(), tmp_path, "cut")
    write_log(tmp_path / AUDIT_FILE, list(log.entries))
    return log, anchors_path


def test_a_run_refuses_a_notary_key_others_may_read(tmp_path: Path) -> None:
    """A key others may read is a key others may sign with: the run stops before it starts."""
    from secmas.cli.main import app as secmas

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / NOTARY_KEY_FILE).write_text("")
    (home / NOTARY_KEY_FILE).chmod(0o644)
    result = CliRunner().invoke(
        secmas,
        ["demo", "--policy", str(POLICY), "--out", str(tmp_path / "run"), "--quiet"],
        env={"SECMAS_HOME": str(home), "COLUMNS": "250"},
    )
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "audit notary key:" in output and "readable or writable by others" in output
    assert not (tmp_path / "run" / AUDIT_FILE).exists()
