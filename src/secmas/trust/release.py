"""The release reference: SECaaS wraps a release of the agent package once, signs it, and
every run and every host checks against that signed reference.

Wrapping the installed package at each run made whatever was installed the reference, so
an implant written into it before the run was part of the reference and never flagged.
Now the reference of an image version is made once and kept, signed by the SECaaS key
(`secmas.trust.keys`), in the release store: `$SECMAS_RELEASES`, default
`$SECMAS_HOME/releases.db`, a `ReferenceRepository` that trusts that key only. It is made
- from the release itself, before it is installed anywhere: `secmas wrap --release` on the
  wheel (`secmas-VERSION-….whl`, PEP 427) or on the package directory; or else
- on first use: the first run of a version with an empty store (a fresh clone, a new
  install) wraps the package as installed then, once, and says so.
Every later run checks the installed package against the stored reference before any agent
is placed (`installed_release`), and its agents are measured against it. A development
checkout changed on purpose is signed again with `secmas wrap --release`.

Beside the package reference the store keeps the install's platform allow-list
(`secmas.trust.sitelist`: site-packages file by file, by the digests its RECORDs declared
then), made and signed at the same moments, so that no run reads the RECORDs again.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.keys import signing_key
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.repository import ReferenceExists, ReferenceRepository
from secmas.trust.sitelist import PlatformAllowList, made_once, releases_path, store_allowlist
from secmas.trust.wrap import verify, wrap

WHEEL_LIMIT = 256 << 20
"""Bytes a wheel's package may unpack to: more is refused, not unpacked."""
SHOWN = 5
"""Differences a mismatch message names before it counts the rest."""


class ReleaseError(Exception):
    """A release that cannot be wrapped, or an installed package that differs from the
    signed reference of its release."""


@dataclass(frozen=True)
class Release:
    """The signed reference of an installed package's release, and whether this call made
    it (first use) rather than found it."""

    manifest: ReferenceManifest
    first_use: bool


def wheel_version(wheel: Path) -> tuple[str, str]:
    """(package, version) from a wheel's file name, `{name}-{version}(-{build})?-{py}-{abi}-
    {platform}.whl` (PEP 427); the package is the name as imported."""
    parts = wheel.name.removesuffix(".whl").split("-")
    if not wheel.name.endswith(".whl") or len(parts) not in (5, 6) or not all(parts):
        raise ReleaseError(f"{wheel}: not a wheel file name (NAME-VERSION-PY-ABI-PLATFORM.whl)")
    return parts[0].lower().replace(".", "_"), parts[1]


def wrap_release(
    artifact: Path, key: Ed25519PrivateKey, image: str, version: str
) -> ReferenceManifest:
    """SECaaS's one wrapping of a release: a package directory, or a wheel whose package
    it unpacks into a folder of its own first."""
    if artifact.suffix != ".whl":
        return wrap(artifact, key, image=image, version=version)
    package, _ = wheel_version(artifact)
    with tempfile.TemporaryDirectory(prefix="secmas-wheel-") as folder:
        _unpack(artifact, package, Path(folder))
        return wrap(Path(folder) / package, key, image=image, version=version)


def _unpack(wheel: Path, package: str, folder: Path) -> None:
    """The wheel's `package/` files into `folder` (zipfile drops `..` and absolute parts)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [i for i in archive.infolist() if i.filename.startswith(f"{package}/")]
            if not members:
                raise ReleaseError(f"{wheel}: holds no {package}/ package")
            if sum(i.file_size for i in members) > WHEEL_LIMIT:
                raise ReleaseError(f"{wheel}: {package}/ unpacks to over {WHEEL_LIMIT} bytes")
            archive.extractall(folder, members)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ReleaseError(f"{wheel}: cannot unpack the wheel: {exc}") from exc


def store_release(
    manifest: ReferenceManifest, key: Ed25519PrivateKey, path: Path | None = None
) -> Path:
    """Keep a release reference in the store (replacing one of the same version: a release
    signed again on purpose) and, signed by `key` beside it, the install's platform
    allow-list as it is now; the store's path is returned."""
    target = path or releases_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with ReferenceRepository(target) as releases:
        releases.put(manifest, replace=True)
    store_allowlist(PlatformAllowList.made(key), target)
    return target


def installed_release(
    root: Path, image: str, version: str, key: Ed25519PrivateKey | None = None
) -> Release:
    """The signed release reference of the package installed at `root`, made on first use;
    ReleaseError, naming what differs, when the installed package is not that release."""
    key = key or signing_key()
    path = releases_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with ReferenceRepository(path, trusted_keys=[key.public_key()]) as store:
        manifest = store.get(image, version)
        made = _first_use(store, root, image, version, key) if manifest is None else None
    made_once(key, path)  # the platform allow-list, kept beside the release
    if made is not None:
        return Release(made, first_use=True)
    assert manifest is not None
    problems = verify(root, manifest, key.public_key()).problems()
    if problems:
        shown = "; ".join(problems[:SHOWN])
        more = f" and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise ReleaseError(
            f"{root} is not the signed release {image} {version} of {manifest.created}"
            f" ({path}): {shown}{more}; an implant, or a change to sign with"
            f" `secmas wrap --release {root}`"
        )
    return Release(manifest, first_use=False)


def _first_use(
    store: ReferenceRepository, root: Path, image: str, version: str, key: Ed25519PrivateKey
) -> ReferenceManifest:
    """Wrap the installed package once; a concurrent first use that stored first wins."""
    manifest = wrap(root, key, image=image, version=version)
    try:
        store.put(manifest)
    except ReferenceExists:
        return installed_release(root, image, version, key).manifest
    return manifest
