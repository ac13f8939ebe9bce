"""Key files of the MLFO and SECaaS (`secmas.ledger.keyfile`): a good file gives its
account; every bad one is refused naming the file, where it was named and the problem.
A served ledger's token file and access folder likewise."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.ledger.accounts import Account
from secmas.ledger.keyfile import (
    ACCESS_FILES,
    MLFO_KEY_ENV,
    SECAAS_KEY_ENV,
    KeyFileError,
    ledger_keys,
    new_token,
    read_access,
    read_key_file,
    read_token_file,
)
from secmas.ledger.transactions import SECP256K1_N

KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def key_file(folder: Path, text: str, mode: int = 0o600, name: str = "k.key") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@given(st.integers(1, SECP256K1_N - 1), st.sampled_from(["", "0x"]), st.sampled_from(["", "\n"]))
def test_a_good_key_file_gives_its_account(number: int, prefix: str, end: str) -> None:
    key = number.to_bytes(32, "big")
    with tempfile.TemporaryDirectory() as folder:
        path = key_file(Path(folder), prefix + key.hex() + end)
        assert read_key_file(path).address == Account.from_key(key).address


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        (KEY, 0o644, "a private key open to others (mode 0644); chmod 600"),
        (KEY, 0o640, "open to others (mode 0640)"),
        ("not a key\n", 0o600, "not a key (expected 64 hex digits"),
        (KEY[:-2], 0o600, "not a key (expected 64 hex digits"),
        (KEY + "00", 0o600, "not a key (expected 64 hex digits"),
        ("0" * 64, 0o600, "not a key (zero or beyond the secp256k1 order)"),
        (f"{SECP256K1_N:064x}", 0o600, "not a key (zero or beyond the secp256k1 order)"),
        ("é" * 32, 0o600, "not a key"),
        ("a" * 5000, 0o600, "not a key"),
    ],
)
def test_a_bad_key_file_is_refused_naming_it(
    tmp_path: Path, text: str, mode: int, says: str
) -> None:
    path = key_file(tmp_path, text, mode)
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert says in str(refused.value)


def test_a_missing_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such file"):
        read_key_file(tmp_path / "absent.key")
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_key_file(tmp_path)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file of mode 000")
    with pytest.raises(KeyFileError, match="cannot read it"):
        read_key_file(key_file(tmp_path, KEY, 0o200))


def test_options_win_over_the_environment_which_names_the_file(tmp_path: Path) -> None:
    mlfo = key_file(tmp_path, KEY, name="mlfo.key")
    other = key_file(tmp_path, f"{2:064x}", name="other.key")
    environ = {MLFO_KEY_ENV: str(other), SECAAS_KEY_ENV: str(other)}
    keys = ledger_keys(mlfo, None, environ)
    assert keys.mlfo == Account.from_key(KEY)
    assert keys.secaas == Account.from_key(f"{2:064x}")
    assert ledger_keys(None, None, {}).given is False


def test_a_bad_file_says_which_option_or_variable_named_it(tmp_path: Path) -> None:
    open_key = key_file(tmp_path, KEY, 0o644)
    with pytest.raises(KeyFileError, match=rf"^--secaas-key: {open_key}: a private key open"):
        ledger_keys(None, open_key, {})
    with pytest.raises(KeyFileError, match=rf"^{MLFO_KEY_ENV}: {tmp_path}/gone: no such file"):
        ledger_keys(None, None, {MLFO_KEY_ENV: str(tmp_path / "gone")})


def test_a_token_file_gives_its_one_line() -> None:
    token = new_token()
    with tempfile.TemporaryDirectory() as folder:
        assert read_token_file(key_file(Path(folder), f"{token}\n")) == token


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        ("", 0o600, "not a token"),
        ("two words\n", 0o600, "not a token"),
        ("x" * 5000, 0o600, "not a token"),
        ("abc\n", 0o640, "a private token open to others (mode 0640)"),
    ],
    ids=["empty", "spaces", "too-long", "group-readable"],
)
def test_a_bad_token_file_is_refused_naming_it(text: str, mode: int, says: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = key_file(Path(folder), text, mode)
        with pytest.raises(KeyFileError, match=rf"^{path}: {re.escape(says)}"):
            read_token_file(path)


def test_an_access_folder_gives_both_accounts_and_the_token(tmp_path: Path) -> None:
    token, other = new_token(), Account.create().key_hex
    for name, text in zip(ACCESS_FILES, (KEY, other, token), strict=True):
        key_file(tmp_path, text, name=name)
    access = read_access(tmp_path)
    assert access.keys.mlfo == Account.from_key(KEY) and access.token == token
    assert access.keys.secaas == Account.from_key(other)
    (tmp_path / "token").unlink()
    with pytest.raises(KeyFileError, match=rf"^{tmp_path}/token: no such file"):
        read_access(tmp_path)
