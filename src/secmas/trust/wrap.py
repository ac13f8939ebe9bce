"""SECaaS wrapping: measure a native or Python agent into a signed reference manifest, and
verify an artifact (or a running Python agent) against one.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.trust.compiled import PackageError
from secmas.trust.digests import EntryDiff, diff_entries
from secmas.trust.elf import ELF_MAGIC, ElfError, measure_elf
from secmas.trust.hardening import hardening_report
from secmas.trust.manifest import (
    InterpreterBuild,
    ReferenceManifest,
    interpreter_mismatch,
    sign,
    verify_signature,
)
from secmas.trust.pycode import (
    PackageMeasurement,
    diff_packages,
    measure_files,
    measure_live,
)

Kind = Literal["elf", "python"]


class ArtifactError(Exception):
    """An artifact that cannot be wrapped: unreadable, empty, neither ELF nor Python."""


def artifact_kind(path: Path) -> Kind:
    """ "elf" for a file with the ELF magic, "python" for a package directory or `.py` file."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            if not (path / "__init__.py").is_file():
                raise ArtifactError(
                    f"{path}: a directory without __init__.py, not a Python package"
                )
            return "python"
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path}: not a regular file or directory")
        with path.open("rb") as stream:
            magic = stream.read(len(ELF_MAGIC))
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not magic:
        raise ArtifactError(f"{path}: empty file")
    if magic == ELF_MAGIC:
        return "elf"
    if path.suffix == ".py":
        return "python"
    raise ArtifactError(f"{path}: neither an ELF file nor Python (a .py file or package directory)")


def wrap(
    artifact: Path,
    signing_key: Ed25519PrivateKey,
    image: str | None = None,
    version: str | None = None,
) -> ReferenceManifest:
    """Measure an artifact and sign its reference manifest.

    `image` defaults to the artifact's name, `version` to `sha256-` and the first 12 hex
    digits of the root, so that unnamed builds still get distinct, stable versions.
    """
    kind = artifact_kind(artifact)
    entries, root, spoofs = _measure(artifact, kind)
    if spoofs:
        raise ArtifactError(f"{artifact}: header spoof, not signed: {spoofs[0]}")
    hardening = None
    if kind == "elf":
        try:
            hardening = hardening_report(artifact)
        except ElfError as exc:
            raise ArtifactError(str(exc)) from exc
    manifest = ReferenceManifest(
        kind=kind,
        image=image or artifact.name,
        version=version or f"sha256-{root[:12]}",
        entries=entries,
        root=root,
        hardening=hardening,
        interpreter=InterpreterBuild.running() if kind == "python" else None,
    )
    return sign(manifest, signing_key)


@dataclass(frozen=True)
class Verification:
    """The outcome of checking an artifact or a running agent against a manifest."""

    bad_signature: bool = False
    kind: Kind | None = None  # the artifact's, when it is not the manifest's
    interpreter: str | None = None  # why this interpreter cannot check the code digests
    spoofs: tuple[str, ...] = ()  # section headers that disagree with the program headers
    root_matches: bool = True
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per reason the check failed; empty when it passed."""
        if self.bad_signature:
            return ["bad signature"]
        if self.kind is not None:
            return [f"kind mismatch: the artifact is {self.kind}"]
        if self.interpreter is not None:
            return [self.interpreter]
        lines = [f"header spoof: {s}" for s in self.spoofs]
        lines += EntryDiff(self.changed, self.missing, self.extra).lines()
        return lines or ([] if self.root_matches else ["changed root"])


def verify(
    artifact: Path, manifest: ReferenceManifest, trusted_key: Ed25519PublicKey
) -> Verification:
    """Check the signature (by `trusted_key`, never merely by the key the manifest
    names), then measure the artifact and compare it part by part.

    Raises ArtifactError when the artifact cannot be measured at all, whatever the
    manifest: an unusable artifact is bad input, not a failed check.
    """
    kind = artifact_kind(artifact)
    if not verify_signature(manifest, trusted_key):
        return Verification(bad_signature=True)
    if kind != manifest.kind:
        return Verification(kind=kind)
    if (mismatch := interpreter_mismatch(manifest)) is not None:
        return Verification(interpreter=mismatch)
    package = _reference(manifest).name if kind == "python" else None
    entries, root, spoofs = _measure(artifact, kind, package)
    verification = _verification(manifest, diff_entries(manifest.entries, entries), root)
    return replace(verification, spoofs=spoofs)


def _measure(
    path: Path, kind: Kind, package: str | None = None
) -> tuple[dict[str, str], str, tuple[str, ...]]:
    """An artifact's entries, root and header spoofs; `package` is the name its modules
    are imported by."""
    try:
        if kind == "elf":
            measured = measure_elf(path)
            return measured.entries, measured.root, measured.spoofs
        files = measure_files(path, package)
    except (ElfError, PackageError) as exc:
        raise ArtifactError(str(exc)) from exc
    except OSError as exc:  # a package directory that cannot be listed
        raise ArtifactError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return files.entries(), files.root, ()


def verify_running(
    manifest: ReferenceManifest,
    trusted_key: Ed25519PublicKey,
    modules: Mapping[str, ModuleType] | None = None,
) -> Verification:
    """Check a Python manifest against the live modules (default `sys.modules`), as a
    running agent re-measuring itself does."""
    if not verify_signature(manifest, trusted_key):
        return Verification(bad_signature=True)
    if manifest.kind != "python":
        return Verification(kind="python")
    if (mismatch := interpreter_mismatch(manifest)) is not None:
        return Verification(interpreter=mismatch)
    reference = _reference(manifest)
    live = measure_live(reference, modules)
    return _verification(manifest, diff_packages(reference, live), live.root)


def _reference(manifest: ReferenceManifest) -> PackageMeasurement:
    """The Python measurement a manifest records; its package is the shortest module name."""
    modules = {key.partition(":")[0] for key in manifest.entries}
    return PackageMeasurement.from_entries(min(modules, key=len, default=""), manifest.entries)


def _verification(manifest: ReferenceManifest, diff: EntryDiff, root: str) -> Verification:
    return Verification(
        root_matches=root == manifest.root,
        changed=diff.changed,
        missing=diff.missing,
        extra=diff.extra,
    )
