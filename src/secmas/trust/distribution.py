"""Plug-in distributions as SECaaS trusts them: measured file by file, signed once into the
release store, and checked at every run's steps 3–4, as the `secmas` package is.

A plug-in (`secmas.plugins`) is code of a distribution of its own that the agents run once
a scenario names it, so an implant written into a plug-in is an implant in every agent.
Its reference is made off the run, like the package's release reference
(`secmas.trust.release`): `secmas wrap NAME --plugin` (which `scripts/setup` runs for each
plug-in distribution installed) measures the distribution and keeps the signed manifest
(`secmas-plugin:NAME`, at its version) in the release store, with the install's platform
allow-list made again beside it (installing a plug-in changed site-packages on purpose).
A run then checks each installed plug-in distribution against its reference before any
agent is placed (`trusted_plugins`): one changed since, or never signed, stops the run
naming the distribution, the files that differ and the command that signs it again.

What is measured is every file the distribution's RECORD lists (its modules and its
metadata: `entry_points.txt` says which code a plug-in's name loads) and every file under
the top-level packages its plug-ins load from, bytecode caches left out (the interpreter
writes them). For an editable install RECORD lists only a path hook: the package folder it
points to, the working tree, is what is measured then.

A developer changing a plug-in on purpose may trust the working tree as it is
(`SECMAS_TRUST_WORKING_TREE=1`): each such plug-in is then measured at the run's start and
that measurement, signed by no one but this run, is its reference; every run in that mode
says so (a warning, and report.json's `trust.plugins`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas import plugins
from secmas.trust.compiled import RACY_NS, FileVersion
from secmas.trust.digests import diff_entries, root_digest
from secmas.trust.keys import signing_key
from secmas.trust.manifest import ReferenceManifest, sign, verify_signature
from secmas.trust.repository import ReferenceRepository
from secmas.trust.sitelist import PlatformAllowList, releases_path, store_allowlist

KIND = "distribution"
PLUGIN_IMAGE = "secmas-plugin"
"""A plug-in distribution's references are images `secmas-plugin:NAME`."""
PACKAGE = "secmas"
"""The distribution that is no plug-in: its reference is the release's."""
WORKING_TREE_ENV = "SECMAS_TRUST_WORKING_TREE"
"""`1`: plug-ins are trusted as they are now, without a signed reference (development)."""
SHOWN = 5
"""Differing files a refusal names before it counts the rest."""


class PluginTrustError(Exception):
    """A plug-in distribution that cannot be measured, was never signed or differs from its
    signed reference: the message names it, what differs and the command that signs it."""


@dataclass(frozen=True)
class PluginDistribution:
    """An installed distribution providing secmas plug-ins, and the files it consists of."""

    name: str
    version: str
    provides: tuple[str, ...]
    """Its plug-ins in words (`attack 'pulse'`), for messages."""
    files: Mapping[str, Path]
    """Each measured file by its path relative to where it is installed."""

    @property
    def image(self) -> str:
        return f"{PLUGIN_IMAGE}:{self.name}"

    @property
    def sign_command(self) -> str:
        """The exact command that signs this distribution as it is now."""
        return f"secmas wrap {self.name} --plugin"

    def measure(self) -> dict[str, str]:
        """Each file's SHA-256 as it is now; a file gone or unreadable is left out (the
        comparison then names it missing)."""
        measured: dict[str, str] = {}
        for name, path in self.files.items():
            digest = _file_digest(path)
            if digest is not None:
                measured[name] = digest
        return measured

    def root(self) -> str:
        """The root over `measure()`, as a reference manifest of it records."""
        return root_digest(self.measure().items())


def installed_plugins() -> dict[str, PluginDistribution]:
    """Every installed distribution but secmas that provides a secmas plug-in, by name."""
    found: dict[str, PluginDistribution] = {}
    for name, provided in plugins.distributions().items():
        if name == PACKAGE:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PluginTrustError(f"plug-in distribution {name}: no metadata found") from None
        files = {**_recorded(dist), **_package_files(provided)}
        if not files:
            raise PluginTrustError(
                f"plug-in distribution {name} {dist.version}: lists no files (no RECORD) and"
                " its plug-ins load from no package folder, so it cannot be measured"
            )
        found[name] = PluginDistribution(
            name,
            dist.version,
            tuple(f"{plugins.GROUPS[p.group].one} {p.name!r}" for p in provided),
            dict(sorted(files.items())),
        )
    return found


def plugin_distribution(name: str) -> PluginDistribution:
    """The installed plug-in distribution `name`; PluginTrustError naming the installed
    ones when there is none."""
    found = installed_plugins()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise PluginTrustError(
            f"no installed distribution {name!r} provides a secmas plug-in (installed: {known})"
        )
    return found[name]


def _recorded(dist: metadata.Distribution) -> dict[str, Path]:
    """The files the distribution's RECORD (or installed-files list) names."""
    return {
        str(entry): Path(str(dist.locate_file(entry)))
        for entry in dist.files or ()
        if not _cache(PurePosixPath(str(entry)))
    }


def _package_files(provided: list[plugins.Plugin]) -> dict[str, Path]:
    """Every file under the top-level packages (or modules) the plug-ins load from, keyed
    as RECORD keys them: relative to the folder holding the package."""
    files: dict[str, Path] = {}
    for top in sorted({p.target.partition(":")[0].split(".")[0] for p in provided}):
        if top == PACKAGE:
            continue  # code of secmas itself: the release reference covers it
        spec = importlib.util.find_spec(top)
        if spec is None:
            continue  # a plug-in that cannot be found fails when loaded, naming itself
        if spec.submodule_search_locations:
            for folder in map(Path, spec.submodule_search_locations):
                for path in sorted(folder.rglob("*")):
                    relative = path.relative_to(folder.parent)
                    if path.is_file() and not _cache(PurePosixPath(relative.as_posix())):
                        files[relative.as_posix()] = path
        elif spec.origin is not None and spec.has_location:
            files[Path(spec.origin).name] = Path(spec.origin)
    return files


def _cache(path: PurePosixPath) -> bool:
    """Bytecode the interpreter writes: no part of what was installed."""
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def wrap_distribution(dist: PluginDistribution, key: Ed25519PrivateKey) -> ReferenceManifest:
    """SECaaS's wrapping of a plug-in distribution as it is now: its files' digests, signed."""
    entries = dist.measure()
    manifest = ReferenceManifest(
        kind=KIND,
        image=dist.image,
        version=dist.version,
        entries=entries,
        root=root_digest(entries.items()),
    )
    return sign(manifest, key)


def store_plugin(
    manifest: ReferenceManifest, key: Ed25519PrivateKey, path: Path | None = None
) -> Path:
    """Keep a plug-in's reference in the release store (replacing one of the same version:
    signed again on purpose) and the install's platform allow-list as it is now."""
    target = path or releases_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with ReferenceRepository(target, trusted_keys=[key.public_key()]) as releases:
        releases.put(manifest, replace=True)
    store_allowlist(PlatformAllowList.made(key), target)
    return target


@dataclass(frozen=True)
class PluginReference:
    """A plug-in distribution a run trusts, with the reference its agents measure it
    against; `working_tree` when that reference is the run's own measurement."""

    distribution: PluginDistribution
    manifest: ReferenceManifest
    working_tree: bool = False


def part_name(distribution: str) -> str:
    """The measurement part that stands for a plug-in distribution's files."""
    return f"plugin:{distribution}"


@dataclass(frozen=True)
class PluginTrust:
    """How a run trusts the installed plug-ins: each one's reference, and whether the
    working tree was trusted on purpose (`SECMAS_TRUST_WORKING_TREE`)."""

    references: tuple[PluginReference, ...] = ()
    working_tree: bool = False

    @property
    def distributions(self) -> tuple[PluginDistribution, ...]:
        return tuple(r.distribution for r in self.references)

    def parts(self) -> dict[str, bytes]:
        """What a genuine agent measures of the plug-ins: each one's reference root."""
        return {
            part_name(r.distribution.name): bytes.fromhex(r.manifest.root) for r in self.references
        }

    def notice(self) -> str | None:
        """The line every run in the working-tree mode says; None out of it."""
        if not self.working_tree:
            return None
        as_is = ", ".join(
            f"{r.distribution.name} {r.distribution.version}"
            for r in self.references
            if r.working_tree
        )
        if as_is:
            which = f"{as_is} trusted as found, unsigned"
        elif self.references:
            which = "each installed one matches its signed reference"
        else:
            which = "none is installed"
        return (
            f"{WORKING_TREE_ENV} is set: plug-ins are trusted as their working tree ({which});"
            " never for a deployment"
        )

    def report(self) -> dict[str, Any]:
        """report.json's `trust.plugins`: the mode, and each distribution's reference."""
        return {
            "working_tree": self.working_tree,
            "distributions": [
                {
                    "name": r.distribution.name,
                    "version": r.distribution.version,
                    "root": r.manifest.root,
                    "files": len(r.manifest.entries),
                    "reference": "working tree" if r.working_tree else "signed",
                }
                for r in self.references
            ],
        }


def working_tree_trusted() -> bool:
    """Whether `SECMAS_TRUST_WORKING_TREE` asks to trust plug-ins as they are now."""
    return os.environ.get(WORKING_TREE_ENV, "") not in ("", "0")


def trusted_plugins(
    key: Ed25519PrivateKey | None = None, working_tree: bool | None = None
) -> PluginTrust:
    """Steps 3–4 for the installed plug-ins: each distribution checked against its signed
    reference in the release store; PluginTrustError for the first never signed or
    changed since, unless the working tree is trusted (default: `working_tree_trusted`)."""
    key = key or signing_key()
    trust_as_is = working_tree_trusted() if working_tree is None else working_tree
    installed = installed_plugins()
    if not installed:
        return PluginTrust(working_tree=trust_as_is)
    path = releases_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    references: list[PluginReference] = []
    with ReferenceRepository(path, trusted_keys=[key.public_key()]) as store:
        for dist in installed.values():
            signed = store.get(dist.image, dist.version)
            refusal = _refusal(dist, signed, key, path)
            if refusal is None:
                assert signed is not None
                references.append(PluginReference(dist, signed))
            elif trust_as_is:
                as_is = wrap_distribution(dist, key)
                references.append(PluginReference(dist, as_is, working_tree=True))
            else:
                raise PluginTrustError(refusal)
    return PluginTrust(tuple(references), trust_as_is)


def _refusal(
    dist: PluginDistribution, signed: ReferenceManifest | None, key: Ed25519PrivateKey, path: Path
) -> str | None:
    """Why `dist` is not its signed reference, in one message; None when it is."""
    named = f"plug-in distribution {dist.name} {dist.version} ({'; '.join(dist.provides)})"
    command = dist.sign_command
    if signed is None:
        return (
            f"{named} was never signed ({path} holds no {dist.image} {dist.version});"
            f" sign it with `{command}` once it is what you mean to run"
        )
    if signed.kind != KIND or not verify_signature(signed, key.public_key()):
        return (
            f"{named}: {path} holds no plug-in reference of it signed by SECaaS;"
            f" sign it with `{command}` once it is what you mean to run"
        )
    problems = diff_entries(signed.entries, dist.measure()).lines()
    if not problems:
        return None
    shown = "; ".join(problems[:SHOWN])
    more = f" and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return (
        f"{named} is not what SECaaS signed on {signed.created} ({path}): {shown}{more};"
        f" an implant, or a change: sign it with `{command}` once it is what you mean to run"
    )


_DIGESTS: dict[Path, tuple[FileVersion, str]] = {}
_LOCK = threading.Lock()


def _file_digest(path: Path) -> str | None:
    """A file's SHA-256 as it is now, hashed once per file version (device, inode, size,
    mtime, ctime), as IMA measures a file once until it changes; None when unreadable."""
    try:
        version = FileVersion.of(os.stat(path))
        kept = _DIGESTS.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    if time.time_ns() - max(version.mtime_ns, version.ctime_ns) >= RACY_NS:
        with _LOCK:
            _DIGESTS[path] = (version, digest)
    return digest
