"""Dictionary version tags (PEP 509): has this namespace changed since it was examined?

CPython stamps every dictionary with a version tag that takes a new value from one
process-wide counter on each change (an item added, replaced by another object or
removed; `ma_version_tag`, PEP 509). A module's globals and a class's attributes are such
dictionaries, so a kept verdict on a namespace holds while its tag is the one it was
examined at: the check costs one read, not a walk of every name. This is how the
in-process measurement pays only for what changed since the last challenge (`000_…`:
measurements must not impede the agents), as the external measurer keeps file digests
per inode and ctime.

The tag sits in the C struct, not in the language, so it is read through `ctypes` at its
offset in `PyDictObject` (after the object header and the item count) and the reading is
tried once on dictionaries of our own: changed on a write, unchanged on a read, unchanged
when a key is set to the object it holds. Where that fails (another interpreter, or a
CPython whose dictionaries no longer carry the tag), `version` answers None and callers
compare the namespace item by item, as before. The tag is no defence against code in the
process (which can write any memory, tags included); it is a cache key, no weaker than
the identity comparisons it replaces.
"""

from __future__ import annotations

import ctypes
import gc
import operator
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

_OFFSET = 2 * ctypes.sizeof(ctypes.c_void_p) + ctypes.sizeof(ctypes.c_ssize_t)
_READ = ctypes.c_uint64.from_address
_VALUE = operator.attrgetter("value")


def _tag(table: dict[object, object]) -> int:
    return _READ(id(table) + _OFFSET).value


def _tags_work() -> bool:
    """Whether the tag at `_OFFSET` behaves as PEP 509 says, on dictionaries of our own."""
    if platform.python_implementation() != "CPython":
        return False
    value = object()
    probe: dict[object, object] = {"a": value}
    other: dict[object, object] = {}
    before = _tag(probe)
    _ = probe["a"]
    read = _tag(probe)
    probe["a"] = value
    same = _tag(probe)
    probe["a"] = object()
    replaced = _tag(probe)
    other["b"] = 1
    probe["c"] = 2
    added = _tag(probe)
    del probe["c"]
    removed = _tag(probe)
    return before == read == same and before < replaced < _tag(other) < added < removed


AVAILABLE = _tags_work()
"""Whether this interpreter's dictionaries carry a readable version tag."""


@dataclass(frozen=True)
class Watch:
    """Some dictionaries and their version tags when the watch was made: `unchanged` is
    true while none of them has changed since (each check is one read per dictionary)."""

    dicts: tuple[dict[object, object], ...]
    """Held so that the readers keep pointing at live dictionaries."""
    readers: tuple[ctypes.c_uint64, ...]
    tags: tuple[int, ...]

    def unchanged(self) -> bool:
        return tuple(map(_VALUE, self.readers)) == self.tags

    def moved(self) -> Iterable[bool]:
        """Per dictionary, whether it changed since."""
        return map(operator.ne, map(_VALUE, self.readers), self.tags)

    @classmethod
    def joined(cls, watches: Iterable[Watch]) -> Watch:
        """One watch over every dictionary of `watches`, with the tags they were made at."""
        parts = list(watches)
        return cls(
            tuple(d for w in parts for d in w.dicts),
            tuple(r for w in parts for r in w.readers),
            tuple(t for w in parts for t in w.tags),
        )

    def extended(self, namespaces: Iterable[object]) -> Watch | None:
        """This watch and more dictionaries, their tags read now."""
        more = watch(namespaces)
        return None if more is None else Watch.joined((self, more))


def watch(namespaces: Iterable[object]) -> Watch | None:
    """Watch dictionaries (or the dictionaries behind classes' `mappingproxy`s) from now;
    None when one has no tag to read (then compare item by item)."""
    if not AVAILABLE:
        return None
    found = [_dictionary(n) for n in namespaces]
    dicts = tuple(d for d in found if d is not None)
    if len(dicts) != len(found):
        return None
    readers = tuple(_READ(id(d) + _OFFSET) for d in dicts)
    return Watch(dicts, readers, tuple(map(_VALUE, readers)))


def _dictionary(namespace: object) -> dict[object, object] | None:
    """A dictionary, or the one behind a class's `mappingproxy` (ctypes' classes keep
    theirs in a subclass of dict, which stores and stamps items as dict does)."""
    if type(namespace) is dict:
        return namespace
    if type(namespace) is MappingProxyType:
        behind = gc.get_referents(namespace)
        if len(behind) == 1 and isinstance(behind[0], dict):
            return behind[0]
    return None
