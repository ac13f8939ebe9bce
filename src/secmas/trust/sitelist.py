"""The platform allow-list: site-packages file by file, by digest, read once and signed
(references made once, off the host).

`KnownCode` (which code may stand where genuine code is expected) and SECaaS's platform
reference (the shared objects an agent may map, the `.pth` start-up hooks its install may
hold) know site-packages only file by file, by the SHA-256 its distributions' RECORD
files declare (`secmas.trust.libraries`). Read from the host at each run's start, those
RECORDs vouched for whatever was installed then: an implant written into site-packages
together with a matching edit of its distribution's RECORD passed, and every process paid
0.1–0.9 s reading them. So they are read once, when the release reference is made
(`secmas wrap --release`, `./scripts/setup`, or a run's first use:
`secmas.trust.release`), into this allow-list of the install (`sys.prefix`): its Python
modules, shared objects and `.pth` files, signed by the SECaaS key (`secmas.trust.keys`)
and kept in the release store beside the package reference. Every process after takes
it (`held`) instead of the RECORDs:
- handed to it: an agent process that a launcher starts, maybe as a user that cannot
  read `$SECMAS_HOME`, gets a copy in its seat named by `SECMAS_PLATFORM`, as it gets its
  enrolment credential (`secmas.pipeline.iml`); the handover is its anchor, as for the
  keys the credential names, and the signature shows the copy whole;
- else from the release store, checked under the SECaaS key (in-process runs, the driver
  signing the platform reference, an agent started by hand), made there on first use.
A file of site-packages the list does not name, or whose digest differs, is not known.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.trust.compiled import FileVersion
from secmas.trust.keys import KeyFileError, public_key_hex, secmas_home, signing_key
from secmas.trust.libraries import (
    LibraryIndex,
    is_path_hook,
    is_python_module,
    is_shared_object,
    site_dirs,
)
from secmas.trust.signed import SignedDocument

RELEASES_ENV = "SECMAS_RELEASES"
RELEASES_FILE = "releases.db"
PLATFORM_ENV = "SECMAS_PLATFORM"
"""Names the file of a handed allow-list (an agent's seat)."""
LIST_FORMAT = "secmas.platform-allowlist/1"
_DOMAIN = b"secmas/platform-allowlist/1\x00"
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_SCHEMA = "CREATE TABLE IF NOT EXISTS platforms (install TEXT PRIMARY KEY, document TEXT NOT NULL)"
_SIGN_AGAIN = "sign it again with `secmas wrap --release PACKAGE_DIR` (the secmas package)"

logger = logging.getLogger(__name__)


class AllowListError(Exception):
    """An allow-list that cannot be read, is not signed by the key trusted for it, or is
    another install's (the message names the file and the fix)."""


def releases_path() -> Path:
    """`$SECMAS_RELEASES`, or `releases.db` in `$SECMAS_HOME`. A `$SECMAS_RELEASES` that
    is a folder holds one store per `$SECMAS_HOME` (each home has its own SECaaS key, and
    a store holds what one key signed): the test suite gives each session such a folder."""
    configured = os.environ.get(RELEASES_ENV)
    if not configured:
        return secmas_home() / RELEASES_FILE
    path = Path(configured).expanduser()
    if not path.is_dir():
        return path
    home = hashlib.sha256(os.fsencode(secmas_home().resolve())).hexdigest()[:16]
    return path / f"releases-{home}.db"


def this_install() -> str:
    """Which install a process runs: its `sys.prefix`, resolved."""
    return os.path.realpath(sys.prefix)


def _listed(name: str) -> bool:
    return is_python_module(name) or is_shared_object(name) or is_path_hook(name)


@dataclass(frozen=True)
class PlatformAllowList(SignedDocument):
    """Every Python module, shared object and `.pth` file an install's distributions
    declare (real path → SHA-256), as read when SECaaS signed it."""

    install: str
    created: str
    files: Mapping[str, str]
    public_key: str = ""
    signature: str = ""

    @classmethod
    def made(cls, key: Ed25519PrivateKey) -> PlatformAllowList:
        """This install's allow-list from its RECORDs now, signed: the one reading of them."""
        files = LibraryIndex().declared(site_dirs(), _listed)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(this_install(), created, files).sign(key)

    def signed_bytes(self) -> bytes:
        data = {
            "format": LIST_FORMAT,
            "install": self.install,
            "created": self.created,
            "files": dict(self.files),
            "public_key": self.public_key,
        }
        return _DOMAIN + _CANONICAL.encode(data).encode()

    def encode(self) -> str:
        return json.dumps(
            {
                "format": LIST_FORMAT,
                "install": self.install,
                "created": self.created,
                "files": dict(self.files),
                "public_key": self.public_key,
                "signature": self.signature,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str, where: str) -> PlatformAllowList:
        """An allow-list from its JSON; AllowListError naming `where` when malformed."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != LIST_FORMAT:
                raise ValueError(f"not a {LIST_FORMAT} object")
            files = data["files"]
            if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items()
            ):
                raise ValueError("files must map paths to digests")
            fields = [data[k] for k in ("install", "created", "public_key", "signature")]
            if not all(isinstance(f, str) for f in fields):
                raise ValueError("install, created, public_key and signature must be strings")
        except (ValueError, KeyError) as exc:
            raise AllowListError(f"{where}: not a platform allow-list: {exc}") from None
        install, created, public_key, signature = fields
        return cls(install, created, files, public_key, signature)

    def modules(self) -> dict[str, str]:
        """The Python modules: what `KnownCode` compiles."""
        return self._named(is_python_module)

    def libraries(self) -> dict[str, str]:
        """The shared objects an agent may map."""
        return self._named(is_shared_object)

    def hooks(self, sites: tuple[str, ...]) -> dict[str, str]:
        """The `.pth` files at the top of each of `sites` (where `site` reads them), by
        the path a measurer finds them under there."""
        declared = self._named(is_path_hook)
        hooks = {}
        for directory in sites:
            real = os.path.realpath(directory)
            for path, digest in declared.items():
                if os.path.dirname(path) == real:
                    hooks[os.path.join(directory, os.path.basename(path))] = digest
        return hooks

    def _named(self, wanted: Callable[[str], bool]) -> dict[str, str]:
        return {p: d for p, d in self.files.items() if wanted(p.rpartition("/")[2])}


def stored_allowlist(
    path: Path, trusted: Ed25519PublicKey, install: str
) -> PlatformAllowList | None:
    """The release store's allow-list of `install`, or None; AllowListError when the store
    cannot be read or its allow-list is not signed by `trusted`."""
    where = f"{path} (platform allow-list of {install})"
    try:
        with _opened(path) as db:
            row = db.execute("SELECT document FROM platforms WHERE install = ?", (install,))
            found = row.fetchone()
    except sqlite3.Error as exc:
        raise AllowListError(f"{path}: cannot read the release store: {exc}") from None
    if found is None:
        return None
    allowlist = PlatformAllowList.decode(found[0], where)
    if not allowlist.signed_by(trusted):
        raise AllowListError(
            f"{where}: bad, missing or untrusted signature (not by the SECaaS key"
            f" {public_key_hex(trusted)}); {_SIGN_AGAIN}"
        )
    return allowlist


def store_allowlist(allowlist: PlatformAllowList, path: Path) -> None:
    """Keep `allowlist` in the release store, replacing its install's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _opened(path) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO platforms VALUES (?, ?)",
                (allowlist.install, allowlist.encode()),
            )
    except sqlite3.Error as exc:
        raise AllowListError(f"{path}: cannot store the platform allow-list: {exc}") from None


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[sqlite3.Connection]:
    """The release store's database, with the allow-lists' table, closed on leaving."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(_SCHEMA)
        yield db


def made_once(key: Ed25519PrivateKey, path: Path) -> tuple[PlatformAllowList, bool]:
    """The store's allow-list of this install, made and stored on first use; and whether
    this call made it."""
    found = stored_allowlist(path, key.public_key(), this_install())
    if found is not None:
        return found, False
    allowlist = PlatformAllowList.made(key)
    store_allowlist(allowlist, path)
    logger.warning("platform allow-list of %s made on first use, in %s", this_install(), path)
    return allowlist, True


_HELD: dict[tuple[str, FileVersion | None], PlatformAllowList] = {}


def held() -> PlatformAllowList:
    """This process's allow-list (module docstring): the handed one, or the release
    store's; each read once per version of its file."""
    handed = os.environ.get(PLATFORM_ENV)
    path = Path(handed) if handed else releases_path()
    kept = _HELD.get((str(path), _version(path)))
    if kept is None:
        kept = _handed(path) if handed else _from_store(path)
        _HELD.clear()
        _HELD[(str(path), _version(path))] = kept
    return kept


def _version(path: Path) -> FileVersion | None:
    try:
        return FileVersion.of(path.stat())
    except OSError:
        return None


def _handed(path: Path) -> PlatformAllowList:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AllowListError(
            f"{path} ({PLATFORM_ENV}): cannot read the handed platform allow-list: {exc}"
        ) from None
    allowlist = PlatformAllowList.decode(text, f"{path} ({PLATFORM_ENV})")
    try:
        named = Ed25519PublicKey.from_public_bytes(bytes.fromhex(allowlist.public_key))
    except ValueError:
        named = None
    if named is None or not allowlist.signed_by(named):
        raise AllowListError(
            f"{path} ({PLATFORM_ENV}): bad or missing signature; the launcher hands the"
            " release store's allow-list as it is"
        )
    if allowlist.install != this_install():
        raise AllowListError(
            f"{path} ({PLATFORM_ENV}): the allow-list of {allowlist.install}, not of this"
            f" process's install {this_install()}"
        )
    return allowlist


def _from_store(path: Path) -> PlatformAllowList:
    try:
        return made_once(signing_key(), path)[0]
    except KeyFileError as exc:
        raise AllowListError(
            f"no platform allow-list: {exc}; a launcher hands one in {PLATFORM_ENV},"
            f" or {_SIGN_AGAIN} as a user who can read {path.parent}"
        ) from None
