"""What differs between the scenarios of two runs, field by field: when two runs' figures
differ, the first question is what was changed between them.

Lists whose items all carry an `id` (PoPs, links, VNFs) are matched by id, so a PoP added
in the middle shows as one PoP added, not as every later PoP changed; other lists are
matched by position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from secmas.scenario.model import Scenario


class Difference(BaseModel):
    """One field whose value differs, or that only one scenario has."""

    path: str = Field(description="where, as scenario YAML names it: topology.pops[id=p1].cpu")
    kind: Literal["changed", "only-a", "only-b"]
    a: Any = Field(description="the value in run A's scenario (null: absent there)")
    b: Any = Field(description="the value in run B's scenario (null: absent there)")


def scenario_diff(a: Scenario, b: Scenario) -> list[Difference]:
    """Every field that differs between two scenarios, in the order A's file has them."""
    return list(_walk("", a.model_dump(mode="json"), b.model_dump(mode="json")))


def _walk(path: str, a: Any, b: Any) -> Iterator[Difference]:
    if isinstance(a, dict) and isinstance(b, dict):
        yield from _pairs(
            path, {f".{k}": v for k, v in a.items()}, {f".{k}": v for k, v in b.items()}
        )
    elif isinstance(a, list) and isinstance(b, list):
        yield from _pairs(path, _items(a), _items(b))
    elif a != b:
        yield Difference(path=path.lstrip("."), kind="changed", a=a, b=b)


def _pairs(path: str, a: dict[str, Any], b: dict[str, Any]) -> Iterator[Difference]:
    for key in dict.fromkeys([*a, *b]):
        where = path + key
        if key not in b:
            yield Difference(path=where.lstrip("."), kind="only-a", a=a[key], b=None)
        elif key not in a:
            yield Difference(path=where.lstrip("."), kind="only-b", a=None, b=b[key])
        else:
            yield from _walk(where, a[key], b[key])


def _items(values: list[Any]) -> dict[str, Any]:
    """A list's items by the key that matches them across scenarios: id, or position."""
    ids = [v.get("id") if isinstance(v, dict) else None for v in values]
    if values and all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids):
        return {f"[id={i}]": v for i, v in zip(ids, values, strict=True)}
    return {f"[{n}]": v for n, v in enumerate(values)}
