"""Evidence from a party the agent cannot answer for: the external measurer's log, its
signature and the appraisal of both (issue 21 item 1; Keylime's agent/verifier split).

A measurer runs beside the agents of a host, in its own process with its own Ed25519 key
(`secmas.trust.measurer_probe` reads `/proc`, `secmas.trust.measurer_service` serves it).
On a verifier's challenge it measures the agent's process from outside and answers with a
`SignedEvidence`: an IMA-style event log — the interpreter, every file the process maps,
the executable bytes it has in memory next to the file's bytes, writable-and-executable
or anonymous executable mappings, its command line and the environment variables that
change what Python or the loader runs, start-up hooks (`sitecustomize`, `.pth`) and the
agent package's module files — folded into one aggregate by PCR-style extension
(`aggregate = SHA-256(aggregate ‖ SHA-256(entry))`, from 32 zero bytes, as a TPM extends
a PCR), and the measurer's signature over the verifier's nonce, the PID and that
aggregate. The agent never sees the nonce's answer before it is signed, so an implant
cannot replay a measurement cached before the infection.

`appraise` is the verifier's side, pure computation: signature under the measurer's key,
nonce and PID, the log against its aggregate, then every entry against a
`PlatformReference` that SECaaS signed (interpreter and library digests, directories
whose unlisted libraries are accepted, the `.pth` files a genuine install has) and the
agent image's reference manifest (module file digests).

Decision on a TPM (`swtpm` + `tpm2-tools`, both in Debian 12): not used. A software TPM
is a process on the same host whose state is a file the host's root can read, so a
quote from it is no stronger than this signature; what a TPM adds, a key that never
leaves hardware and PCRs that only the firmware and kernel extend, needs a hardware TPM
(and IMA in the kernel) or a TEE. The log keeps the PCR-extend form so that its
aggregate can be extended into a real TPM's PCR and quoted (Keylime's model) without
changing the appraisal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.transport.nesting import too_deep

EVIDENCE_FORMAT = "secmas.measurer-evidence/1"
REFERENCE_FORMAT = "secmas.platform-reference/1"
_EVIDENCE_DOMAIN = b"secmas/measurer-evidence/1\x00"
_REFERENCE_DOMAIN = b"secmas/platform-reference/1\x00"
_ENTRY_DOMAIN = b"secmas/measurer-entry/1\x00"
MAX_DEPTH = 8  # evidence → entries → entry → argv
NONCE_BYTES = 32

KINDS = (
    "exe", "file", "text", "relro", "wx", "anon-exec", "cmdline", "env", "hook", "module", "shadow",
)  # fmt: skip
"""Event kinds, in the order a measurement records them."""

RISKY_ENVIRONMENT = (
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "PYTHONBREAKPOINT",
)
"""Variables that change what the loader or the interpreter runs: recorded when set."""


class MeasurerError(ValueError):
    """Evidence or a reference that cannot be parsed, or a process that cannot be measured."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""`json.dumps(..., sort_keys=True, separators=(",", ":"))` with its encoder made once: a
log has hundreds of entries, and `dumps` builds an encoder per call for these options."""


@dataclass(frozen=True)
class LogEntry:
    """One measured event: its kind, what it is about, and the facts as strings."""

    kind: str
    subject: str
    facts: tuple[tuple[str, str], ...] = ()

    def fact(self, name: str) -> str | None:
        return dict(self.facts).get(name)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "subject": self.subject, "facts": dict(self.facts)}

    def encode(self) -> bytes:
        """Canonical JSON: what the aggregate extends with."""
        return _CANONICAL.encode(self.to_json()).encode()

    @classmethod
    def of(cls, kind: str, subject: str, **facts: str) -> LogEntry:
        return cls(kind, subject, tuple(sorted(facts.items())))

    @classmethod
    def from_json(cls, data: object) -> LogEntry:
        if not isinstance(data, dict):
            raise MeasurerError("log entry must be an object")
        kind, subject, facts = data.get("kind"), data.get("subject"), data.get("facts", {})
        if kind not in KINDS or not isinstance(subject, str) or not isinstance(facts, dict):
            raise MeasurerError(f"log entry {str(data)[:80]!r}: bad kind, subject or facts")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in facts.items()):
            raise MeasurerError(f"log entry {subject!r}: facts must map strings to strings")
        return cls(kind, subject, tuple(sorted(facts.items())))


def extend(aggregate: bytes, entry: LogEntry) -> bytes:
    """PCR-style extension: SHA-256(aggregate ‖ SHA-256(domain ‖ entry))."""
    return hashlib.sha256(
        aggregate + hashlib.sha256(_ENTRY_DOMAIN + entry.encode()).digest()
    ).digest()


def aggregate_of(entries: Iterable[LogEntry]) -> bytes:
    """The aggregate of a whole log, from 32 zero bytes."""
    value = bytes(32)
    for entry in entries:
        value = extend(value, entry)
    return value


def _evidence_message(measurer: str, pid: int, nonce: bytes, aggregate: bytes) -> bytes:
    name = measurer.encode()
    return (
        _EVIDENCE_DOMAIN
        + nonce
        + pid.to_bytes(8, "big")
        + aggregate
        + len(name).to_bytes(2, "big")
        + name
    )


@dataclass(frozen=True)
class SignedEvidence:
    """A measurer's answer: the log of one process, its aggregate, the signature."""

    measurer: str
    pid: int
    nonce: bytes
    entries: tuple[LogEntry, ...]
    aggregate: bytes
    signature: bytes

    @classmethod
    def sign(
        cls,
        key: Ed25519PrivateKey,
        measurer: str,
        pid: int,
        nonce: bytes,
        entries: Sequence[LogEntry],
    ) -> SignedEvidence:
        aggregate = aggregate_of(entries)
        signature = key.sign(_evidence_message(measurer, pid, nonce, aggregate))
        return cls(measurer, pid, nonce, tuple(entries), aggregate, signature)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the signed message and signature (what a ledger record can hold)."""
        message = _evidence_message(self.measurer, self.pid, self.nonce, self.aggregate)
        return hashlib.sha256(message + self.signature).digest()

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        message = _evidence_message(self.measurer, self.pid, self.nonce, self.aggregate)
        try:
            public_key.verify(self.signature, message)
        except InvalidSignature:
            return False
        return True

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": EVIDENCE_FORMAT,
                "measurer": self.measurer,
                "pid": self.pid,
                "nonce": self.nonce.hex(),
                "entries": [e.to_json() for e in self.entries],
                "aggregate": self.aggregate.hex(),
                "signature": self.signature.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> SignedEvidence:
        frame = _frame(data, EVIDENCE_FORMAT)
        pid, entries, measurer = frame.get("pid"), frame.get("entries"), frame.get("measurer")
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
            raise MeasurerError("field 'pid' missing or not a process id")
        if not isinstance(entries, list):
            raise MeasurerError("field 'entries' missing or not a list")
        if not isinstance(measurer, str) or not measurer:
            raise MeasurerError("field 'measurer' missing or not a string")
        return cls(
            measurer,
            pid,
            _hex(frame, "nonce", NONCE_BYTES),
            tuple(LogEntry.from_json(e) for e in entries),
            _hex(frame, "aggregate", 32),
            _hex(frame, "signature", 64),
        )


def _frame(data: bytes, expected: str) -> dict[str, Any]:
    try:
        text = data.decode()
        if too_deep(text, MAX_DEPTH):
            raise MeasurerError(f"JSON nested more than {MAX_DEPTH} levels deep")
        frame = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MeasurerError(f"not JSON: {exc}") from None
    if not isinstance(frame, dict) or frame.get("format") != expected:
        raise MeasurerError(f"not a {expected} frame")
    return frame


def _hex(frame: Mapping[str, Any], key: str, size: int) -> bytes:
    try:
        value = bytes.fromhex(frame[key])
    except (KeyError, TypeError, ValueError):
        raise MeasurerError(f"field {key!r} missing or not hex") from None
    if len(value) != size:
        raise MeasurerError(f"field {key!r} must be {size} bytes, got {len(value)}")
    return value


@dataclass(frozen=True)
class PlatformReference:
    """What SECaaS vouches for on a host: file digests (the interpreter, shared libraries,
    native agents), directories whose other libraries are accepted, the `.pth` files and
    environment a genuine install has, and who signed it."""

    interpreter: str
    files: dict[str, str]
    trusted_dirs: tuple[str, ...]
    hooks: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    public_key: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        data = {
            "format": REFERENCE_FORMAT,
            "interpreter": self.interpreter,
            "files": self.files,
            "trusted_dirs": list(self.trusted_dirs),
            "hooks": self.hooks,
            "environment": self.environment,
            "public_key": self.public_key,
        }
        return _REFERENCE_DOMAIN + _CANONICAL.encode(data).encode()

    def sign(self, key: Ed25519PrivateKey) -> PlatformReference:
        public = key.public_key().public_bytes_raw().hex()
        unsigned = PlatformReference(
            self.interpreter, self.files, self.trusted_dirs, self.hooks, self.environment, public
        )
        return PlatformReference(
            **{**unsigned.__dict__, "signature": key.sign(unsigned.signed_bytes()).hex()}
        )

    def signed_by(self, trusted: Ed25519PublicKey) -> bool:
        if self.public_key != trusted.public_bytes_raw().hex() or not self.signature:
            return False
        try:
            trusted.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Expectation:
    """What one appraisal expects: the challenge's nonce and the measured process, the
    agent image's module file digests (`module name → SHA-256`, from its manifest) and,
    optionally, how its command line must start."""

    nonce: bytes
    pid: int
    modules: Mapping[str, str]
    argv_prefix: tuple[str, ...] = ()
    shared_with_jit: bool = False
    """The process is the run's own (every agent in one process) and may host a JIT the
    run loaded itself: PyTorch's oneDNN and numba's LLVM write code into writable and
    executable pages. When such a library is mapped, those pages cannot be told from an
    implant's, so they are noted, not failed; an agent process of its own never gets this."""


@dataclass(frozen=True)
class MeasurerAppraisal:
    """The verdict on a measurer's evidence, every reason when it fails."""

    passed: bool
    reasons: tuple[str, ...]
    digest: bytes = bytes(32)
    notes: tuple[str, ...] = ()
    """Findings the expectation tolerates (W+X pages of a JIT in a shared run process)."""


def appraise(
    evidence: SignedEvidence,
    reference: PlatformReference,
    measurer_key: Ed25519PublicKey,
    expected: Expectation,
    secaas_key: Ed25519PublicKey,
) -> MeasurerAppraisal:
    """The verifier's check of external evidence against the signed references."""
    reasons = _authenticity(evidence, reference, measurer_key, expected, secaas_key)
    notes: list[str] = []
    if not reasons:
        jit = expected.shared_with_jit and _maps_a_jit(evidence.entries)
        for entry in evidence.entries:
            problems = _entry_problems(entry, reference, expected)
            tolerated = jit and entry.kind in ("wx", "anon-exec")
            (notes if tolerated else reasons).extend(problems)
        reasons += _missing_modules(evidence.entries, expected.modules)
    return MeasurerAppraisal(not reasons, tuple(reasons), evidence.digest, tuple(notes))


JIT_LIBRARIES = ("libtorch_cpu.so", "libllvmlite.so")
"""Libraries whose JIT maps code writable and executable (oneDNN's xbyak, LLVM's MCJIT)."""


def _maps_a_jit(entries: Sequence[LogEntry]) -> bool:
    return any(
        e.kind == "file" and e.subject.rsplit("/", 1)[-1].startswith(JIT_LIBRARIES) for e in entries
    )


def _authenticity(
    evidence: SignedEvidence,
    reference: PlatformReference,
    measurer_key: Ed25519PublicKey,
    expected: Expectation,
    secaas_key: Ed25519PublicKey,
) -> list[str]:
    if not reference.signed_by(secaas_key):
        return ["platform reference not signed by the trusted SECaaS key"]
    if not evidence.signed_by(measurer_key):
        return ["evidence not signed by the host's measurer"]
    if evidence.nonce != expected.nonce:
        return ["evidence answers another challenge (nonce)"]
    if evidence.pid != expected.pid:
        return [f"evidence about process {evidence.pid}, challenged {expected.pid}"]
    if aggregate_of(evidence.entries) != evidence.aggregate:
        return ["event log does not extend to the signed aggregate"]
    kinds = {e.kind for e in evidence.entries}
    if not {"exe", "cmdline", "module"} <= kinds:
        return ["event log lacks the interpreter, command line or module files"]
    return []


def _entry_problems(
    entry: LogEntry, reference: PlatformReference, expected: Expectation
) -> list[str]:
    kind, subject = entry.kind, entry.subject
    if kind == "exe":
        return (
            []
            if entry.fact("sha256") == reference.interpreter
            else [f"interpreter {subject} differs"]
        )
    if kind == "file":
        return _file_problem(subject, entry.fact("sha256"), reference)
    if kind == "text":
        same = entry.fact("memory") == entry.fact("file")
        return [] if same else [f"code in memory differs from {subject}"]
    if kind == "relro":
        if entry.fact("memory") != entry.fact("file"):
            return [f"relocated data of {subject} differs from what the loader writes"]
        stray = entry.fact("stray")
        return [] if stray == "0" else [f"{stray} symbol slots of {subject} point outside images"]
    if kind in ("wx", "anon-exec"):
        return [f"{kind} mapping {subject} {entry.fact('perms') or ''}".rstrip()]
    if kind == "env":
        value = entry.fact("value")
        allowed = reference.environment.get(subject)
        return [] if allowed is not None and allowed == value else [f"environment {subject} set"]
    if kind == "hook":
        same = reference.hooks.get(subject) == entry.fact("sha256")
        return [] if same else [f"start-up hook {subject}"]
    if kind == "module":
        digest = expected.modules.get(subject)
        return [] if digest == entry.fact("sha256") else [f"module file of {subject} differs"]
    if kind == "shadow":
        return [f"{subject} shadows the agent package"]
    if kind == "cmdline":
        argv = tuple(json.loads(entry.fact("argv") or "[]"))
        prefix = expected.argv_prefix
        return [] if argv[: len(prefix)] == prefix else [f"command line {' '.join(argv)[:120]}"]
    return [f"unknown event {kind}"]


def _file_problem(path: str, digest: str | None, reference: PlatformReference) -> list[str]:
    if path.endswith(" (deleted)"):
        return [f"maps a deleted file {path}"]
    listed = reference.files.get(path)
    if listed is not None:
        return [] if listed == digest else [f"mapped file {path} differs from its reference"]
    if any(path.startswith(d.rstrip("/") + "/") for d in reference.trusted_dirs):
        return []
    return [f"maps {path}, outside the trusted directories"]


def _missing_modules(entries: Iterable[LogEntry], modules: Mapping[str, str]) -> list[str]:
    measured = {e.subject for e in entries if e.kind == "module"}
    return [f"module file of {m} missing" for m in sorted(modules.keys() - measured)]


def module_digests(entries: Mapping[str, str]) -> dict[str, str]:
    """`module → file SHA-256` from a Python reference manifest's entries."""
    return {name: digest for name, digest in entries.items() if ":" not in name}
