"""The audit notary: a separate process signs anchors with a key kept private under
$SECMAS_HOME, only upwards and nothing after the seal; signatures hold under the pinned key
only, and over every field of the statement."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.ledger import connect
from secmas.ledger.anchor import AuditAnchorClient
from secmas.policy.audit import Anchorer, AuditLog, audit_log_id, read_anchors
from secmas.policy.notary import (
    NOTARY_KEY_FILE,
    NOTARY_PUBLIC_FILE,
    NotaryError,
    NotaryProcess,
    check_anchors,
    notary_key_path,
    pinned_key,
)
from secmas.trust.keys import public_key_hex

LOG_ID = audit_log_id("notarised")


@pytest.fixture(scope="module")
def anchor_client() -> AuditAnchorClient:
    return connect(None).deploy_audit_anchor()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("SECMAS_HOME", str(folder))
    return folder


@pytest.fixture
def notary(home: Path) -> Iterator[NotaryProcess]:
    process = NotaryProcess.start()
    yield process
    process.close()


def sign(notary: NotaryProcess, count: int, *, final: bool = False) -> Any:
    return notary.sign(LOG_ID, "memory", "0x" + "12" * 20, count, "ab" * 32, 1.0, final)


def notarised_log(
    client: AuditAnchorClient, folder: Path, name: str, entries: int = 7
) -> tuple[AuditLog, Path]:
    """A log of `entries` anchored every 3 and sealed by the user's notary, with its file."""
    path = folder / "audit-anchors.json"
    log = AuditLog()
    anchorer = Anchorer(
        log, client, audit_log_id(name), every=3, path=path, notary=NotaryProcess.start()
    )
    for i in range(entries):
        log.append(float(i), "SSLAAssessor", "breach", f"breach {i}")
    anchorer.close()
    return log, path


def test_the_key_is_made_once_private_with_its_public_key_beside(
    home: Path, notary: NotaryProcess
) -> None:
    sign(notary, 1)
    assert notary.process.pid != os.getpid()
    key_file = home / NOTARY_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file == notary_key_path()
    assert (home / NOTARY_PUBLIC_FILE).read_text().strip() == notary.key
    again = NotaryProcess.start()
    try:
        sign(again, 1)
        assert again.key == notary.key
    finally:
        again.close()


def test_anchors_are_signed_and_the_last_seals_the_log(
    home: Path, anchor_client: AuditAnchorClient, tmp_path: Path
) -> None:
    log, path = notarised_log(anchor_client, tmp_path, "sealed")
    anchors = read_anchors(path)
    assert [(a.count, a.notary is not None and a.notary.final) for a in anchors.anchors] == [
        (3, False),
        (6, False),
        (7, True),
    ]
    found = check_anchors(anchors, pinned_key(None))
    assert found.points == anchors.points() and found.sealed == 7 == len(log)
    assert anchors.notary_key == public_key_hex(pinned_key(None))
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(NotaryError, match=r"anchors\[0\] \(count 3\): .* does not hold.*pinned"):
        check_anchors(anchors, other)


def test_close_seals_a_log_anchored_at_its_last_entry(
    home: Path, anchor_client: AuditAnchorClient, tmp_path: Path
) -> None:
    _log, path = notarised_log(anchor_client, tmp_path, "exact", entries=6)
    anchors = read_anchors(path).anchors
    assert [a.count for a in anchors] == [3, 6] and anchors[-1].notary is not None
    assert anchors[-1].notary.final and not anchors[0].notary.final  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("chain", "http://127.0.0.1:8545"),
        ("contract", "0x" + "34" * 20),
        ("log_id", "0x" + "00" * 32),
        ("notary.signed_at", "2020-01-01T00:00:00.000Z"),
        ("notary.final", False),
        ("anchors.time", 99.0),
        ("anchors.count", 8),
    ],
)
def test_the_signature_covers_every_field_of_the_statement(
    home: Path, anchor_client: AuditAnchorClient, tmp_path: Path, field: str, value: Any
) -> None:
    _log, path = notarised_log(anchor_client, tmp_path, f"field-{field}")
    data = json.loads(path.read_text())
    last = data["anchors"][-1]
    if field.startswith("notary."):
        last["notary"][field.split(".")[1]] = value
    elif field.startswith("anchors."):
        last[field.split(".")[1]] = value
    else:
        data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(NotaryError, match=r"anchors\[\d\] .*does not hold"):
        check_anchors(read_anchors(path), pinned_key(None))


def test_the_notary_signs_counts_only_upwards_and_nothing_after_the_seal(
    notary: NotaryProcess,
) -> None:
    sign(notary, 3)
    with pytest.raises(NotaryError, match=r"refused: .*count 2 does not grow past 3"):
        sign(notary, 2)
    assert sign(notary, 3, final=True).final  # sealing the anchored head
    with pytest.raises(NotaryError, match=r"refused: .*sealed at 3 entries"):
        sign(notary, 4)
    notary.close()
    with pytest.raises(NotaryError, match="the notary was closed"):
        sign(notary, 5)


def test_unsigned_anchors_prove_nothing_and_are_left_out(
    home: Path, anchor_client: AuditAnchorClient, tmp_path: Path
) -> None:
    """A notary whose key is not a key refuses; the ledger's anchors go on, unsigned, the
    failures are kept, and the file does not verify as sealed."""
    (home / NOTARY_KEY_FILE).write_text("not a key\n")
    (home / NOTARY_KEY_FILE).chmod(0o600)
    path = tmp_path / "audit-anchors.json"
    log = AuditLog()
    anchorer = Anchorer(
        log, anchor_client, LOG_ID, every=2, path=path, notary=NotaryProcess.start()
    )
    for i in range(4):
        log.append(float(i), "ClosedLoop", "alert", "a")
    assert [a.count for a in anchorer.anchors] == [2, 4]
    assert all(a.notary is None for a in anchorer.anchors)
    assert len(anchorer.failures) == 2 and "not an unencrypted PEM" in anchorer.failures[0]
    anchorer.close()
    assert anchorer.failures[-1].startswith("seal: the notary refused")
    assert anchorer.notary is not None and anchorer.notary.process.wait(5.0) == 2
    with pytest.raises(NotaryError, match="never sealed"):
        check_anchors(read_anchors(path), Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    ("target", "mode", "reason"),
    [
        ("home", 0o777, "home is writable by others"),
        ("key", 0o640, "readable or writable by others"),
        ("key", 0o606, "readable or writable by others"),
    ],
)
def test_a_key_others_may_read_or_write_is_refused(
    home: Path, notary: NotaryProcess, target: str, mode: int, reason: str
) -> None:
    sign(notary, 1)
    (home if target == "home" else home / NOTARY_KEY_FILE).chmod(mode)
    with pytest.raises(NotaryError, match=reason):
        NotaryProcess.start()


def test_a_linked_key_is_refused(home: Path, tmp_path: Path) -> None:
    (home / NOTARY_KEY_FILE).symlink_to(tmp_path / "elsewhere.pem")
    with pytest.raises(NotaryError, match="is a symbolic link"):
        NotaryProcess.start()


def test_the_pinned_key_is_the_users_own_or_the_one_named(
    home: Path, notary: NotaryProcess
) -> None:
    with pytest.raises(NotaryError, match=r"no notary public key .*--trusted-key KEY"):
        pinned_key(None)
    sign(notary, 1)
    assert public_key_hex(pinned_key(None)) == notary.key
    assert public_key_hex(pinned_key(notary.key)) == notary.key
    (home / NOTARY_PUBLIC_FILE).chmod(0o666)
    with pytest.raises(NotaryError, match="writable by others"):
        pinned_key(None)
    with pytest.raises(NotaryError, match="nope: cannot read"):
        pinned_key("nope")


def test_a_notary_that_died_is_a_notary_error(notary: NotaryProcess) -> None:
    sign(notary, 1)
    notary.process.kill()
    notary.process.wait()
    with pytest.raises(NotaryError, match=r"the notary (is gone|exited)"):
        sign(notary, 2)
