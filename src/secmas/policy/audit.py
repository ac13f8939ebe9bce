"""The audit log: every decision of a run, hash-chained, its head anchored on the ledger.

Each decision (an SSLA breach, a rejected packet, a revocation, an alert, a goal handed to
the agents, …) becomes one `AuditEntry`: who decided (`actor`), what (`decision`, a short
kind), why (`explanation`, for people; `evidence`, a JSON object for programs), and when
(`time`, simulated seconds of the run). Entries are only ever appended.

Hashing rule (stable: logs written today must verify tomorrow):

* The hashed body of an entry is the JSON object of its seven fields `seq`, `time`,
  `actor`, `decision`, `explanation`, `evidence`, `prev`, serialised canonically:
  ``json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
  allow_nan=False)`` (so: keys sorted, no spaces, non-ASCII as ``\\u`` and four hex
  digits, numbers as Python writes them, `time` always a float such as ``12.0``), encoded
  as ASCII.
* `hash` is the lowercase hex SHA-256 of those bytes.
* `prev` is the `hash` of the entry before; the first entry's `prev` is 64 zeros.
* `seq` counts from 0 without gaps.

A log file holds one entry per line: the canonical JSON of all eight fields (the body plus
`hash`), ending in a newline. Anyone can re-check a file without secmas::

    python3 -c 'import hashlib, json, sys
    prev = "0" * 64
    for n, line in enumerate(open(sys.argv[1]), 1):
        e = json.loads(line); h = e.pop("hash")
        body = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert hashlib.sha256(body.encode()).hexdigest() == h and e["prev"] == prev, n
        prev = h' audit.jsonl

The chain shows an entry edited, removed, inserted or moved, but not a log cut short or
rewritten from some entry on with every later hash recomputed. That is what anchors are for:
`Anchorer` writes (number of entries, head) to the AuditAnchor contract every few entries and
at the end, where the log's writer cannot take it back, and `verify` checks the log against
them. The anchors are also written to a JSON file (`audit-anchors.json`) beside the log,
which names the chain and the contract so that `secmas audit verify --ledger URL` can read
the authoritative copy from the ledger.

A ledger in the run's own process is gone after the run, and the file can be rewritten along
with the log; so each anchor in the file also carries the signature of the audit notary
(`secmas.policy.notary`), whose key the run never loads, over this statement, serialised as
the entries are:

    {"format": "secmas-audit-notary/1", "log_id": "0x…", "chain": …, "contract": "0x…",
     "count": …, "head": "…", "time": …, "signed_at": "…Z", "final": …}

The last anchor, written when the run closes its log, is `final`: it seals the log, so that
a log cut back to an earlier anchor, or continued after the seal, does not verify either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

if TYPE_CHECKING:  # the ledger and the notary load only where a run anchors
    from secmas.ledger.anchor import AuditAnchorClient
    from secmas.policy.notary import NotaryProcess

log = logging.getLogger(__name__)

GENESIS = "0" * 64
"""`prev` of the first entry, and the head of an empty log."""
AUDIT_FILE = "audit.jsonl"
"""The log's file name in a run folder."""
ANCHORS_FILE = "audit-anchors.json"
"""The anchors' file name, beside the log."""
ANCHORS_FORMAT = "secmas-audit-anchors/1"
STATEMENT_FORMAT = "secmas-audit-notary/1"
"""What the notary signs (see above)."""
DEFAULT_ANCHOR_EVERY = 20
"""Entries between two anchors: a few ledger transactions per run, a short unanchored tail."""

_FIELDS = ("seq", "time", "actor", "decision", "explanation", "evidence", "prev", "hash")
_HEX = frozenset("0123456789abcdef")

PathLike = str | os.PathLike[str]


def canonical_json(value: Any) -> bytes:
    """The canonical serialisation that entry hashes are computed over (see above)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("ascii")


def audit_log_id(run_id: str) -> bytes:
    """The bytes32 id under which the log of run `run_id` is anchored: sha256 of the id."""
    return hashlib.sha256(run_id.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision in the log; `hash` covers every other field, `prev` links the chain."""

    seq: int
    time: float
    actor: str
    decision: str
    explanation: str
    evidence: dict[str, Any]
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed fields: all but `hash`."""
        fields = asdict(self)
        del fields["hash"]
        return fields

    def computed_hash(self) -> str:
        """The hash the entry's fields give now; differs from `hash` once one is edited."""
        return hashlib.sha256(canonical_json(self.body())).hexdigest()

    def to_json(self) -> str:
        """The entry's line in a log file (without the newline)."""
        return canonical_json(asdict(self)).decode("ascii")


def _json_copy(value: Any, path: str) -> Any:
    """A plain-JSON copy of `value` (dicts with str keys, lists, str, int, finite float, bool,
    None); anything else is refused naming where it sits, before it can reach the file."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not allowed in JSON")
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_copy(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            copy[key] = _json_copy(item, f"{path}.{key}")
        return copy
    raise ValueError(f"{path}: {type(value).__name__} value {value!r} is not JSON")


def make_entry(
    seq: int,
    time: float,
    actor: str,
    decision: str,
    explanation: str,
    evidence: Mapping[str, Any],
    prev: str,
) -> AuditEntry:
    """A new entry with its hash; fields are checked, and evidence copied as plain JSON."""
    if isinstance(time, bool) or not isinstance(time, int | float) or not math.isfinite(time):
        raise ValueError(f"audit time must be a finite number of seconds, got {time!r}")
    for name, text in (("actor", actor), ("decision", decision)):
        if not isinstance(text, str) or not text:
            raise ValueError(f"audit {name} must be a non-empty string, got {text!r}")
    if not isinstance(explanation, str):
        raise ValueError(f"audit explanation must be a string, got {explanation!r}")
    if not isinstance(evidence, Mapping):
        raise ValueError(f"audit evidence must be a JSON object, got {evidence!r}")
    copy = _json_copy(evidence, "evidence")
    body = AuditEntry(seq, float(time), actor, decision, explanation, copy, prev, "")
    return AuditEntry(**{**body.body(), "hash": body.computed_hash()})


class AuditFormatError(ValueError):
    """A log or anchors file that cannot be read as one: `file:line: reason`."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify` found. `first_bad` is the position (= expected seq; file line - 1) of
    the first entry that is not intact, or the number of entries when entries are missing
    from the end; every entry before it is intact and, up to the last confirmed anchor,
    proven by the ledger. `checked` entries were found consistent before it."""

    ok: bool
    checked: int
    first_bad: int | None
    reason: str | None
    anchors_confirmed: int


def _problem(entry: AuditEntry, position: int, prev: str) -> str | None:
    """Why `entry` does not belong at `position` after an entry hashed `prev`, if it does not."""
    if entry.seq != position:
        return (
            f"out of sequence: seq {entry.seq} where {position} was expected "
            "(an entry removed, inserted or moved)"
        )
    if entry.computed_hash() != entry.hash:
        return "content altered: the entry's fields do not give its hash"
    if entry.prev != prev:
        before = "the genesis (64 zeros)" if position == 0 else f"entry {position - 1}'s hash"
        return f"chain broken: prev is not {before}"
    return None


def verify(
    entries: Sequence[AuditEntry],
    anchors: Iterable[tuple[int, str]] = (),
    sealed: int | None = None,
) -> Verification:
    """Checks the chain from the first entry on and, for each anchor (count, head hex), that
    the first `count` entries end with `head`; stops at the first problem. With `sealed`
    (the count of the notary's final anchor, which is also among `anchors`) entries after
    it were appended once the log was closed.

    An entry inserted with a correct link shows as a break at the entry after it (nothing
    tells the forged one from a real one before that). A prefix rewritten with every hash
    recomputed is caught only by an anchor: the rewritten entries lie after the last anchor
    that still matches, which is where `first_bad` points.
    """
    expected: dict[int, set[str]] = {}
    for count, head in anchors:
        if count < 1:
            raise ValueError(f"an anchor covers at least one entry, got count {count}")
        expected.setdefault(count, set()).add(head.lower())
    prev, confirmed, proven = GENESIS, 0, 0
    for position, entry in enumerate(entries):
        problem = _problem(entry, position, prev)
        if problem is not None:
            return Verification(False, position, position, problem, confirmed)
        prev = entry.hash
        heads = expected.get(position + 1, set())
        if heads - {prev}:
            reason = (
                f"rewritten: the first {position + 1} entries do not end with the anchored "
                f"head, so entries {proven} to {position} were changed"
            )
            return Verification(False, position + 1, proven, reason, confirmed)
        if heads:
            confirmed, proven = confirmed + 1, position + 1
    held = len(entries)
    beyond = [count for count in expected if count > held]
    if beyond:
        reason = f"truncated: an anchor covers {min(beyond)} entries, the log holds {held}"
        return Verification(False, held, held, reason, confirmed)
    if sealed is not None and held > sealed:
        reason = f"appended after the seal: the notary sealed the log at {sealed} entries"
        return Verification(False, sealed, sealed, reason, confirmed)
    return Verification(True, held, None, None, confirmed)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Objects with a key twice are refused: readers would disagree on which value counts."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise ValueError(f"duplicate key {key!r}")
        value[key] = item
    return value


def _load_json(text: str, file: str, line: int | None) -> Any:
    try:
        return json.loads(
            text,
            parse_float=_finite,
            parse_constant=_no_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise AuditFormatError(file, line, f"not JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise AuditFormatError(file, line, f"not JSON: {exc}") from None
    except RecursionError:
        raise AuditFormatError(file, line, "not JSON: nested too deeply") from None


_KINDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "seq": (int, "an integer"),
    "time": ((int, float), "a number"),
    "actor": (str, "a string"),
    "decision": (str, "a string"),
    "explanation": (str, "a string"),
    "evidence": (dict, "a JSON object"),
    "prev": (str, "a string"),
    "hash": (str, "a string"),
}


_JSON_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _kind_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _parse_entry(raw: bytes, file: str, line: int) -> AuditEntry:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AuditFormatError(file, line, "not UTF-8 text") from None
    if not text.strip():
        raise AuditFormatError(file, line, "empty line")
    data = _load_json(text, file, line)
    if not isinstance(data, dict):
        raise AuditFormatError(file, line, "not a JSON object")
    for name in _FIELDS:
        if name not in data:
            raise AuditFormatError(file, line, f"missing field {name!r}")
        kind, words = _KINDS[name]
        if not _kind_ok(data[name], kind):
            found = _JSON_NAMES[type(data[name])]
            raise AuditFormatError(file, line, f"field {name!r} must be {words}, not {found}")
    extra = sorted(set(data) - set(_FIELDS))
    if extra:
        raise AuditFormatError(file, line, f"unexpected field {extra[0]!r}")
    return AuditEntry(**data)


def read_log(path: PathLike) -> list[AuditEntry]:
    """The entries of a log file, in file order, unverified; OSError when it cannot be
    read, AuditFormatError naming the line of the first one that is not an entry."""
    file = os.fspath(path)
    with open(file, "rb") as handle:
        lines = handle.read().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [_parse_entry(raw, file, number) for number, raw in enumerate(lines, 1)]


class TamperedLog(ValueError):
    """A log asked to be resumed did not verify."""

    def __init__(self, file: str, verification: Verification) -> None:
        super().__init__(
            f"{file}: entry {verification.first_bad} is not intact: {verification.reason}"
        )
        self.verification = verification


class AuditLog:
    """The append-only log of one run, in memory and, given a path, in a JSON-lines file
    written through (flushed after every entry, so a crash loses at most the entry being
    written). Appending is thread-safe; listeners (the `Anchorer`) hear of every entry."""

    def __init__(self, path: PathLike | None = None, *, resume: bool = False) -> None:
        """A new log, or with `resume` the existing file at `path` continued after it
        verifies; an existing non-empty file is never appended to otherwise."""
        self.path = None if path is None else Path(path)
        self._entries: list[AuditEntry] = []
        self._listeners: list[Callable[[AuditEntry], None]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._file: IO[str] | None = None
        if self.path is not None:
            self._file = self._open(self.path, resume)

    def _open(self, path: Path, resume: bool) -> IO[str]:
        existing = path.read_bytes() if path.exists() else b""
        if existing and not resume:
            raise FileExistsError(f"{path}: an audit log is there already (resume to continue)")
        if existing:
            self._entries = read_log(path)
            result = verify(self._entries)
            if not result.ok:
                raise TamperedLog(str(path), result)
        handle = path.open("a", encoding="ascii", newline="\n")
        if existing and not existing.endswith(b"\n"):
            handle.write("\n")
        return handle

    def append(
        self,
        time: float,
        actor: str,
        decision: str,
        explanation: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Adds one decision and returns its entry; ValueError for fields that cannot be
        logged (e.g. evidence that is not plain JSON, naming the key)."""
        with self._lock:
            if self._closed:
                raise ValueError("the audit log is closed")
            entry = make_entry(
                len(self._entries), time, actor, decision, explanation, evidence or {}, self.head
            )
            if self._file is not None:
                self._file.write(entry.to_json() + "\n")
                self._file.flush()
            self._entries.append(entry)
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(entry)
        return entry

    def add_listener(self, listener: Callable[[AuditEntry], None]) -> None:
        """Calls `listener(entry)` after each later append, outside the log's lock."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def head(self) -> str:
        """The hash of the last entry; the genesis (64 zeros) while the log is empty."""
        return self._entries[-1].hash if self._entries else GENESIS

    @property
    def last(self) -> AuditEntry | None:
        """The last entry, None while the log is empty."""
        with self._lock:
            return self._entries[-1] if self._entries else None

    @property
    def entries(self) -> tuple[AuditEntry, ...]:
        """Every entry so far, oldest first."""
        with self._lock:
            return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Closes the file; later appends are refused."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Notarisation:
    """The audit notary's signature (hex) over an anchor, when it signed (ISO 8601, UTC),
    and whether the anchor seals the log (`final`)."""

    signed_at: str
    final: bool
    signature: str


@dataclass(frozen=True, slots=True)
class Anchor:
    """The head of the first `count` entries as anchored: the log time of the last one,
    the transaction and block that hold it, and the notary's signature when it gave one."""

    count: int
    head: str
    time: float
    tx_hash: str
    block: int
    notary: Notarisation | None = None


@dataclass(frozen=True, slots=True)
class AnchorFile:
    """What an anchors file holds: where the anchors are (the chain's JSON-RPC URL, or
    "memory" for an in-process chain gone with its run; the contract; the log id) and a
    copy of them."""

    chain: str
    contract: str
    log_id: bytes
    anchors: tuple[Anchor, ...]
    notary_key: str | None = None
    """The notary's public key (hex) as the run saw it: a hint, never what is trusted."""

    def points(self) -> list[tuple[int, str]]:
        """The (count, head) pairs `verify` takes."""
        return [(a.count, a.head) for a in self.anchors]


def statement_bytes(source: AnchorFile, anchor: Anchor) -> bytes:
    """What the notary signs for `anchor` of the log in `source` (see above)."""
    if anchor.notary is None:
        raise ValueError(f"the anchor at {anchor.count} entries is not notarised")
    statement = {
        "format": STATEMENT_FORMAT,
        "log_id": "0x" + source.log_id.hex(),
        "chain": source.chain,
        "contract": source.contract.lower(),
        "count": anchor.count,
        "head": anchor.head,
        "time": float(anchor.time),
        "signed_at": anchor.notary.signed_at,
        "final": anchor.notary.final,
    }
    return canonical_json(statement)


def _anchor_json(anchor: Anchor) -> dict[str, Any]:
    data = asdict(anchor)
    if anchor.notary is None:
        del data["notary"]
    return data


def write_anchors(path: PathLike, anchors: AnchorFile) -> Path:
    """Writes the anchors file atomically (a crash leaves the old one or the new one)."""
    target = Path(path)
    data: dict[str, Any] = {
        "format": ANCHORS_FORMAT,
        "chain": anchors.chain,
        "contract": anchors.contract,
        "log_id": "0x" + anchors.log_id.hex(),
        "anchors": [_anchor_json(a) for a in anchors.anchors],
    }
    if anchors.notary_key is not None:
        data["notary_key"] = anchors.notary_key
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def _hex(value: Any, digits: int) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("0x")
        and len(value) == digits + 2
        and set(value[2:].lower()) <= _HEX
    )


def _anchor(item: Any, file: str, index: int) -> Anchor:
    where = f"anchors[{index}]"
    if not isinstance(item, dict):
        raise AuditFormatError(file, None, f"{where}: not a JSON object")
    count, head = item.get("count"), item.get("head")
    if not _kind_ok(count, int) or count < 1:
        raise AuditFormatError(file, None, f"{where}.count: must be an integer >= 1")
    if not (isinstance(head, str) and len(head) == 64 and set(head) <= _HEX):
        raise AuditFormatError(file, None, f"{where}.head: must be 64 lowercase hex digits")
    time, tx_hash, block = item.get("time"), item.get("tx_hash"), item.get("block")
    if not _kind_ok(time, (int, float)):
        raise AuditFormatError(file, None, f"{where}.time: must be a number")
    if not _hex(tx_hash, 64):
        raise AuditFormatError(file, None, f"{where}.tx_hash: must be 0x and 64 hex digits")
    if not _kind_ok(block, int):
        raise AuditFormatError(file, None, f"{where}.block: must be an integer")
    notary = None if "notary" not in item else _notarisation(item["notary"], file, where)
    return Anchor(count, head, float(time), tx_hash, block, notary)


def _notarisation(item: Any, file: str, where: str) -> Notarisation:
    where = f"{where}.notary"
    if not isinstance(item, dict):
        raise AuditFormatError(file, None, f"{where}: not a JSON object")
    signed_at, final, signature = item.get("signed_at"), item.get("final"), item.get("signature")
    if not isinstance(signed_at, str) or not signed_at:
        raise AuditFormatError(file, None, f"{where}.signed_at: must be a time (ISO 8601)")
    if not isinstance(final, bool):
        raise AuditFormatError(file, None, f"{where}.final: must be true or false")
    if not (isinstance(signature, str) and len(signature) == 128 and set(signature) <= _HEX):
        raise AuditFormatError(file, None, f"{where}.signature: must be 128 lowercase hex digits")
    return Notarisation(signed_at, final, signature)


def read_anchors(path: PathLike) -> AnchorFile:
    """An anchors file; OSError when it cannot be read, AuditFormatError naming the field
    that is wrong."""
    file = os.fspath(path)
    with open(file, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AuditFormatError(file, None, "not UTF-8 text") from None
    data = _load_json(text, file, None)
    if not isinstance(data, dict) or data.get("format") != ANCHORS_FORMAT:
        raise AuditFormatError(file, None, f"not an anchors file (format {ANCHORS_FORMAT})")
    chain, contract, log_id = data.get("chain"), data.get("contract"), data.get("log_id")
    if not isinstance(chain, str) or not chain:
        raise AuditFormatError(file, None, "chain: must be a URL or 'memory'")
    if not _hex(contract, 40):
        raise AuditFormatError(file, None, "contract: must be an address (0x and 40 hex digits)")
    if not _hex(log_id, 64):
        raise AuditFormatError(file, None, "log_id: must be 0x and 64 hex digits")
    items = data.get("anchors")
    if not isinstance(items, list):
        raise AuditFormatError(file, None, "anchors: must be a list")
    anchors = tuple(_anchor(item, file, i) for i, item in enumerate(items))
    notary_key = data.get("notary_key")
    if notary_key is not None and not (
        isinstance(notary_key, str) and len(notary_key) == 64 and set(notary_key) <= _HEX
    ):
        raise AuditFormatError(file, None, "notary_key: must be 64 lowercase hex digits")
    return AnchorFile(chain, contract, bytes.fromhex(log_id[2:]), anchors, notary_key)


class Anchorer:
    """Anchors a log's head on the ledger every `every` entries (None: only when told),
    on `anchor_now()` and on `close()`, has each anchor signed by the `notary` when given
    (the one written by `close` seals the log), and keeps the anchors file at `path` current.

    A failed automatic anchor is logged and kept in `failures`, and tried again `every`
    entries later: the run and its log go on when the ledger or the notary does not answer
    (the entries are on disk; only the proof of their order is late). An anchor the ledger
    took but the notary did not sign stays in the file unsigned. `anchor_now` and `close`
    raise. One Anchorer per log id, from the log's first entry: the contract refuses counts
    that do not grow.
    """

    def __init__(
        self,
        log: AuditLog,
        client: AuditAnchorClient,
        log_id: bytes,
        *,
        every: int | None = DEFAULT_ANCHOR_EVERY,
        path: PathLike | None = None,
        notary: NotaryProcess | None = None,
    ) -> None:
        if every is not None and every < 1:
            raise ValueError(f"anchor every >= 1 entries, or None, got {every}")
        if len(log_id) != 32:
            raise ValueError(f"a log id is 32 bytes, got {len(log_id)}")
        self.log = log
        self.client = client
        self.log_id = bytes(log_id)
        self.every = every
        self.path = None if path is None else Path(path)
        self.notary = notary
        self.anchors: list[Anchor] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._next_at = len(log) + (every or 0)
        log.add_listener(self._appended)

    def _appended(self, entry: AuditEntry) -> None:
        if self.every is None or entry.seq + 1 < self._next_at:
            return
        self._next_at = entry.seq + 1 + self.every
        from secmas.ledger.errors import LedgerError  # loaded already: the client needs it
        from secmas.policy.notary import NotaryError

        try:
            self.anchor_now()
        except (LedgerError, NotaryError, OSError) as exc:
            log.warning("audit anchor at entry %d failed: %s", entry.seq, exc)
            self.failures.append(f"entry {entry.seq}: {exc}")

    def anchor_now(self, *, final: bool = False) -> Anchor | None:
        """Anchors the current head, unless no entry came since the last anchor (None);
        with `final` the notary seals the log at its last anchor."""
        with self._lock:
            last = self.log.last
            anchored = self.anchors[-1].count if self.anchors else 0
            if last is None:
                return None
            if last.seq + 1 > anchored:
                receipt = self.client.anchor(self.log_id, last.seq + 1, bytes.fromhex(last.hash))
                anchor = Anchor(last.seq + 1, last.hash, last.time, receipt.tx_hash, receipt.block)
                self.anchors.append(anchor)
            elif not (final and self.notary is not None):
                return None
            try:
                self._notarise(final)
            finally:
                if self.path is not None:
                    write_anchors(self.path, self.anchor_file())
            return self.anchors[-1]

    def _notarise(self, final: bool) -> None:
        """Has the last anchor signed (`final`: sealing), unless it is or there is no notary."""
        anchor = self.anchors[-1]
        signed = anchor.notary is not None and (anchor.notary.final or not final)
        if self.notary is None or signed:
            return
        notarisation = self.notary.sign(
            self.log_id,
            self.client.url,
            self.client.address,
            anchor.count,
            anchor.head,
            anchor.time,
            final,
        )
        self.anchors[-1] = replace(anchor, notary=notarisation)

    def anchor_file(self) -> AnchorFile:
        """The anchors so far, with where to find them on the ledger."""
        key = None if self.notary is None else self.notary.key
        return AnchorFile(
            self.client.url, self.client.address, self.log_id, tuple(self.anchors), key
        )

    def close(self) -> Anchor | None:
        """Anchors the entries since the last anchor and has the notary seal the log, then
        ends the notary; call before the run ends. A notary that fails here is kept in
        `failures` (the log stays unsealed, which `secmas audit verify` reports); a ledger
        that fails raises."""
        from secmas.policy.notary import NotaryError

        try:
            return self.anchor_now(final=True)
        except NotaryError as exc:
            log.warning("the audit notary did not seal the log: %s", exc)
            self.failures.append(f"seal: {exc}")
            return self.anchors[-1] if self.anchors else None
        finally:
            if self.notary is not None:
                self.notary.close()
