"""SECaaS keys: the default key made once with owner-only permissions, trusted keys parsed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.keys import (
    KeyFileError,
    default_key_path,
    load_private_key,
    load_public_key,
    public_key_hex,
    save_private_key,
    signing_key,
)


def test_default_key_is_created_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    path = default_key_path()
    assert path == tmp_path / "home" / "secaas-ed25519.pem"
    first = signing_key()
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_hex(signing_key().public_key()) == public_key_hex(first.public_key())


def test_home_defaults_to_dot_secmas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECMAS_HOME", raising=False)
    assert default_key_path() == Path.home() / ".secmas" / "secaas-ed25519.pem"


def test_trusted_key_from_hex_or_pem(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    expected = public_key_hex(signer.public_key())
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    save_private_key(signer, private)
    public.write_bytes(
        signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for spec in (expected, str(private), str(public)):
        assert public_key_hex(load_public_key(spec)) == expected
    assert public_key_hex(load_private_key(private).public_key()) == expected


def test_bad_keys(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    garbage, text = tmp_path / "garbage.pem", tmp_path / "text.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    text.write_text("hello")
    with pytest.raises(KeyFileError, match=r"garbage\.pem"):
        load_private_key(garbage)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_public_key(str(tmp_path / "absent.pem"))
    with pytest.raises(KeyFileError, match="neither 64 hex digits nor a PEM key"):
        load_public_key(str(text))
    save_private_key(signer, tmp_path / "k.pem")
    with pytest.raises(KeyFileError, match="cannot create"):
        save_private_key(signer, tmp_path / "k.pem")  # never overwritten
