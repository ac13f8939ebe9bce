"""Ed25519 keys for SECaaS: the signing key in a PEM file, trusted public keys from PEM or hex.

The default signing key lives at `$SECMAS_HOME/secaas-ed25519.pem` (`SECMAS_HOME` defaults to
`~/.secmas`) and is generated on first use, readable by its owner only.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "secaas-ed25519.pem"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_KEY_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm)


class KeyFileError(Exception):
    """A key that cannot be read, written or parsed."""


def secmas_home() -> Path:
    """`$SECMAS_HOME`, or `~/.secmas`."""
    return Path(os.environ.get("SECMAS_HOME") or "~/.secmas").expanduser()


def default_key_path() -> Path:
    return secmas_home() / KEY_FILE


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An unencrypted Ed25519 private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except _KEY_ERRORS as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PKCS#8 PEM with mode 0600; an existing file is never overwritten."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole under a name of this process's, then linked in: a concurrent first use
    # either wins or finds the complete file, never a half-written one.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.link(partial, path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The key at `path` (default: the SECaaS key), generated there if there is none yet."""
    path = path or default_key_path()
    if not path.exists():
        try:
            save_private_key(Ed25519PrivateKey.generate(), path)
        except KeyFileError:
            if not path.exists():  # not lost to a concurrent first use
                raise
    return load_private_key(path)


def load_public_key(spec: str) -> Ed25519PublicKey:
    """A trusted public key: 64 hex characters, or a PEM file with a public or private key."""
    if _HEX_KEY.fullmatch(spec):
        try:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(spec))
        except ValueError as exc:
            raise KeyFileError(f"{spec}: not an Ed25519 public key: {exc}") from exc
    path = Path(spec)
    data = _read(path)
    try:
        key = (
            serialization.load_pem_private_key(data, password=None).public_key()
            if b"PRIVATE KEY" in data
            else serialization.load_pem_public_key(data)
        )
    except _KEY_ERRORS as exc:
        raise KeyFileError(f"{path}: neither 64 hex digits nor a PEM key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte key in hex, as manifests carry it."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def check_private(path: Path, *, secret: bool = False, root_too: bool = False) -> None:
    """Refuse a file or folder of the user's trust (a key, a store of measured files) that
    is a link, another user's, writable by others or, for a `secret` file, readable by
    them: whoever can write it can speak for its owner. With `root_too`, root's is the
    user's too (root can already write whatever the user runs). A missing path passes (it
    is made on first use). Raises OSError naming the path and what is wrong."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OSError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(status.st_mode):
        raise PermissionError(f"{path} is a symbolic link")
    if status.st_uid != os.geteuid() and not (root_too and status.st_uid == 0):
        raise PermissionError(f"{path} belongs to uid {status.st_uid}, not to you")
    forbidden = stat.S_IWGRP | stat.S_IWOTH
    if secret and not stat.S_ISDIR(status.st_mode):
        forbidden |= stat.S_IRGRP | stat.S_IROTH
    if status.st_mode & forbidden:
        mode = stat.S_IMODE(status.st_mode)
        whom = "readable or writable" if secret else "writable"
        raise PermissionError(f"{path} is {whom} by others (mode {mode:o}): chmod go-rwx it")
