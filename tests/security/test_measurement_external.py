"""Implants against measurement by a party the agent cannot answer for.

The victim is a real Python process running an agent package; the measurer is another
process (this test's, or the service the IML driver starts) that reads the victim from
`/proc` and signs what it saw. Each attack is run as the adversary would — a measurement
cached before the infection, forged or altered evidence, an implant that arrives through
PYTHONPATH and `sitecustomize`, LD_PRELOAD, shellcode in a writable-and-executable page,
libc's code patched in memory, a GOT slot pointed at the implant's page, a module file
rewritten on disk, a package shadowing the genuine one — and each must fail the appraisal.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.allowlist import agent_environment
from secmas.trust.measurer import (
    Expectation,
    LogEntry,
    MeasurerAppraisal,
    PlatformReference,
    SignedEvidence,
    appraise,
    module_digests,
)
from secmas.trust.measurer_probe import Measurer, _image_ranges, platform_reference
from secmas.trust.measurer_service import ExternalVerifier, HostMeasurer
from secmas.trust.procmem import Region
from secmas.trust.wrap import wrap

PACKAGE = "victim_pkg"
CORE = """\
import hmac


class Agent:
    def check(self, tag, expected):
        return hmac.compare_digest(tag, expected)
"""

VICTIM = """\
import sys
import {package}.core
{attack}
print("ready", flush=True)
for line in sys.stdin:  # a later attack, once measured (`Host.later`)
    exec(eval(line))
    print("done", flush=True)
"""

# Persists through PYTHONPATH: patches the agent and keeps the genuine measurement it
# took before, to answer every self-measurement with it.
SITECUSTOMIZE = """\
import hashlib, importlib, os, pathlib, sys
sys.path.insert(0, os.getcwd())
_core = importlib.import_module("{package}.core")
CACHED = hashlib.sha256(pathlib.Path(_core.__file__).read_bytes()).hexdigest()
_core.Agent.check = lambda self, tag, expected: True
"""

WX_SHELLCODE = """\
import mmap
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(b"\\x90" * 15 + b"\\xc3")
"""

LIBC_PATCH = """\
import ctypes, mmap
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
target = ctypes.cast(libc.l64a, ctypes.c_void_p).value
page = target & ~(mmap.PAGESIZE - 1)
assert libc.mprotect(page, mmap.PAGESIZE, 7) == 0
ctypes.memmove(target, b"\\xc3", 1)
assert libc.mprotect(page, mmap.PAGESIZE, 5) == 0
"""

# Points a GOT slot of libz (in its RELRO, read-only after relocation) at a page of its
# own, as a hook would: mprotect, write, mprotect back.
GOT_HIJACK = """\
import ctypes, mmap, zlib
from pathlib import Path
from secmas.trust.elf import measure_relro
library = next(line.split()[-1] for line in open("/proc/self/maps") if "libz.so" in line)
layout, relro, _ = measure_relro(Path(library))
first = next(s for s in layout.segments if s.type == 1)
start = next(
    int(line.split("-")[0], 16) for line in open("/proc/self/maps")
    if line.split()[-1] == library and int(line.split()[2], 16) == first.offset & ~4095
)
slot = start - (first.address & ~4095) + min(relro.pointers)
hook = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
target = ctypes.addressof(ctypes.c_char.from_buffer(hook))
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
page = slot & ~(mmap.PAGESIZE - 1)
assert libc.mprotect(page, mmap.PAGESIZE, 3) == 0
ctypes.c_uint64.from_address(slot).value = target
assert libc.mprotect(page, mmap.PAGESIZE, 1) == 0
"""


@dataclass
class Host:
    """One host: SECaaS's key and signed references, the measurer, the agent package."""

    root: Path
    secaas: Ed25519PrivateKey
    reference: PlatformReference
    measurer: Measurer
    modules: dict[str, str]
    victims: list[subprocess.Popen[bytes]]

    def start(
        self, attack: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        script = VICTIM.format(package=PACKAGE, attack=attack)
        return self.spawn(["-c", script], env, cwd)

    def spawn(
        self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        """A victim started with `argv` after the interpreter; its PID once it is ready."""
        clean = agent_environment(os.environ)  # as the launchers hand it to an agent
        victim = subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd or self.root.parent,
            env={**clean, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.victims.append(victim)
        assert victim.stdout is not None
        assert victim.stdout.readline() == b"ready\n", "the victim did not start"
        return victim.pid

    def later(self, pid: int, attack: str) -> None:
        """Run `attack` in the victim now (after it was measured)."""
        victim = next(v for v in self.victims if v.pid == pid)
        assert victim.stdin is not None and victim.stdout is not None
        victim.stdin.write(repr(attack).encode() + b"\n")
        victim.stdin.flush()
        assert victim.stdout.readline() == b"done\n", "the attack did not run"

    def expect(self, pid: int, nonce: bytes) -> Expectation:
        return Expectation(nonce, pid, self.modules)

    def attest(self, pid: int) -> MeasurerAppraisal:
        nonce = secrets.token_bytes(32)
        evidence = self.measurer.measure(pid, nonce)
        return self.appraise(evidence, self.expect(pid, nonce))

    def appraise(self, evidence: SignedEvidence, expected: Expectation) -> MeasurerAppraisal:
        key = self.measurer.key.public_key()
        return appraise(evidence, self.reference, key, expected, self.secaas.public_key())


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    root = tmp_path / "install" / PACKAGE
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "core.py").write_text(CORE)
    monkeypatch.syspath_prepend(str(root.parent))
    secaas = Ed25519PrivateKey.generate()
    modules = module_digests(wrap(root, secaas).entries)
    measurer = Measurer("host-1", Ed25519PrivateKey.generate(), (PACKAGE,))
    host = Host(root, secaas, platform_reference(secaas), measurer, modules, [])
    try:
        yield host
    finally:
        for victim in host.victims:
            victim.kill()
            victim.wait()


def failed_because(appraisal: MeasurerAppraisal, text: str) -> bool:
    return not appraisal.passed and any(text in reason for reason in appraisal.reasons)


def test_a_genuine_agent_passes(host: Host) -> None:
    appraisal = host.attest(host.start())
    assert appraisal.passed, appraisal.reasons


def test_a_measurement_cached_before_infection_is_refused(host: Host) -> None:
    pid = host.start()
    cached = host.measurer.measure(pid, secrets.token_bytes(32))  # a genuine answer, kept
    fresh = secrets.token_bytes(32)
    assert failed_because(host.appraise(cached, host.expect(pid, fresh)), "another challenge")


def test_evidence_signed_by_anyone_but_the_measurer_is_refused(host: Host) -> None:
    pid = host.start(WX_SHELLCODE)
    nonce = secrets.token_bytes(32)
    genuine = host.measurer.measure(pid, nonce)
    clean = [e for e in genuine.entries if e.kind != "wx"]
    forged = SignedEvidence.sign(Ed25519PrivateKey.generate(), "host-1", pid, nonce, clean)
    assert failed_because(host.appraise(forged, host.expect(pid, nonce)), "not signed")


def test_an_entry_dropped_from_a_signed_log_is_refused(host: Host) -> None:
    pid = host.start(WX_SHELLCODE)
    nonce = secrets.token_bytes(32)
    genuine = host.measurer.measure(pid, nonce)
    trimmed = replace(genuine, entries=tuple(e for e in genuine.entries if e.kind != "wx"))
    assert failed_because(host.appraise(trimmed, host.expect(pid, nonce)), "aggregate")


def test_evidence_about_another_process_is_refused(host: Host) -> None:
    genuine_pid, infected_pid = host.start(), host.start(WX_SHELLCODE)
    nonce = secrets.token_bytes(32)
    evidence = host.measurer.measure(genuine_pid, nonce)
    assert failed_because(host.appraise(evidence, host.expect(infected_pid, nonce)), "process")


def test_an_implant_through_pythonpath_and_sitecustomize_is_caught(
    host: Host, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sitecustomize.py").write_text(SITECUSTOMIZE.format(package=PACKAGE))
    pid = host.start(f"assert {PACKAGE}.core.Agent().check(b'forged', b'tag')", {
        "PYTHONPATH": str(drop)})  # fmt: skip
    appraisal = host.attest(pid)
    assert failed_because(appraisal, "environment PYTHONPATH set")
    assert failed_because(appraisal, f"start-up hook {drop / 'sitecustomize.py'}")


def test_ld_preload_is_caught(host: Host) -> None:
    library = next(p for p in Path("/usr/lib").rglob("libz.so.1") if p.is_file())
    appraisal = host.attest(host.start(env={"LD_PRELOAD": str(library)}))
    assert failed_because(appraisal, "environment LD_PRELOAD set")


def test_shellcode_in_a_writable_executable_page_is_caught(host: Host) -> None:
    assert failed_because(host.attest(host.start(WX_SHELLCODE)), "wx mapping")


def test_libc_code_patched_in_memory_is_caught(host: Host) -> None:
    appraisal = host.attest(host.start(LIBC_PATCH))
    assert failed_because(appraisal, "code in memory differs from")
    assert any("libc.so.6" in reason for reason in appraisal.reasons)


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        (LIBC_PATCH, "code in memory differs from"),
        (GOT_HIJACK, "symbol slots of"),
        (WX_SHELLCODE, "wx mapping"),
    ],
    ids=["libc-text", "got", "wx"],
)
def test_an_attack_after_a_first_measurement_is_caught(
    host: Host, attack: str, reason: str
) -> None:
    # The measurer keeps what it saw (file digests, RELRO bytes, which pages are the
    # file's); what changes after it looked must still show.
    pid = host.start()
    assert host.attest(pid).passed
    assert host.attest(pid).passed
    host.later(pid, attack)
    assert failed_because(host.attest(pid), reason)


SHARED_DATA = """\
import mmap, os
fd = os.open("{path}", os.O_CREAT | os.O_RDWR)
os.ftruncate(fd, mmap.PAGESIZE)
shared = mmap.mmap(fd, mmap.PAGESIZE, flags=mmap.MAP_SHARED)
shared[0] = 1
"""


def test_shared_data_a_genuine_agent_maps_is_not_code(host: Host, tmp_path: Path) -> None:
    # A multiprocessing semaphore is a shared mapping of a file in /dev/shm whose bytes
    # change whenever it is taken: data, not an image to measure.
    path = tmp_path / "sem.shared"
    pid = host.start(SHARED_DATA.format(path=path))
    assert host.attest(pid).passed
    host.later(pid, "shared[0] = 2")
    assert host.attest(pid).passed


def test_a_got_slot_hijacked_in_memory_is_caught(host: Host) -> None:
    appraisal = host.attest(host.start(GOT_HIJACK))
    assert failed_because(appraisal, "symbol slots of")
    assert any("libz.so" in reason for reason in appraisal.reasons)


def test_a_module_file_rewritten_on_disk_is_caught(host: Host) -> None:
    pid = host.start()
    (host.root / "core.py").write_text(CORE.replace("hmac.compare_digest(tag, expected)", "True"))
    assert failed_because(host.attest(pid), f"module file of {PACKAGE}.core differs")


def test_a_package_shadowing_the_genuine_one_is_caught(host: Host, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    (evil / PACKAGE).mkdir(parents=True)
    (evil / PACKAGE / "__init__.py").write_text("")
    (evil / PACKAGE / "core.py").write_text(CORE.replace("hmac.compare_digest", "bool"))
    appraisal = host.attest(host.start(cwd=evil))
    assert failed_because(appraisal, "shadows the agent package")


def test_a_platform_reference_signed_by_anyone_else_is_refused(host: Host) -> None:
    pid = host.start(WX_SHELLCODE)
    mallory = Ed25519PrivateKey.generate()
    host.reference = replace(host.reference, files={}).sign(mallory)
    assert failed_because(host.attest(pid), "platform reference not signed")


def test_a_log_entry_outside_the_known_kinds_does_not_parse() -> None:
    with pytest.raises(ValueError, match="bad kind"):
        LogEntry.from_json({"kind": "trust-me", "subject": "x", "facts": {}})


def test_the_host_service_measures_from_its_own_process(host: Host, tmp_path: Path) -> None:
    service = HostMeasurer.start(tmp_path, "host-1", ("secmas",))
    try:
        root = Path(sys.modules["secmas"].__file__ or "").parent
        verifier = ExternalVerifier(
            service.client,
            host.reference,
            host.secaas.public_key(),
            module_digests(wrap(root, host.secaas).entries),
        )
        genuine, infected = host.start("import secmas"), host.start(WX_SHELLCODE)
        assert service.process.pid not in (genuine, infected)
        passed = asyncio.run(verifier.check(genuine))
        assert passed.passed, passed.reasons
        assert failed_because(asyncio.run(verifier.check(infected)), "wx mapping")
        gone = asyncio.run(verifier.check(2**22 + 7))
        assert not gone.passed and "cannot read process" in gone.reasons[0]
    finally:
        service.stop()
    assert json.loads(json.dumps(passed.reasons)) == []


IN_PROCESS_RUN = """\
import asyncio, mmap, os, sys
from secmas.network.clock import VirtualClock
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus
{jit}

async def scenario():
    bus = MemoryBus()
    pipeline = await bring_up(
        "outside", ["a1", "a2", "a3"], bus, VirtualClock(), Security(), measure_from_outside=True
    )
    try:
        entries = pipeline.mlfo.entries
        assert all(e.passed for e in entries), [e.reasons for e in entries]
        assert pipeline.mlfo.external.host.process.pid != os.getpid()
        prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
        shellcode = {implant}
        try:
            entry = await pipeline.mlfo.chain.step()
        finally:
            shellcode and shellcode.close()
        print("passed" if entry.passed else "failed", entry.reasons)
        print("tolerated", pipeline.report(0.0)["external_measurement"]["tolerated"])
    finally:
        await pipeline.close()
        await bus.close()

asyncio.run(asyncio.wait_for(scenario(), 300))
"""

# PyTorch's oneDNN compiles an LSTM's kernels into writable-and-executable pages.
TORCH_JIT = """\
import torch
torch.set_num_threads(1)
torch.nn.LSTM(8, 16)(torch.randn(5, 4, 8))
"""


SHARED_SHELLCODE = "mmap.mmap(-1, mmap.PAGESIZE, prot=prot)"
PRIVATE_SHELLCODE = "mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE, prot=prot)"


def _in_process_run(jit: str, implant: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS_RUN.format(jit=jit, implant=implant)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_an_in_process_run_is_measured_by_a_measurer_process_of_its_own() -> None:
    """All agents in one process (a fresh one: no JIT loaded): the run's measurer (another
    process) measures it, and a writable-and-executable page an implant maps there fails the
    next step, whatever the agents' own evidence says."""
    for implant in (SHARED_SHELLCODE, PRIVATE_SHELLCODE):
        out = _in_process_run("", implant)
        assert out.startswith("failed") and "external measurement: wx mapping" in out, out


def test_jit_pages_of_the_run_process_are_noted_not_failed() -> None:
    """The run process hosts PyTorch's JIT: its W+X pages cannot be told from an implant's,
    so the appraisal notes them (docs/guides/trust.md says so, under what a software root of
    trust cannot guarantee) instead of revoking every agent of the run. Executable shared
    memory is still no JIT's and still fails."""
    out = _in_process_run(TORCH_JIT, "None")
    assert out.startswith("passed"), out
    assert "tolerated ['wx mapping" in out, out
    out = _in_process_run(TORCH_JIT, SHARED_SHELLCODE)
    assert out.startswith("failed") and "maps a deleted file /dev/zero" in out, out


def test_a_dedicated_agent_process_gets_no_jit_allowance(host: Host) -> None:
    """Mapping PyTorch does not buy an agent process of its own the JIT allowance."""
    appraisal = host.attest(host.start(TORCH_JIT + WX_SHELLCODE))
    assert failed_because(appraisal, "wx mapping")


def test_a_hook_page_placed_right_after_an_image_is_not_taken_for_its_bss() -> None:
    """The GOT hijack's hook lives in an anonymous page; when the kernel places it right
    after a library's last mapping, it used to count as that library's .bss (in about one
    run in three), and the hijacked slot passed as pointing inside an image."""
    libz = "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"
    data = Region(0x7F0000001000, 0x7F0000002000, "rw-p", 0x1000, 1, 7, libz)
    bss = Region(0x7F0000002000, 0x7F0000003000, "rw-p", 0, 0, 0, "")
    hook = Region(0x7F0000003000, 0x7F0000004000, "rw-p", 0, 0, 0, "")
    legacy = _image_ranges([data, merged(bss, hook)])
    assert legacy[-1] == (bss.start, hook.end)  # layout unknown: the whole mapping
    bounded = _image_ranges([data, merged(bss, hook)], {libz: bss.end})
    assert bounded[-1] == (bss.start, bss.end)  # its ELF ends there: the hook is outside
    assert _image_ranges([data, hook], {libz: data.end}) == [(data.start, data.end)]


def merged(first: Region, second: Region) -> Region:
    """One anonymous mapping covering both (the kernel merges adjacent ones)."""
    return Region(first.start, second.end, first.perms, 0, 0, 0, "")
