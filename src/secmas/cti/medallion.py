"""OASIS's TAXII 2.1 server `medallion` (3.0.0, its latest release) as the run starts it:
`python -m secmas.cti.medallion [medallion's arguments]`.

One upstream defect is fixed before the server starts. medallion versions an object by its
manifest entry's `version` (a timestamp), and its `find_att` takes *any* dictionary with a
`version` key for a manifest entry, so STIX 2.1 objects that have a `version` property of
their own (an `extension-definition`'s "1.0.0", a `software` object's "1.24.0") crash
every Get Objects request of their collection (HTTP 500). The fix reads `version` only
from manifest entries (those with `date_added`) and otherwise, as medallion does,
`modified`, `created`, then the server's `_date_added`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import medallion.backends.memory_backend
import medallion.common
import medallion.filters.basic_filter
from medallion import auth
from medallion.backends.memory_backend import MemoryBackend
from medallion.exceptions import ProcessingError
from medallion.scripts.run import main


def find_att(obj: dict[str, Any]) -> dt.datetime:
    """The timestamp that versions `obj`, a manifest entry or a STIX object."""
    if "date_added" in obj and "version" in obj:
        stamp = obj["version"]
    else:
        stamp = obj.get("modified") or obj.get("created") or obj["_date_added"]
    return medallion.common.string_to_datetime(stamp)


class DomainWriteBackend(MemoryBackend):  # type: ignore[misc]
    """medallion's memory backend where only a collection's `writers` may write to it."""

    def __init__(self, writers: Mapping[str, Sequence[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writers = {collection: frozenset(users) for collection, users in writers.items()}

    def _may_write(self, collection_id: str) -> bool:
        return auth.current_user() in self.writers.get(collection_id, frozenset())

    def _as_seen(self, collection: dict[str, Any]) -> dict[str, Any]:
        collection["can_write"] = bool(collection.get("can_write")) and self._may_write(
            collection["id"]
        )
        return collection

    def get_collections(self, api_root: str) -> Any:
        found = super().get_collections(api_root)
        if found is not None:
            for collection in found.get("collections", []):
                self._as_seen(collection)
        return found

    def get_collection(self, api_root: str, collection_id: str) -> Any:
        found = super().get_collection(api_root, collection_id)
        return None if found is None else self._as_seen(found)

    def add_objects(self, api_root: str, collection_id: str, objs: Any, request_time: Any) -> Any:
        if not self._may_write(collection_id):  # the views check first; this holds regardless
            raise ProcessingError(f"Forbidden to write collection '{collection_id}'", 403)
        return super().add_objects(api_root, collection_id, objs, request_time)


def serve() -> None:
    """medallion's own command line (`medallion.scripts.run.main`) with the fix in place."""
    modules = (medallion.common, medallion.filters.basic_filter, medallion.backends.memory_backend)
    for module in modules:
        module.find_att = find_att  # type: ignore[attr-defined]
    main()


if __name__ == "__main__":
    serve()
