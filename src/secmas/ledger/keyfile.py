"""The MLFO's and SECaaS's ledger keys from files: a real chain's
accounts are the operator's, not the node's unlocked ones; and a served ledger's bearer
token from a file, for a process that may not get it in its environment (a pod).

A key file holds one secp256k1 private key as 64 hex digits (an optional 0x, surrounding
white space allowed), readable by its owner only, as ssh asks of a private key. Each key
is named by a command-line option or, without it, by an environment variable holding the
file's path:

    keys = ledger_keys(Path("mlfo.key"), None, os.environ)   # SECMAS_SECAAS_KEY, if set
    keys.mlfo.address

A token file holds the token on one line (`new_token`'s URL-safe characters), readable
by its owner only like a key. A served ledger's access folder (`read_access`) holds
both keys and its token: `mlfo.key`, `secaas.key`, `token` (`ACCESS_FILES`).

Every refusal (`KeyFileError`) names where the key was named, the file and what is wrong.
"""

from __future__ import annotations

import secrets
import stat
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from secmas.ledger.accounts import Account

MLFO_KEY_ENV = "SECMAS_MLFO_KEY"
SECAAS_KEY_ENV = "SECMAS_SECAAS_KEY"
_HEX_DIGITS = 64
_MAX_FILE_BYTES = 4096
"""A key file is a line; anything longer is not one (and is not read whole)."""
TOKEN_BYTES = 32
"""A bearer token's randomness (256 bits)."""
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")
ACCESS_FILES = ("mlfo.key", "secaas.key", "token")
"""A served ledger's access folder: the MLFO's and SECaaS's keys and its bearer token."""


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names it and the problem."""


def read_key_file(path: Path) -> Account:
    """The account of the key in `path`; KeyFileError if it is missing, unreadable, not a
    regular file, readable by group or others, or not one valid key."""
    return Account.from_key(_key_hex(_private(path, "key"), path))


def read_token_file(path: Path) -> str:
    """The bearer token in `path`; KeyFileError as for a key file, or if it holds no
    token."""
    return token_of(_private(path, "token"), path)


def _private(path: Path, what: str) -> bytes:
    """The start of the owner-only regular file `path` (one byte past the most a key or
    token file holds)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{path}: not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        raise KeyFileError(
            f"{path}: a private {what} open to others (mode {mode:04o}); chmod 600 {path}"
        )
    try:
        with path.open("rb") as file:
            return file.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read it ({exc.strerror})") from None


def new_token() -> str:
    """A fresh random bearer token for a served ledger."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_of(raw: bytes, where: Path | str) -> str:
    """The token a token file's content `raw` holds; KeyFileError naming `where`."""
    text = raw.decode("ascii", "replace").strip() if len(raw) <= _MAX_FILE_BYTES else ""
    if not text or not set(text) <= _TOKEN_CHARACTERS:
        raise KeyFileError(f"{where}: not a token (expected one line of A-Z a-z 0-9 - _)")
    return text


def _key_hex(raw: bytes, path: Path | str) -> str:
    """The 64 hex digits of a key file's content, checked."""
    malformed = f"{path}: not a key (expected 64 hex digits of a secp256k1 private key)"
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyFileError(malformed)
    try:
        text = raw.decode("ascii").strip().removeprefix("0x")
    except UnicodeDecodeError:
        raise KeyFileError(malformed) from None
    if len(text) != _HEX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise KeyFileError(malformed)
    try:
        Account.from_key(text)
    except ValueError:
        raise KeyFileError(f"{path}: not a key (zero or beyond the secp256k1 order)") from None
    return text


@dataclass(frozen=True, slots=True)
class LedgerKeys:
    """The MLFO's and SECaaS's accounts; None: the ledger's default (the in-process
    chain's funded random keys, a node's unlocked accounts)."""

    mlfo: Account | None = None
    secaas: Account | None = None

    @property
    def given(self) -> bool:
        return self.mlfo is not None or self.secaas is not None

    def hex(self) -> tuple[str | None, str | None]:
        """Both keys as hex, for `secmas.ledger.connection.connect`."""
        mlfo, secaas = self.mlfo, self.secaas
        return (None if mlfo is None else mlfo.key_hex, None if secaas is None else secaas.key_hex)


LEDGER_OWN = LedgerKeys()
"""No keys given: the ledger's own accounts."""


def _named(
    option: Path | None, flag: str, variable: str, environ: Mapping[str, str]
) -> Account | None:
    """The account of the file `option` names, else of the file `variable` names."""
    if option is not None:
        where, path = flag, option
    elif environ.get(variable):
        where, path = variable, Path(environ[variable])
    else:
        return None
    try:
        return read_key_file(path)
    except KeyFileError as exc:
        raise KeyFileError(f"{where}: {exc}") from None


def ledger_keys(mlfo: Path | None, secaas: Path | None, environ: Mapping[str, str]) -> LedgerKeys:
    """The keys the options name, each else the one its environment variable names
    (`MLFO_KEY_ENV`, `SECAAS_KEY_ENV`)."""
    return LedgerKeys(
        _named(mlfo, "--mlfo-key", MLFO_KEY_ENV, environ),
        _named(secaas, "--secaas-key", SECAAS_KEY_ENV, environ),
    )


@dataclass(frozen=True, slots=True)
class LedgerAccess:
    """What a client needs of a served ledger whose keys and token were drawn for it."""

    keys: LedgerKeys
    token: str = field(repr=False)


def access_of(files: Mapping[str, bytes], where: Path | str) -> LedgerAccess:
    """The access the contents of `ACCESS_FILES` give (`files`, by name); KeyFileError
    naming `where`/the file that is missing or wrong."""
    missing = [name for name in ACCESS_FILES if name not in files]
    if missing:
        raise KeyFileError(f"{where}: no {', '.join(missing)}")
    mlfo, secaas, token = (files[name] for name in ACCESS_FILES)
    return LedgerAccess(
        LedgerKeys(
            Account.from_key(_key_hex(mlfo, f"{where}/mlfo.key")),
            Account.from_key(_key_hex(secaas, f"{where}/secaas.key")),
        ),
        token_of(token, f"{where}/token"),
    )


def read_access(folder: Path) -> LedgerAccess:
    """The access folder `folder` (module docstring); KeyFileError naming the file."""
    mlfo, secaas, token = (folder / name for name in ACCESS_FILES)
    return LedgerAccess(
        LedgerKeys(read_key_file(mlfo), read_key_file(secaas)), read_token_file(token)
    )
