"""Agent images as the attestation protocol sees them: Python packages and ELF files.

SECaaS wraps what an agent runs (`secmas wrap`) into a signed manifest; from it this
module derives the reference measurement a verifier compares with, and each agent's
runtime measurement subroutine:
- a Python agent measures the live code objects of its loaded modules (so a patch made
  in memory after start is caught) and the module files as they are on disk now (so a
  patch waiting for the next restart is caught too): parts `code:<module>` and
  `file:<module>`;
- a native agent measures the code its process has mapped from its ELF file, read from
  `/proc/PID/mem` (parts `text:<section>`), against the sections SECaaS measured.
Either way a failed appraisal can name the module or section that changed.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from secmas.trust.attestation import Measurement
from secmas.trust.elf import measure_elf
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.procmem import check_process_image
from secmas.trust.pycode import PackageMeasurement, measure_live, module_files


def reference_measurement(manifest: ReferenceManifest) -> Measurement:
    """What a genuine agent of this image measures: per module, the code digest and the
    file digest recorded at wrapping time."""
    package = _package(manifest)
    parts: dict[str, bytes] = {}
    for name, module in package.modules.items():
        parts[f"code:{name}"] = bytes.fromhex(module.digest)
        if module.source is not None:
            parts[f"file:{name}"] = bytes.fromhex(module.source)
    return Measurement.of(parts)


def _package(manifest: ReferenceManifest) -> PackageMeasurement:
    if manifest.kind != "python":
        raise ValueError(f"{manifest.image}: not a Python agent image ({manifest.kind})")
    modules = {key.partition(":")[0] for key in manifest.entries}
    return PackageMeasurement.from_entries(min(modules, key=len, default=""), manifest.entries)


@dataclass(frozen=True)
class RuntimeImage:
    """What an agent needs to measure itself: where its package lives, and which modules
    and functions its wrapped image consists of (the digests themselves are not used)."""

    root: Path
    layout: PackageMeasurement
    files: dict[str, Path]
    """Where each module's file is: found once, read again at every measurement."""

    @classmethod
    def of(cls, manifest: ReferenceManifest, root: Path) -> RuntimeImage:
        layout = _package(manifest)
        return cls(root, layout, module_files(root, layout.name))

    @staticmethod
    def reference(manifest: ReferenceManifest) -> Measurement:
        """The measurement a genuine agent of this image reports."""
        return reference_measurement(manifest)

    def load(self) -> None:
        """Import every module of the image, so each one is measured live (but not
        `__main__` entry points, which run the program when imported)."""
        for name in self.layout.modules:
            if name not in sys.modules and not name.endswith(".__main__"):
                importlib.import_module(name)

    def measure(self, modules: dict[str, ModuleType] | None = None) -> Measurement:
        """The runtime measurement subroutine: live code and current files."""
        live = measure_live(self.layout, modules)
        parts = {f"code:{name}": bytes.fromhex(m.digest) for name, m in live.modules.items()}
        for name in self.layout.modules:
            parts[f"file:{name}"] = _file_digest(self.files.get(name))
        return Measurement.of(parts)


def _file_digest(path: Path | None) -> bytes:
    """SHA-256 of a module file; zeros when it is gone or unreadable (never the reference)."""
    if path is None:
        return bytes(32)
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return bytes(32)


@dataclass(frozen=True)
class NativeImage:
    """A native agent: an ELF executable or shared object mapped into a process."""

    path: Path
    pid: int | None = None  # None: this process (/proc/self)

    def reference(self, manifest: ReferenceManifest) -> Measurement:
        """The manifest's digests of the sections the loader maps executable."""
        if manifest.kind != "elf":
            raise ValueError(f"{manifest.image}: not an ELF image ({manifest.kind})")
        executable = [k for k, s in measure_elf(self.path).sections.items() if s.executable]
        return Measurement.of(
            {
                f"text:{k}": bytes.fromhex(manifest.entries[k])
                for k in executable
                if k in manifest.entries
            }
        )

    def measure(self) -> Measurement:
        """The code mapped in the process now, section by section (zeros where a section
        is not mapped at all)."""
        check = check_process_image(self.path, self.pid)
        return Measurement.of(
            {
                f"text:{s.name}": bytes.fromhex(s.actual) if s.actual else bytes(32)
                for s in check.sections
            }
        )
