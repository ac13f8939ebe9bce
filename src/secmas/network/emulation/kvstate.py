"""The state a migrating CNF holds, and its wire form: pure computation, no I/O.

The CNF of the emulated MTD (`kvcnf.py`) is a key/value service: its sessions and its
append-only log live in a `Store`. Every write gets the store's next version, so a
migration can ask for what changed since a version (`delta`) — the whole store from 0
(cold, or pre-copy's first round), then only what was written during the previous round
(pre-copy's later rounds and its final stop-and-copy). `digest` fingerprints the
contents, so the destination's copy is checked against the source's frozen one.

Delta frame (`encode_delta` / `read_delta`): one JSON header line
`{"version": V, "entries": n, "deleted": [...]}` then `n` records, each a 4-byte key
length, a 4-byte value length (big-endian), the key (UTF-8) and the value.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

RECORD = struct.Struct(">II")
MAX_KEY = 1024
MAX_VALUE = 1 << 20
MAX_HEADER = 1 << 20


class StateError(ValueError):
    """A malformed delta frame or request (the text says what)."""


@dataclass(frozen=True, slots=True)
class Delta:
    """What changed after `since`, up to `version`."""

    since: int
    version: int
    entries: tuple[tuple[str, bytes], ...]
    deleted: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Bytes of keys and values it carries."""
        return sum(len(k.encode()) + len(v) for k, v in self.entries)


@dataclass
class Store:
    """Versioned key/value state (sessions, log) of one CNF instance."""

    values: dict[str, bytes] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    """Key → version of its last write."""
    removed: dict[str, int] = field(default_factory=dict)
    """Deleted key → version of its deletion."""
    version: int = 0

    def put(self, key: str, value: bytes) -> int:
        """Write a value; the store's new version."""
        check_key(key)
        if len(value) > MAX_VALUE:
            raise StateError(f"value of {key!r}: {len(value)} bytes, at most {MAX_VALUE}")
        self.version += 1
        self.values[key] = value
        self.written[key] = self.version
        self.removed.pop(key, None)
        return self.version

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    def delete(self, key: str) -> int:
        """Remove a key (a no-op write if absent); the new version."""
        self.version += 1
        if self.values.pop(key, None) is not None:
            self.written.pop(key, None)
            self.removed[key] = self.version
        return self.version

    def delta(self, since: int) -> Delta:
        """Everything written or deleted after version `since`."""
        entries = tuple((k, self.values[k]) for k, v in self.written.items() if v > since)
        deleted = tuple(k for k, v in self.removed.items() if v > since)
        return Delta(since, self.version, entries, deleted)

    def changes(self, since: int) -> dict[str, object]:
        """The names of what changed after `since` (no values): post-copy's metadata."""
        delta = self.delta(since)
        return {
            "version": delta.version,
            "changed": [k for k, _ in delta.entries],
            "deleted": list(delta.deleted),
        }

    def select(self, keys: Iterable[str]) -> Delta:
        """The current values of `keys`; those absent come as deleted (a page fault's
        answer)."""
        wanted = list(dict.fromkeys(keys))
        entries = tuple((k, self.values[k]) for k in wanted if k in self.values)
        deleted = tuple(k for k in wanted if k not in self.values)
        return Delta(self.version, self.version, entries, deleted)

    def apply(self, delta: Delta) -> None:
        """Take a source's delta: its values, its deletions and its version."""
        for key, value in delta.entries:
            self.values[key] = value
            self.written[key] = delta.version
            self.removed.pop(key, None)
        for key in delta.deleted:
            self.values.pop(key, None)
            self.written.pop(key, None)
        self.version = max(self.version, delta.version)

    @property
    def size(self) -> int:
        """Bytes of keys and values held."""
        return sum(len(k.encode()) + len(v) for k, v in self.values.items())

    def digest(self) -> str:
        """SHA-256 over the sorted (key, value) pairs."""
        return digest(self.values.items())


def digest(items: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over (key, value) pairs in key order, each length-prefixed."""
    h = hashlib.sha256()
    for key, value in sorted(items):
        raw = key.encode()
        h.update(RECORD.pack(len(raw), len(value)))
        h.update(raw)
        h.update(value)
    return h.hexdigest()


def check_key(key: str) -> None:
    """Keys are 1–1024 bytes of printable text without '/' at the ends or spaces."""
    raw = key.encode()
    if not 0 < len(raw) <= MAX_KEY or not key.isprintable() or " " in key:
        raise StateError(f"bad key {key[:40]!r}: 1–{MAX_KEY} printable bytes, no spaces")


def encode_delta(delta: Delta) -> bytes:
    """The delta as one frame (header line, then the records)."""
    header = {"since": delta.since, "version": delta.version, "entries": len(delta.entries)}
    parts = [json.dumps(header | {"deleted": list(delta.deleted)}).encode() + b"\n"]
    for key, value in delta.entries:
        raw = key.encode()
        parts += [RECORD.pack(len(raw), len(value)), raw, value]
    return b"".join(parts)


def parse_header(line: bytes) -> tuple[int, int, int, tuple[str, ...]]:
    """(since, version, entries, deleted) of a frame's header line."""
    try:
        data = json.loads(line)
        since, version, count = int(data["since"]), int(data["version"]), int(data["entries"])
        deleted = tuple(str(k) for k in data["deleted"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"bad delta header: {exc}") from None
    if min(since, version, count) < 0 or since > version:
        raise StateError(f"bad delta header: since {since}, version {version}, entries {count}")
    return since, version, count, deleted


def parse_record(prefix: bytes) -> tuple[int, int]:
    """Key and value lengths of one record's 8-byte prefix, checked."""
    if len(prefix) != RECORD.size:
        raise StateError("truncated delta record")
    key_length, value_length = RECORD.unpack(prefix)
    if not 0 < key_length <= MAX_KEY or value_length > MAX_VALUE:
        raise StateError(f"delta record out of range: key {key_length}, value {value_length}")
    return key_length, value_length


def decode_delta(frame: bytes) -> Delta:
    """A whole frame back into a delta (the reader in `kvcnf` streams instead)."""
    head, sep, body = frame.partition(b"\n")
    if not sep:
        raise StateError("delta frame without a header line")
    since, version, count, deleted = parse_header(head)
    entries = []
    offset = 0
    for _ in range(count):
        key_length, value_length = parse_record(body[offset : offset + RECORD.size])
        offset += RECORD.size
        end = offset + key_length + value_length
        if end > len(body):
            raise StateError("truncated delta record")
        key = body[offset : offset + key_length].decode(errors="replace")
        entries.append((key, body[offset + key_length : end]))
        offset = end
    if offset != len(body):
        raise StateError(f"{len(body) - offset} bytes after the last delta record")
    return Delta(since, version, tuple(entries), deleted)
