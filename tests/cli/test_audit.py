"""`secmas audit verify` and `secmas audit show`: exit codes 0/1/2 and what they say, with
anchors on a JSON-RPC ledger (the in-process EVM served over HTTP), signed by the audit
notary of a $SECMAS_HOME made for the module."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.policy.test_audit import rechain, write_log
from typer.testing import CliRunner

from secmas.cli.audit import register
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.listenport import free_port
from secmas.policy.audit import (
    ANCHORS_FILE,
    AUDIT_FILE,
    Anchorer,
    AuditLog,
    audit_log_id,
    read_anchors,
    read_log,
    write_anchors,
)
from secmas.policy.notary import NOTARY_KEY_FILE, NOTARY_PUBLIC_FILE, NotaryProcess
from secmas.trust.keys import public_key_hex

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)


def audit(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", *map(str, args)], env={"COLUMNS": "250"})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def server() -> Iterator[LedgerServer]:
    with LedgerServer(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The $SECMAS_HOME of the notary that signs the module's anchors."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def _secmas_home(home: Path, server: LedgerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMAS_HOME", str(home))
    monkeypatch.setenv(LEDGER_TOKEN_ENV, server.token)


@pytest.fixture(scope="module")
def recorded(server: LedgerServer, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose log of 10 entries was anchored at 4, 8 and 10 on the server,
    each anchor signed by the notary, the last sealing the log."""
    folder = tmp_path_factory.mktemp("run")
    client = server.connect().deploy_audit_anchor()
    notary = NotaryProcess.start(home / NOTARY_KEY_FILE)
    with AuditLog(folder / AUDIT_FILE) as log:
        anchorer = Anchorer(
            log,
            client,
            audit_log_id("cli-run"),
            every=4,
            path=folder / ANCHORS_FILE,
            notary=notary,
        )
        for i in range(10):
            log.append(i * 0.5, "SSLAAssessor", "breach", f"InvalidSourcePackets > 0 ({i})")
        anchorer.close()
    return folder


@pytest.fixture
def run(recorded: Path, tmp_path: Path) -> Path:
    """A copy of the recorded run folder that a test may tamper with."""
    return Path(shutil.copytree(recorded, tmp_path / "run"))


def test_an_intact_log_exits_0_with_its_anchors_confirmed(run: Path, server: LedgerServer) -> None:
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 0, output
    assert "10 of 10 checked" in output and "3 of 3 confirmed, signed by the notary in" in output
    assert read_log(run / AUDIT_FILE)[-1].hash in output and "audit.jsonl: intact" in output
    code, output = audit("verify", run / AUDIT_FILE, "--ledger", server.url)
    assert code == 0, output
    assert f"3 of 3 confirmed, on the ledger {server.url}" in output


def test_an_edited_entry_exits_1_naming_line_and_seq(run: Path) -> None:
    path = run / AUDIT_FILE
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("(4)", "(none)")
    path.write_text("\n".join(lines) + "\n")
    code, output = audit("verify", path)
    assert code == 1
    assert "audit.jsonl:5: entry seq 4: content altered" in output
    assert "4 of 10 checked" in output


def test_a_log_cut_after_an_anchor_exits_1(run: Path) -> None:
    path = run / AUDIT_FILE
    write_log(path, read_log(path)[:6])
    code, output = audit("verify", path)
    assert code == 1
    assert "audit.jsonl: truncated: an anchor covers 8 entries, the log holds 6" in output


def test_a_rewrite_with_its_anchors_file_is_caught_by_the_notary_and_the_ledger(
    run: Path, server: LedgerServer
) -> None:
    """A forger who rewrites the log and the anchors file beside it cannot sign the forged
    anchors with the notary's key, nor rewrite the anchors on the ledger."""
    path = run / AUDIT_FILE
    forged = rechain(read_log(path), 5, "nothing happened")
    write_log(path, forged)
    original = read_anchors(run / ANCHORS_FILE)
    anchors = tuple(replace(a, head=forged[a.count - 1].hash) for a in original.anchors)
    write_anchors(run / ANCHORS_FILE, replace(original, anchors=anchors))
    code, output = audit("verify", path)
    assert code == 1, output
    assert "anchors[1] (count 8): the notary's signature does not hold" in output
    code, output = audit("verify", path, "--ledger", server.url)
    assert code == 1
    assert "audit.jsonl:5: entry seq 4: rewritten: the first 8 entries do not end" in output
    assert "1 of 3 confirmed" in output


def test_an_explicit_anchors_file_is_used(run: Path, tmp_path: Path) -> None:
    moved = shutil.move(run / ANCHORS_FILE, tmp_path / "elsewhere.json")
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 1 and "no anchors file" in output
    code, output = audit("verify", run / AUDIT_FILE, "--anchors", moved)
    assert code == 0 and "3 of 3 confirmed" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "{run}/missing.jsonl"), "missing.jsonl: cannot read file: No such file"),
        (("verify", "{log}", "--anchors", "{run}/none.json"), "none.json: cannot read file"),
        (("verify", "{log}", "--ledger", "ftp://x"), "--ledger ftp://x: ledger URL must be"),
        (("verify", "{log}", "--ledger", "http://127.0.0.1:{port}"), "unavailable"),
        (
            ("verify", "{log}", "--trusted-key", "{run}/none.pem"),
            "--trusted-key: {run}/none.pem: cannot",
        ),
        (("verify", "{log}", "--trusted-key", "ab", "--ledger", "http://x"), "drop --trusted-key"),
        (("verify", "{log}", "--trusted-key", "ab", "--no-anchors"), "alone: drop --trusted-key"),
        (("show", "{run}/missing.jsonl"), "missing.jsonl: cannot read file"),
    ],
)
def test_bad_input_exits_2_with_one_line(run: Path, args: tuple[str, ...], message: str) -> None:
    values = {"run": run, "log": run / AUDIT_FILE, "port": free_port()}
    code, output = audit(*(a.format(**values) for a in args))
    assert code == 2
    assert message.format(**values) in output


def test_ledger_without_an_anchors_file_exits_1(run: Path, server: LedgerServer) -> None:
    (run / ANCHORS_FILE).unlink()
    code, output = audit("verify", run / AUDIT_FILE, "--ledger", server.url)
    assert code == 1 and "--ledger needs it" in output


def test_an_anchors_file_without_anchors_is_not_intact(run: Path) -> None:
    original = read_anchors(run / ANCHORS_FILE)
    write_anchors(run / ANCHORS_FILE, replace(original, anchors=()))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 1 and "holds no anchors" in output and "intact" not in output


def test_entries_after_the_last_anchor_on_the_ledger_are_named(
    server: LedgerServer, tmp_path: Path
) -> None:
    """A log still being written: the ledger holds anchors at 4 and 8 of its 10 entries."""
    client = server.connect().deploy_audit_anchor()
    with AuditLog(tmp_path / AUDIT_FILE) as log:
        anchorer = Anchorer(
            log, client, audit_log_id("running"), every=4, path=tmp_path / ANCHORS_FILE
        )
        for i in range(10):
            log.append(float(i), "ClosedLoop", "alert", f"alert {i}")
    assert [a.count for a in anchorer.anchors] == [4, 8]
    code, output = audit("verify", tmp_path / AUDIT_FILE, "--ledger", server.url)
    assert code == 0 and "intact (entries 8 to 9 after the last anchor)" in output


def test_a_log_cut_with_its_last_anchors_is_not_sealed(run: Path) -> None:
    write_log(run / AUDIT_FILE, read_log(run / AUDIT_FILE)[:8])
    original = read_anchors(run / ANCHORS_FILE)
    write_anchors(run / ANCHORS_FILE, replace(original, anchors=original.anchors[:2]))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 1 and "the notary never sealed the log" in output


def test_unsigned_anchors_are_left_out_and_said_so(run: Path) -> None:
    original = read_anchors(run / ANCHORS_FILE)
    first = replace(original.anchors[0], notary=None)
    write_anchors(run / ANCHORS_FILE, replace(original, anchors=(first, *original.anchors[1:])))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 0, output
    assert "2 of 2 confirmed" in output and "1 unsigned left out" in output


def test_another_pinned_notary_key_fails_and_a_named_one_is_used(run: Path, home: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    code, output = audit("verify", run / AUDIT_FILE, "--trusted-key", public_key_hex(other))
    assert code == 1 and "signature does not hold" in output and "the pinned one is" in output
    key = (home / NOTARY_PUBLIC_FILE).read_text().strip()
    code, output = audit("verify", run / AUDIT_FILE, "--trusted-key", key)
    assert code == 0, output


def test_without_a_usable_notary_key_exits_2(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "empty"))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 2, output
    assert "no notary public key" in output and "--trusted-key KEY" in output
    writable = tmp_path / "writable"
    writable.mkdir()
    (writable / NOTARY_PUBLIC_FILE).write_text("ab" * 32)
    (writable / NOTARY_PUBLIC_FILE).chmod(0o666)
    monkeypatch.setenv("SECMAS_HOME", str(writable))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 2 and "is writable by others (mode 666)" in output


def test_malformed_files_exit_2_naming_file_and_line(run: Path) -> None:
    path = run / AUDIT_FILE
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:-1]
    path.write_text("\n".join(lines) + "\n")
    for command in ("verify", "show"):
        code, output = audit(command, path)
        assert code == 2
        assert "audit.jsonl:3: not JSON" in output


def test_a_malformed_anchors_file_exits_2(run: Path) -> None:
    (run / ANCHORS_FILE).write_text(json.dumps({"format": "x"}))
    code, output = audit("verify", run / AUDIT_FILE)
    assert code == 2 and "audit-anchors.json: not an anchors file" in output


def test_show_lists_entries_and_shortens_explanations(tmp_path: Path) -> None:
    path = tmp_path / AUDIT_FILE
    with AuditLog(path) as log:
        log.append(1.25, "ClosedLoop", "alert", "HTTP flood on cnf-1 " + "x" * 200)
        log.append(2.5, "pop3", "reject_packet", "source 10.9.0.1 not in whitelist")
        log.append(3.0, "SSLAAssessor", "revoke", "[red]not markup[/]")
    code, output = audit("show", path)
    assert code == 0, output
    assert "3 of 3 entries (unverified)" in output
    assert "1.250" in output and "ClosedLoop" in output and "x…" in output
    assert "[red]not markup[/]" in output
    code, output = audit("show", path, "--last", "1")
    assert code == 0 and "1 of 3 entries" in output
    assert "SSLAAssessor" in output and "pop3" not in output
    code, output = audit("show", path, "--last", "0")
    assert code == 2


def test_audit_is_a_secmas_command() -> None:
    from secmas.cli.main import app as secmas

    result = runner.invoke(secmas, ["audit", "--help"])
    assert result.exit_code == 0 and "verify" in result.output and "show" in result.output
