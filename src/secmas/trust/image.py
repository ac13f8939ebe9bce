"""Agent images as the attestation protocol sees them: Python packages and ELF files.

SECaaS wraps what an agent runs (`secmas wrap`) into a signed manifest; from it this
module derives the reference measurement a verifier compares with, and each agent's
runtime measurement subroutine:
- a Python agent measures the live code objects of its loaded modules (so a patch made in
  memory after start is caught) and the module files as they are on disk now (so a patch
  waiting for the next restart is caught too): parts `code:<module>` and `file:<module>`.
  A module the agent has not imported has no live code: what it would run once imported is
  its file, so its code part is compiled from the file as it is now (once per file
  version, `secmas.trust.compiled`). The agent therefore need not import its whole package
  (with torch, scikit-learn, …) before it can be attested. Beyond code objects it measures
  what names are bound to (`secmas.trust.bindings`): per module `bind:<module>` (globals
  and dispatch tables holding foreign functions or classes), `bind:stdlib` (the loaded
  standard-library modules) and `bind:objects` (attributes of the agent objects it was
  told to `watch`, such as a method bound on the instance). Their reference is the digest
  of no problem (`CLEAN`). The plug-in distributions it runs beside the package are
  measured file by file (`plugin:<distribution>`, `secmas.trust.distribution`) against
  their signed references;
- a native agent measures the code its process has mapped from its ELF file, read from
  `/proc/PID/mem` (parts `text:<section>`), against the sections SECaaS measured.
Either way a failed appraisal can name the module or section that changed.

This is the agent measuring itself, a second signal: an implant that answers for the
agent (a measurement cached before infection) defeats it. The evidence that counts comes
from the external measurer (`secmas.trust.measurer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

from secmas.network.clock import Offload
from secmas.trust.attestation import Measurement
from secmas.trust.bindings import CLEAN, Bindings, problems_digest
from secmas.trust.compiled import SourceFile, source_file
from secmas.trust.distribution import PluginDistribution, part_name
from secmas.trust.elf import measure_elf
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.procmem import check_process_image
from secmas.trust.pycode import (
    KnownCode,
    LiveCode,
    ModuleMeasurement,
    PackageMeasurement,
    module_files,
)
from secmas.trust.sitelist import PlatformAllowList, held

WARM_WALKS = 2
"""Measurements `RuntimeImage.warm` takes: the cold walk and the one that completes the
caches."""


def reference_measurement(manifest: ReferenceManifest) -> Measurement:
    """What a genuine agent of this image measures: per module, the code digest and the
    file digest recorded at wrapping time."""
    package = _package(manifest)
    parts: dict[str, bytes] = {}
    for name, module in package.modules.items():
        parts[f"code:{name}"] = bytes.fromhex(module.digest)
        if module.source is not None:
            parts[f"file:{name}"] = bytes.fromhex(module.source)
        parts[f"bind:{name}"] = CLEAN
    parts["bind:stdlib"] = CLEAN
    parts["bind:objects"] = CLEAN
    return Measurement.of(parts)


def _package(manifest: ReferenceManifest) -> PackageMeasurement:
    if manifest.kind != "python":
        raise ValueError(f"{manifest.image}: not a Python agent image ({manifest.kind})")
    modules = {key.partition(":")[0] for key in manifest.entries}
    return PackageMeasurement.from_entries(min(modules, key=len, default=""), manifest.entries)


@dataclass
class _Asked:
    """One measurement asked of a shared walk, and what answers it."""

    image: RuntimeImage
    answer: Measurement | None = None
    error: BaseException | None = None
    done: bool = False
    told: Callable[[], None] | None = None
    """Called from the walking thread once answered (an awaited ask: `SharedWalks.measured`)."""

    def result(self) -> Measurement:
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


class Measurable(Protocol):
    """What an agent's attester measures: its image as it runs, measured now, or awaited
    (`measured`: through `offload`, and shared with the agents of the process where it
    can be)."""

    def measure(self) -> Measurement: ...

    async def measured(self, offload: Offload) -> Measurement: ...


@dataclass
class SharedWalks:
    """The measurement walks of one package that the agents of a process share.

    A measurement asked for is queued; whoever then holds `walking` takes the whole
    queue and walks once for it, so each answer comes from a walk that began after it
    was asked for (a patch made before the ask is always seen), and the agents asking
    while a walk is under way cost one more walk, not one each (group commit)."""

    walking: threading.Lock = field(default_factory=threading.Lock)
    _queue: list[_Asked] = field(default_factory=list)
    _queued: threading.Lock = field(default_factory=threading.Lock)
    _walker: object | None = None
    """The walker `measured` started, while it runs (it walks until nobody waits)."""
    _started: object | None = None
    """The last walker whose thread began: it ends its walk itself, cancelled or not."""
    _walkers: set[asyncio.Future[None]] = field(default_factory=set)

    def waiting(self) -> int:
        """Measurements queued for the next walk."""
        with self._queued:
            return len(self._queue)

    def measure(self, image: RuntimeImage) -> Measurement:
        """`image` measured by a walk that began after this call."""
        asked = _Asked(image)
        with self._queued:
            self._queue.append(asked)
        with self.walking:
            if not asked.done:
                with self._queued:
                    batch, self._queue = self._queue, []
                self._walk(batch)
        return asked.result()

    async def measured(self, image: RuntimeImage, offload: Offload) -> Measurement:
        """`measure`, awaited without holding a thread while the walk is waited for: the
        first ask while no walker runs starts one (through `offload`), which walks until
        the queue is empty; the others only queue. Five hundred agents challenged at once
        held every worker thread of a run on the walk's lock, and its ledger requests
        queued behind them (a 1,000-agent bring-up's first records waited 4 s)."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        asked = _Asked(image, told=lambda: _wake(loop, answered))
        token = None
        with self._queued:
            self._queue.append(asked)
            if self._walker is None:
                token = self._walker = object()
        if token is not None:
            walker = asyncio.ensure_future(offload(self._walk_queued, token))
            self._walkers.add(walker)
            walker.add_done_callback(lambda done: self._walker_ended(token, done))
        await answered
        return asked.result()

    def _walk_queued(self, token: object) -> None:
        """Walk for whoever is queued until nobody is."""
        with self._queued:
            self._started = token
        while True:
            with self.walking:
                with self._queued:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._walker = None
                        return
                self._walk(batch)

    def _walker_ended(self, token: object, walker: asyncio.Future[None]) -> None:
        """A walker whose thread never began (its pool shut down, or it was cancelled
        first, as a loop's tasks are when it closes) fails those it left waiting, and the
        next ask starts another: none waits for a walk that will not come."""
        self._walkers.discard(walker)
        if not walker.cancelled() and walker.exception() is None:
            return
        with self._queued:
            if self._started is token:  # its thread walks on until nobody waits
                return
            batch, self._queue, self._walker = self._queue, [], None
        why = walker.exception() if not walker.cancelled() else None
        for asked in batch:
            asked.error = why or RuntimeError("the measurement walk was cancelled before it began")
            _answered(asked)

    @staticmethod
    def _walk(batch: list[_Asked]) -> None:
        """One walk per package layout in `batch`, every ask answered from its own."""
        walked: dict[tuple[int, ...], dict[str, bytes]] = {}
        for asked in batch:
            image = asked.image
            try:
                with image.lock:  # the bindings' caches, which `measure(modules)` uses too
                    package = walked.get(image._walk_of())
                    if package is None:
                        package = walked[image._walk_of()] = image._package_parts()
                    asked.answer = image._with_objects(package)
            except BaseException as exc:  # each asker gets what its walk raised
                asked.error = exc
            _answered(asked)


def _answered(asked: _Asked) -> None:
    asked.done = True
    if asked.told is not None:
        asked.told()


def _wake(loop: asyncio.AbstractEventLoop, answered: asyncio.Future[None]) -> None:
    """Wake an awaited ask on its loop, from the walking thread (a closed loop has nobody
    left to wake)."""

    def settle() -> None:
        if not answered.done():
            answered.set_result(None)

    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


@dataclass(frozen=True)
class RuntimeImage:
    """What an agent needs to measure itself: where its package lives, and which modules
    and functions its wrapped image consists of (the digests themselves are not used)."""

    root: Path
    layout: PackageMeasurement
    files: dict[str, Path]
    """Where each module's file is: found once, read again at every measurement."""
    bindings: Bindings = field(default_factory=lambda: Bindings(KnownCode(())), compare=False)
    """Which code is genuine (the package's, the standard library's, site-packages') and
    what names are bound to."""
    live: LiveCode = field(default_factory=lambda: LiveCode(KnownCode(())), compare=False)
    """The live code's digests, kept while the modules do not change. Copies of the image
    (`dataclasses.replace`, one per agent watching its own objects) share it, as they share
    `bindings` and `lock`."""
    plugins: tuple[PluginDistribution, ...] = ()
    """The plug-in distributions the agent runs beside its package: their files, as they
    are at each measurement, are parts `plugin:<distribution>` (`secmas.trust.distribution`)."""
    watched: list[weakref.ref[object]] = field(default_factory=list, compare=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    """One measurement at a time: every agent of a process may share this image."""
    walks: SharedWalks = field(default_factory=SharedWalks, compare=False, repr=False)
    """The walks the agents of this process share (`measure`)."""
    code_roots: dict[str, tuple[tuple[tuple[str, str], ...], bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Per module, the (qualname, digest) pairs last hashed into its code part and that
    part: most measurements find them unchanged and skip the root's hashing."""

    @classmethod
    def of(
        cls, manifest: ReferenceManifest, root: Path, plugins: tuple[PluginDistribution, ...] = ()
    ) -> RuntimeImage:
        layout = _package(manifest)
        kept = _kept(root, layout.name)
        return cls(
            root,
            layout,
            kept.files,
            plugins=plugins,
            bindings=kept.bindings,
            live=kept.live,
            lock=kept.lock,
            walks=kept.walks,
            code_roots=kept.code_roots,
        )

    def watch(self, *objects: object) -> None:
        """Measure these agent objects' attributes too (held weakly)."""
        self.watched.extend(weakref.ref(o) for o in objects)

    @staticmethod
    def reference(manifest: ReferenceManifest) -> Measurement:
        """The measurement a genuine agent of this image reports."""
        return reference_measurement(manifest)

    def warm(self) -> None:
        """Measure `WARM_WALKS` times, ahead of the first challenge, so that it costs what
        later ones do: the first walk visits every loaded module (about 0.4–0.6 s), the
        second fills what the first left (about 80 ms), each later one costs only what
        changed since (about 15 ms). Raises what `measure` raises."""
        for _ in range(WARM_WALKS):
            self.measure()

    def measure(self, modules: dict[str, ModuleType] | None = None) -> Measurement:
        """The runtime measurement subroutine: the live code of the loaded modules, the
        code the others would run (compiled from their files now), and the files. Each
        costs what changed since the previous measurement (`LiveCode`, `Bindings`, and
        `source_file` per file version).

        The agents of one process run the same code, so what they measure of the package
        is one walk of it: a measurement asked for while another agent's walk is under
        way waits for the next walk (which begins after it was asked for, so it sees any
        change made meanwhile), and every one waiting then is answered from that walk,
        each with its own objects (`SharedWalks`). `modules` (a given module table) is
        measured on its own."""
        if modules is not None:
            with self.lock:
                return self._with_objects(self._package_parts(modules))
        return self.walks.measure(self)

    async def measured(self, offload: Offload) -> Measurement:
        """`measure()` awaited: the walk runs through `offload`, and an agent waiting
        for it holds no thread (`SharedWalks.measured`)."""
        return await self.walks.measured(self, offload)

    def _with_objects(self, package: dict[str, bytes]) -> Measurement:
        """The package's parts and this agent's own: what is foreign on its objects."""
        return Measurement.of({**package, "bind:objects": problems_digest(self.object_problems())})

    def _walk_of(self) -> tuple[int, ...]:
        """What a walk's package parts depend on, by identity (a plug-in distribution
        holds a dict, and is not hashable): images sharing it share the walk."""
        return id(self.layout), id(self.files), *map(id, self.plugins)

    def _package_parts(self, modules: dict[str, ModuleType] | None = None) -> dict[str, bytes]:
        """Every part but this agent's objects: one walk of the package as loaded now."""
        loaded = {
            name: module
            for name, module in (sys.modules.copy() if modules is None else modules).items()
            if name in self.layout.modules and not _initializing(module)
        }
        sources = {name: _source(self.files.get(name)) for name in self.layout.modules}
        shapes = {name: s.shapes for name, s in sources.items() if s is not None}
        live = self.live.measure(self.layout, loaded, shapes)
        self.bindings.round()
        problems = self.bindings.group_problems("package", list(loaded.values()))
        bound = dict(zip(loaded, problems, strict=True))
        parts: dict[str, bytes] = {}
        for name, source in sources.items():
            file = source.sha256 if source is not None else bytes(32)
            if name in loaded:
                parts[f"code:{name}"] = self._code_part(name, live.modules[name].code)
                parts[f"bind:{name}"] = problems_digest(bound[name])
            else:
                parts[f"code:{name}"] = self._compiled_part(name, source)
                parts[f"bind:{name}"] = CLEAN
            parts[f"file:{name}"] = file
        parts["bind:stdlib"] = problems_digest(self.bindings.stdlib_problems(modules))
        for plugin in self.plugins:
            parts[part_name(plugin.name)] = bytes.fromhex(plugin.root())
        return parts

    def _code_part(self, name: str, code: dict[str, str]) -> bytes:
        """The module's code digest (`ModuleMeasurement.digest`) over `code`."""
        pairs = tuple(code.items())
        kept = self.code_roots.get(name)
        if kept is not None and kept[0] == pairs:
            return kept[1]
        part = bytes.fromhex(ModuleMeasurement(name, code).digest)
        self.code_roots[name] = (pairs, part)
        return part

    def _compiled_part(self, name: str, source: SourceFile | None) -> bytes:
        """The code digest of a module not loaded, from its file as it is now; zeros (never
        the reference) when the file is gone, unreadable or not valid Python."""
        if source is None or source.error is not None:
            return bytes(32)
        return self._code_part(name, source.functions)

    def object_problems(self) -> list[str]:
        """What is foreign on the watched agent objects that are still alive."""
        alive = [o for o in (ref() for ref in self.watched) if o is not None]
        return [p for o in alive for p in self.bindings.instance_problems(o)]


@dataclass(frozen=True)
class _Kept:
    """What the measurements of one package keep in this process from one run to the next:
    the same caches a run keeps between its own challenges, valid as long as the platform
    allow-list they were built against is the one held (`sitelist.held`)."""

    site: PlatformAllowList
    files: dict[str, Path]
    bindings: Bindings
    live: LiveCode
    lock: threading.Lock = field(default_factory=threading.Lock)
    walks: SharedWalks = field(default_factory=SharedWalks)
    code_roots: dict[str, tuple[tuple[tuple[str, str], ...], bytes]] = field(default_factory=dict)


_KEPT: dict[tuple[Path, str], _Kept] = {}
_KEPT_LOCK = threading.Lock()


def _kept(root: Path, package: str) -> _Kept:
    """The caches for `package` under `root`: a run's first measurement then costs what
    changed since the previous run's last one in this process (tests and sweeps run many
    pipelines in one process), not a cold walk of every loaded module."""
    site = held()
    with _KEPT_LOCK:
        kept = _KEPT.get((root, package))
        if kept is None or kept.site is not site:
            known = KnownCode.around((), root, site=site.modules())
            files = module_files(root, package)
            kept = _Kept(site, files, Bindings(known), LiveCode(known))
            _KEPT[(root, package)] = kept
        return kept


def _initializing(module: ModuleType) -> bool:
    """Whether the import system is still running the module's body (another thread may
    be importing it): its functions are not all bound yet, so its file speaks for it."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _source(path: Path | None) -> SourceFile | None:
    """A module file as it is now (measured once per version); None when it is gone or
    unreadable."""
    if path is None:
        return None
    try:
        return source_file(path)
    except OSError:
        return None


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

    async def measured(self, offload: Offload) -> Measurement:
        """`measure()` through `offload`: a native agent's code is its own, no walk to share."""
        return await offload(self.measure)

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
