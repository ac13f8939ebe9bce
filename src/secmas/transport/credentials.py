"""Who may use the NATS bus, and for what: per-client nkeys and subject permissions.

Each client of a run (the MLFO and every agent) gets its own NATS nkey, an Ed25519 key
pair in NATS's encoding (PyPI `nkeys`): the server knows only the public key (`U…`) and
the client proves it holds the seed by signing the server's nonce. The seed is written
to a file readable by its owner only and handed over by path, never on a command line.

A `NatsUser` binds a public key to `Permissions`: the subjects it may publish and
subscribe to (allow lists, deny lists win). nats-server enforces them for every message,
so a client that holds agent A's key can neither publish as B nor read what is for B.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from secmas.transport.tls import write_secret

SEED_SUFFIX = ".nk"


class CredentialError(ValueError):
    """A seed file that cannot be used: missing, open to others, or not an nkey seed."""


@dataclass(frozen=True)
class Permissions:
    """Subjects a client may publish to and subscribe to (NATS wildcards allowed)."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    deny_publish: tuple[str, ...] = ()
    deny_subscribe: tuple[str, ...] = ()


@dataclass(frozen=True)
class NatsUser:
    """One client as the server's `authorization` block lists it."""

    name: str
    nkey: str
    """The public user key, `U…`."""
    permissions: Permissions | None = None
    """None: every subject (the run's driver)."""
    seed_file: Path | None = field(default=None, compare=False)
    """Where the client's seed is (on the machine that made it)."""


def new_seed() -> bytes:
    """A fresh user seed, `SU…` (32 random bytes from the OS)."""
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


def public_key(seed: bytes) -> str:
    """The `U…` public key of a user seed; CredentialError when it is not one."""
    try:
        pair = nkeys.from_seed(bytearray(seed.strip()))
    except (nkeys.NkeysError, ValueError, TypeError) as exc:
        raise CredentialError(f"not an nkey seed: {type(exc).__name__}") from None
    try:
        key = pair.public_key.decode()
    finally:
        pair.wipe()
    if not key.startswith("U"):
        raise CredentialError("the seed is not a user key (its public key must start with U)")
    return key


def read_seed(path: Path) -> bytes:
    """A seed file's content, checked: present, a regular file, not readable or writable
    by group or others (as ssh checks its keys), a user nkey seed."""
    try:
        info = path.stat()
    except OSError as exc:
        raise CredentialError(f"seed file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CredentialError(f"seed file {path}: not a regular file")
    if info.st_mode & 0o077:
        raise CredentialError(
            f"seed file {path} is open to other users (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"chmod 600 {path}"
        )
    try:
        seed = path.read_bytes().strip()
    except OSError as exc:
        raise CredentialError(f"seed file {path}: {exc.strerror}") from None
    try:
        public_key(seed)
    except CredentialError as exc:
        raise CredentialError(f"seed file {path}: {exc}") from None
    return seed


def issue_users(folder: Path, names: Iterable[str]) -> dict[str, NatsUser]:
    """A new key per name, its seed in `folder/<name>.nk` (mode 0600), no permissions yet;
    `folder` is created owner-only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    users: dict[str, NatsUser] = {}
    for name in names:
        seed = new_seed()
        seed_file = folder / f"{name}{SEED_SUFFIX}"
        write_secret(seed_file, seed + b"\n")
        users[name] = NatsUser(name, public_key(seed), seed_file=seed_file)
    return users


def seed_file_of(folder: Path, name: str) -> Path:
    """Where `issue_users` (or an operator) keeps `name`'s seed in `folder`."""
    return folder / f"{name}{SEED_SUFFIX}"
