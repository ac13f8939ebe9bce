"""The building blocks every scenario model shares: strict immutable models and the
constrained field types."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

MAX_AMOUNT = 1e9
"""The largest amount (cores, GB, MB/s, ms, seconds, …) a scenario may give. A PoP of 10⁹
cores or a link of 10⁹ MB/s is far beyond any real one, and amounts are summed,
multiplied and divided in bids and rates: near the float limit (1e308) they overflow to
infinity, which no comparison handles."""


@dataclasses.dataclass(frozen=True)
class _AtMost(AfterValidator):
    """An AfterValidator whose bound is also the field's JSON Schema `maximum`."""

    limit: float = math.inf

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maximum"] = self.limit
        return json_schema


def at_most(limit: float, reason: str) -> AfterValidator:
    """A validator refusing values above `limit`; its message gives `reason`."""

    def check(value: float) -> float:
        if value > limit:
            raise ValueError(f"{_number(value)} is above {_number(limit)}: {reason}")
        return value

    return _AtMost(check, limit)


def _number(value: float) -> str:
    """Whole numbers in full (65024) up to 15 digits, others as %g (1e+308)."""
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 15 else f"a {len(text)}-digit number"
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"


_bounded = at_most(
    MAX_AMOUNT,
    "the largest amount a scenario may give (far beyond any real PoP, link or rate; "
    "larger values overflow in bids and rates)",
)
ID_MAX = 100
"""The longest id: ids name folders (`runs/<scenario id>`), bus subjects and ledger
records, and a file name holds 255 bytes at most."""
Id = Annotated[str, Field(min_length=1, max_length=ID_MAX, pattern=r"^[A-Za-z0-9_.:\-]+$")]
PoPId = Annotated[str, Field(min_length=1, max_length=ID_MAX, pattern=r"^[A-Za-z0-9_:\-]+$")]
"""A PoP's id, which names its agent: no dot, since the agent's name is one token of its
bus subjects and the first part of the conversation ids it opens (`pop` would otherwise
pass for the opener of `pop.1`'s)."""
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False), _bounded]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False), _bounded]


class Strict(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are immutable, and a
    number is never a boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads true, yes and on as booleans, and pydantic would take one for the
        number 1 (`cpu: true` a PoP of one core): a number field refuses it."""
        found = _boolean_in(value)
        if found is not None and info.field_name in _number_fields(cls):
            raise ValueError(f"a number is needed, not the boolean {str(found).lower()}")
        return value


def _boolean_in(value: Any) -> bool | None:
    """The boolean `value` is, or the first one among its items."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        return next((item for item in value if isinstance(item, bool)), None)
    return None


@functools.cache
def _number_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields of `model` that hold numbers (or tuples of them) and take no boolean."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if {int, float} & (kinds := set(_types(field.annotation))) and bool not in kinds
    )


def _types(annotation: Any) -> Iterator[Any]:
    """The plain types an annotation is made of, through unions, tuples and Annotated."""
    if get_origin(annotation) is Annotated:
        yield from _types(get_args(annotation)[0])
        return
    args = get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _types(arg)
