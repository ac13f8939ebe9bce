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
from typing import Any

import medallion.backends.memory_backend
import medallion.common
import medallion.filters.basic_filter
from medallion.scripts.run import main


def find_att(obj: dict[str, Any]) -> dt.datetime:
    """The timestamp that versions `obj`, a manifest entry or a STIX object."""
    if "date_added" in obj and "version" in obj:
        stamp = obj["version"]
    else:
        stamp = obj.get("modified") or obj.get("created") or obj["_date_added"]
    return medallion.common.string_to_datetime(stamp)


def serve() -> None:
    """medallion's own command line (`medallion.scripts.run.main`) with the fix in place."""
    modules = (medallion.common, medallion.filters.basic_filter, medallion.backends.memory_backend)
    for module in modules:
        module.find_att = find_att  # type: ignore[attr-defined]
    main()


if __name__ == "__main__":
    serve()
