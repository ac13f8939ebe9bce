"""The SQLite reference repository: signed manifests in, the same manifests out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.manifest import ReferenceManifest, sign
from secmas.trust.repository import ReferenceExists, ReferenceRepository, RepositoryError


def _manifest(key: Ed25519PrivateKey, version: str, created: str) -> ReferenceManifest:
    unsigned = ReferenceManifest(
        kind="python",
        image="agent",
        version=version,
        created=created,
        entries={"agent": "a" * 64},
        root="b" * 64,
    )
    return sign(unsigned, key)


def test_put_get_list_latest(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    first = _manifest(signer, "1.0", "2026-01-01T00:00:00+00:00")
    second = _manifest(signer, "1.1", "2026-02-01T00:00:00Z")
    with ReferenceRepository(tmp_path / "refs.db", trusted_keys=[signer.public_key()]) as repo:
        repo.put(second)
        repo.put(first)
    with ReferenceRepository(tmp_path / "refs.db") as repo:  # reopened from the file
        assert repo.get("agent", "1.0") == first
        assert repo.get("agent", "2.0") is None and repo.get_latest("other") is None
        assert repo.get_latest("agent") == second
        assert [r.version for r in repo.list("agent")] == ["1.0", "1.1"]
        assert repo.list()[0].root == "b" * 64


def test_replacing_must_be_asked_for(signer: Ed25519PrivateKey) -> None:
    repo = ReferenceRepository()
    repo.put(_manifest(signer, "1.0", "2026-01-01T00:00:00+00:00"))
    newer = _manifest(signer, "1.0", "2026-03-01T00:00:00+00:00")
    with pytest.raises(ReferenceExists, match=r"already holds agent 1\.0"):
        repo.put(newer)
    repo.put(newer, replace=True)
    assert repo.get("agent", "1.0") == newer


def test_unsigned_tampered_and_untrusted_manifests_are_refused(
    signer: Ed25519PrivateKey,
) -> None:
    good = _manifest(signer, "1.0", "2026-01-01T00:00:00+00:00")
    repo = ReferenceRepository(trusted_keys=[signer.public_key()])
    with pytest.raises(RepositoryError, match="bad or missing signature"):
        repo.put(good.model_copy(update={"signature": None}))
    with pytest.raises(RepositoryError, match="bad or missing signature"):
        repo.put(good.model_copy(update={"root": "c" * 64}))
    stranger = _manifest(Ed25519PrivateKey.generate(), "1.0", "2026-01-01T00:00:00+00:00")
    with pytest.raises(RepositoryError, match="untrusted key"):
        repo.put(stranger)
    assert repo.list() == []


def test_a_row_edited_in_the_file_is_refused(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    path = tmp_path / "refs.db"
    with ReferenceRepository(path) as repo:
        repo.put(_manifest(signer, "1.0", "2026-01-01T00:00:00+00:00"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE manifests SET document = replace(document, 'bbbb', 'cccc')")
    db.close()
    with ReferenceRepository(path) as repo, pytest.raises(RepositoryError, match="signature"):
        repo.get("agent", "1.0")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "refs.db"
    path.write_text("not sqlite " * 100)
    with pytest.raises(RepositoryError, match="cannot open the repository"):
        ReferenceRepository(path)
