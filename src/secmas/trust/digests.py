"""SHA-256 roots over named digests and the comparison of two digest maps.

ELF sections, Python qualnames and modules all reduce to "name → hex digest" maps; one
canonical encoding of the sorted pairs makes every root reproducible across processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def root_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the sorted (name, hex digest) pairs: a Merkle-style root of a digest map.

    The encoding (domain tag, then per pair a 4-byte name length, the UTF-8 name and the raw
    digest) is the one `secmas.trust.attestation.Measurement.root` uses, so a flat map of
    section digests has the same root in a manifest as in attestation evidence.
    """
    h = hashlib.sha256(b"secmas/measurement/1\x00")
    for name, digest in sorted(pairs):
        encoded = name.encode()
        h.update(len(encoded).to_bytes(4, "big") + encoded + bytes.fromhex(digest))
    return h.hexdigest()


def multiset_digest(digests: Iterable[str]) -> str:
    """One digest for several code objects that share a name: the only one, or a hash over
    them sorted (fixed-size digests concatenate unambiguously)."""
    ordered = sorted(digests)
    if len(ordered) == 1:
        return ordered[0]
    return hashlib.sha256(b"secmas/code-set/1\x00" + bytes.fromhex("".join(ordered))).hexdigest()


@dataclass(frozen=True)
class EntryDiff:
    """Names whose digests differ, that the reference has and the measure lacks, and back."""

    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        """One `changed NAME` / `missing NAME` / `extra NAME` line per difference."""
        return (
            [f"changed {name}" for name in self.changed]
            + [f"missing {name}" for name in self.missing]
            + [f"extra {name}" for name in self.extra]
        )


def diff_entries(reference: Mapping[str, str], measured: Mapping[str, str]) -> EntryDiff:
    """Compare a measurement with its reference, name by name (sorted, so output is stable)."""
    return EntryDiff(
        changed=tuple(
            sorted(k for k in reference.keys() & measured.keys() if reference[k] != measured[k])
        ),
        missing=tuple(sorted(reference.keys() - measured.keys())),
        extra=tuple(sorted(measured.keys() - reference.keys())),
    )
