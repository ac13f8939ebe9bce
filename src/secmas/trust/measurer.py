"""Evidence from a party the agent cannot answer for: the external measurer's log, its
signature and the appraisal of both (Keylime's agent/verifier split).

A measurer runs beside the agents of a host, in its own process with its own Ed25519 key
(`secmas.trust.measurer_probe` reads `/proc`, `secmas.trust.measurer_service` serves it).
On a verifier's challenge it measures the agent's process from outside and answers with a
`SignedEvidence`: an IMA-style event log — the interpreter, every file the process maps,
the executable bytes it has in memory next to the file's bytes, writable-and-executable
or anonymous executable mappings, its command line and its environment variables (names,
values only as digests), start-up hooks (`sitecustomize`, `.pth`) and the agent
package's module files — folded into one aggregate by PCR-style extension
(`aggregate = SHA-256(aggregate ‖ SHA-256(entry))`, from 32 zero bytes, as a TPM extends
a PCR), and the measurer's signature over the verifier's nonce, the PID and that
aggregate. The agent never sees the nonce's answer before it is signed, so an implant
cannot replay a measurement cached before the infection.

`appraise` is the verifier's side, pure computation: signature under the measurer's key,
nonce and PID, the log against its aggregate, then every entry against a
`PlatformReference` that SECaaS signed (the interpreter's digest and that of every
shared object the host's install vouches for, the `.pth` files a genuine install has, the
names of the variables an agent's environment may hold) and the agent image's reference
manifest (module file digests). Everything is by allow-list (`secmas.trust.allowlist`,
`secmas.trust.libraries`): a file the reference does not list by its digest, a variable
it does not name, a command line of another shape fail the verdict, whatever loaded them.

A TPM, where one is configured (`secmas.trust.tpm`: swtpm in tests, the host's own in
deployment), takes the Ed25519 file out of the attack that reads it: the measurer extends
each measurement's aggregate into a PCR and its evidence carries the TPM's quote of that PCR
by an attestation key the IML driver made in the TPM before the measurer started (Keylime's
model). `appraise`, given that key (`TpmAnchor`), also requires the quote
(`secmas.trust.tpmquote`): signed by the registered key, answering this challenge,
of the value the log replays to. The key's private part never leaves the TPM and its
authorisation lives only in the measurer's memory, so an agent holding the stolen Ed25519
key still has no quote for the log it forges. This reverses the earlier decision not to
use one: a software TPM is still a process whose state its user can read, and root (or a
process that can ptrace the measurer) can still use the key through the measurer, so
against those the guarantee needs a hardware TPM and agents under another user. Without
a TPM the signature alone vouches for the log, as before.
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
from secmas.trust.allowlist import Command
from secmas.trust.signed import SignedDocument
from secmas.trust.tpmquote import QuoteError, TpmAnchor, TpmQuote, qualifying_data, quote_problems

EVIDENCE_FORMAT = "secmas.measurer-evidence/1"
REFERENCE_FORMAT = "secmas.platform-reference/2"
_EVIDENCE_DOMAIN = b"secmas/measurer-evidence/1\x00"
_REFERENCE_DOMAIN = b"secmas/platform-reference/2\x00"
_ENTRY_DOMAIN = b"secmas/measurer-entry/1\x00"
MAX_DEPTH = 8  # evidence → entries → entry → argv
NONCE_BYTES = 32

KINDS = (
    "exe", "file", "text", "relro", "wx", "anon-exec", "cmdline", "env", "hook", "module", "shadow",
)  # fmt: skip
"""Event kinds, in the order a measurement records them."""


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
    """A measurer's answer: the log of one process, its aggregate, the signature, and the
    TPM's quote of the aggregate where the measurer has a TPM."""

    measurer: str
    pid: int
    nonce: bytes
    entries: tuple[LogEntry, ...]
    aggregate: bytes
    signature: bytes
    quote: TpmQuote | None = None

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
        frame: dict[str, object] = {
            "format": EVIDENCE_FORMAT,
            "measurer": self.measurer,
            "pid": self.pid,
            "nonce": self.nonce.hex(),
            "entries": [e.to_json() for e in self.entries],
            "aggregate": self.aggregate.hex(),
            "signature": self.signature.hex(),
        }
        if self.quote is not None:
            frame["quote"] = self.quote.to_json()
        return json.dumps(frame).encode()

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
            _quote(frame),
        )


def _quote(frame: Mapping[str, Any]) -> TpmQuote | None:
    if "quote" not in frame:
        return None
    try:
        return TpmQuote.from_json(frame["quote"])
    except QuoteError as exc:
        raise MeasurerError(f"field 'quote': {exc}") from None


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
class PlatformReference(SignedDocument):
    """What SECaaS vouches for on a host, each by allow-list: the interpreter's digest,
    every file an agent may map (path → SHA-256: shared libraries, extension modules,
    locale data, native agents), the `.pth` files a genuine install has, the names of the
    variables an agent's environment may hold, and who signed it."""

    interpreter: str
    files: dict[str, str]
    hooks: dict[str, str] = field(default_factory=dict)
    variables: frozenset[str] = frozenset()
    public_key: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        data = {
            "format": REFERENCE_FORMAT,
            "interpreter": self.interpreter,
            "files": self.files,
            "hooks": self.hooks,
            "variables": sorted(self.variables),
            "public_key": self.public_key,
        }
        return _REFERENCE_DOMAIN + _CANONICAL.encode(data).encode()


@dataclass(frozen=True)
class Expectation:
    """What one appraisal expects: the challenge's nonce and the measured process, the
    agent image's module file digests (`module name → SHA-256`, from its manifest) and,
    for an agent's own process, the shape its command line must have (None: not checked,
    the run's own process runs its user's command)."""

    nonce: bytes
    pid: int
    modules: Mapping[str, str]
    command: Command | None = None
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
    measurer_down: bool = False
    """No evidence came back because the measurer did not answer (stopped, hung, gone):
    the process is unmeasured, not found wanting (`measurer_service.MeasurerDown`)."""


def appraise(
    evidence: SignedEvidence,
    reference: PlatformReference,
    measurer_key: Ed25519PublicKey,
    expected: Expectation,
    secaas_key: Ed25519PublicKey,
    *,
    tpm: TpmAnchor | None = None,
) -> MeasurerAppraisal:
    """The verifier's check of external evidence against the signed references; with
    `tpm` (the measurer's AK and PCR registered at enrolment), of its TPM quote too."""
    reasons = _authenticity(
        evidence, reference, measurer_key, expected, secaas_key
    ) or _quote_problems(evidence, expected, tpm)
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


def _quote_problems(
    evidence: SignedEvidence, expected: Expectation, tpm: TpmAnchor | None
) -> list[str]:
    """With a TPM registered for the measurer: its quote must vouch for this log, for this
    challenge (an authentic signature alone may be by a stolen key)."""
    if tpm is None:
        return []
    if evidence.quote is None:
        return ["no TPM quote, and this measurer's evidence must carry one"]
    qualifying = qualifying_data(evidence.measurer, expected.pid, expected.nonce)
    return quote_problems(evidence.quote, tpm, qualifying, aggregate_of(evidence.entries))


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
        allowed = subject in reference.variables
        return [] if allowed else [f"environment {subject} set, not on the allow-list"]
    if kind == "hook":
        same = reference.hooks.get(subject) == entry.fact("sha256")
        return [] if same else [f"start-up hook {subject}"]
    if kind == "module":
        digest = expected.modules.get(subject)
        return [] if digest == entry.fact("sha256") else [f"module file of {subject} differs"]
    if kind == "shadow":
        return [f"{subject} shadows the agent package"]
    if kind == "cmdline":
        return _command_problems(entry, expected.command)
    return [f"unknown event {kind}"]


def _file_problem(path: str, digest: str | None, reference: PlatformReference) -> list[str]:
    if path.endswith(" (deleted)"):
        return [f"maps a deleted file {path}"]
    listed = reference.files.get(path)
    if listed is None:
        return [f"maps {path}, which the platform reference does not list"]
    return [] if listed == digest else [f"mapped file {path} differs from its reference"]


def _command_problems(entry: LogEntry, command: Command | None) -> list[str]:
    """The command line against the shape expected of it (`secmas.trust.allowlist`)."""
    if command is None:
        return []
    try:
        argv = json.loads(entry.fact("argv") or "")
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return ["command line not recorded as a list of words"]
    return command.problems(argv)


def _missing_modules(entries: Iterable[LogEntry], modules: Mapping[str, str]) -> list[str]:
    measured = {e.subject for e in entries if e.kind == "module"}
    return [f"module file of {m} missing" for m in sorted(modules.keys() - measured)]


def module_digests(entries: Mapping[str, str]) -> dict[str, str]:
    """`module → file SHA-256` from a Python reference manifest's entries."""
    return {name: digest for name, digest in entries.items() if ":" not in name}
