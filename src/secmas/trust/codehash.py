"""The canonical hash of a Python code object, the unit of the in-process measurement.

A code object is hashed by a canonical serialisation, not `marshal.dumps` (whose reference
flags depend on reference counts); file names and line tables are left out, so the digest
does not depend on where a package is installed and is the same in every process.
"""

from __future__ import annotations

import hashlib
import weakref
from functools import partial
from types import CodeType

CANONICAL_VERSION = "secmas.code/2"

_DIGESTS: dict[int, tuple[weakref.ref[CodeType], str]] = {}
"""Digest per code object, by identity, while the object lives (the entry goes with it,
so an id is never reused for another object's digest). A code object is immutable, so
its digest never changes: a measurement hashes only code it has not seen, as IMA
measures a file once until it changes. A patch makes new code (a new object, hashed when
first seen); code objects compare equal by value, which is why the key is the identity."""


def code_digest(code: CodeType) -> str:
    """SHA-256 of a code object's canonical serialisation, the same in every process.

    co_code is the de-specialised bytecode in CPython 3.11+, so a function that the
    adaptive interpreter has quickened hashes as it did when compiled. The bytecode and
    exception table go into the hash as they are (length-prefixed); only the small
    metadata and constants take a text form. Each code object is hashed once (`_DIGESTS`).
    """
    key = id(code)
    seen = _DIGESTS.get(key)
    if seen is not None and seen[0]() is code:
        return seen[1]
    digest = _digest(code)
    gone = partial(_DIGESTS.pop, key, None)  # bound now: module globals are cleared at exit
    _DIGESTS[key] = (weakref.ref(code, lambda _: gone()), digest)
    return digest


def _digest(code: CodeType) -> str:
    h = hashlib.sha256()
    meta = (
        CANONICAL_VERSION,
        code.co_qualname,
        code.co_name,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
    )
    for part in (
        repr(meta).encode(),
        code.co_code,
        code.co_exceptiontable,
        repr(tuple(_constant(c) for c in code.co_consts)).encode(),
    ):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _constant(value: object) -> str:
    """A constant by type and repr; nested code by digest, frozensets in sorted order."""
    if isinstance(value, CodeType):
        return f"code:{code_digest(value)}"
    if isinstance(value, tuple):
        return "tuple:" + repr(tuple(_constant(v) for v in value))
    if isinstance(value, frozenset):
        return "frozenset:" + repr(tuple(sorted(_constant(v) for v in value)))
    return f"{type(value).__name__}:{value!r}"
