"""Strict JSON (RFC 8259) for every JSON file secmas writes and every reader it offers.

Python's `json` writes `Infinity`, `-Infinity` and `NaN` by default, which strict parsers
(JavaScript's `JSON.parse`, jq, most other languages) refuse. Here a non-finite number is
written as `null`, and a document that is a JSON object says so under `non_finite`: the
JSON Pointer (RFC 6901) of each such value and what it was, e.g.
`{"/workflow/1/outputs/max_latency_ms": "Infinity"}` (a service with no latency limit).
Then `json.dumps(..., allow_nan=False)` guarantees nothing non-standard reaches the file.

A foundation module (no secmas imports): every layer may write through it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NOTE = "non_finite"
"""The key under which an object lists the pointers of the numbers written as null."""


def _pointer(parent: str, key: object) -> str:
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _spelled(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def finite(value: Any, where: str = "", replaced: dict[str, str] | None = None) -> Any:
    """A copy of `value` with every non-finite float as None; `replaced` (when given)
    collects the JSON Pointer and spelling of each. Tuples become lists; anything JSON
    cannot hold is left for `json.dumps` to refuse."""
    if isinstance(value, float) and not math.isfinite(value):
        if replaced is not None:
            replaced[where] = _spelled(value)
        return None
    if isinstance(value, Mapping):
        return {k: finite(v, _pointer(where, k), replaced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v, _pointer(where, i), replaced) for i, v in enumerate(value)]
    return value


def dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """`value` as strict JSON text: non-finite numbers as null, noted under `non_finite`
    when `value` is an object."""
    replaced: dict[str, str] = {}
    clean = finite(value, "", replaced)
    if replaced and isinstance(clean, dict):
        clean[NOTE] = {**clean.get(NOTE, {}), **replaced}
    return json.dumps(clean, indent=indent, sort_keys=sort_keys, allow_nan=False)


def write(path: str | os.PathLike[str], value: Any, *, indent: int | None = 1) -> Path:
    """Write `value` to `path` as strict JSON (ending in a newline); returns the path."""
    target = Path(path)
    target.write_text(dumps(value, indent=indent) + "\n", encoding="utf-8")
    return target


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON (RFC 8259)")


def loads(text: str | bytes) -> Any:
    """Parse strict JSON: `Infinity`, `-Infinity` and `NaN` are refused (ValueError)."""
    return json.loads(text, parse_constant=_refuse)


def problem(path: str | os.PathLike[str]) -> str | None:
    """Why the file at `path` is not strict JSON, or None when it is."""
    try:
        loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        return f"{path}: {exc}"
    return None
