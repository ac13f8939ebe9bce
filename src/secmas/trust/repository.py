"""The SECaaS reference repository: signed manifests by (image, version), in SQLite.

Verifiers fetch the reference for the image an agent claims to run. Only manifests whose
signature holds (under one of the trusted keys, when the repository has any) get in, and
every read checks the signature again, so a row edited in the database file is refused
rather than trusted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from secmas.trust.keys import public_key_hex
from secmas.trust.manifest import ManifestError, ReferenceManifest, verify_signature

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    image TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    root TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (image, version)
)
"""


class RepositoryError(Exception):
    """A repository that cannot be opened, or a manifest it refuses or cannot return."""


class ReferenceExists(RepositoryError):
    """The repository already holds that image version, and replacing was not asked for."""


@dataclass(frozen=True)
class StoredReference:
    """One row of `ReferenceRepository.list`."""

    image: str
    version: str
    kind: str
    created: str
    root: str


def _sortable(created: str) -> str:
    """One ISO form (UTC, microseconds), so that text order is time order."""
    return datetime.fromisoformat(created).astimezone(UTC).isoformat(timespec="microseconds")


class ReferenceRepository:
    """Signed reference manifests in an SQLite file (or ":memory:")."""

    def __init__(
        self, path: str | Path = ":memory:", trusted_keys: Iterable[Ed25519PublicKey] = ()
    ) -> None:
        self.path = str(path)
        self._trusted = {public_key_hex(key) for key in trusted_keys}
        try:
            self._db = sqlite3.connect(self.path)
            with self._db:
                self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise RepositoryError(f"{self.path}: cannot open the repository: {exc}") from exc

    def __enter__(self) -> ReferenceRepository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def put(self, manifest: ReferenceManifest, *, replace: bool = False) -> None:
        """Store a manifest; refuse a bad or untrusted signature, and an existing
        (image, version) unless `replace`."""
        where = f"{manifest.image} {manifest.version}"
        self._check(manifest, where)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        row = (
            manifest.image,
            manifest.version,
            manifest.kind,
            _sortable(manifest.created),
            manifest.root,
            manifest.model_dump_json(),
        )
        try:
            with self._db:
                self._db.execute(f"{verb} INTO manifests VALUES (?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError:
            raise ReferenceExists(f"{self.path}: already holds {where}") from None
        except sqlite3.Error as exc:
            raise RepositoryError(f"{self.path}: cannot store {where}: {exc}") from exc

    def get(self, image: str, version: str) -> ReferenceManifest | None:
        """The manifest of one image version, or None."""
        return self._one(
            "SELECT document FROM manifests WHERE image = ? AND version = ?", (image, version)
        )

    def get_latest(self, image: str) -> ReferenceManifest | None:
        """The most recently created manifest of an image, or None."""
        return self._one(
            "SELECT document FROM manifests WHERE image = ? ORDER BY created DESC, rowid DESC",
            (image,),
        )

    def list(self, image: str | None = None) -> list[StoredReference]:
        """Every stored reference (of one image when given), by image then creation time."""
        query = "SELECT image, version, kind, created, root FROM manifests"
        query += " WHERE image = ?" if image is not None else ""
        rows = self._query(
            query + " ORDER BY image, created, rowid", () if image is None else (image,)
        )
        return [StoredReference(*row) for row in rows]

    def _one(self, query: str, args: tuple[str, ...]) -> ReferenceManifest | None:
        rows = self._query(query + " LIMIT 1", args)
        if not rows:
            return None
        where = " ".join(args)
        try:
            manifest = ReferenceManifest.parse(rows[0][0], f"{self.path} ({where})")
        except ManifestError as exc:
            raise RepositoryError(str(exc)) from exc
        self._check(manifest, where)
        return manifest

    def _query(self, query: str, args: tuple[str, ...]) -> list[tuple]:
        try:
            return self._db.execute(query, args).fetchall()
        except sqlite3.Error as exc:
            raise RepositoryError(f"{self.path}: cannot read the repository: {exc}") from exc

    def _check(self, manifest: ReferenceManifest, where: str) -> None:
        if not verify_signature(manifest):
            raise RepositoryError(f"{where}: bad or missing signature")
        if self._trusted and manifest.public_key not in self._trusted:
            raise RepositoryError(f"{where}: signed by an untrusted key {manifest.public_key}")
