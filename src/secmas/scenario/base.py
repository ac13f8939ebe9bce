"""The building blocks every scenario model shares: strict immutable models and the
constrained field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_AMOUNT = 1e9
"""The largest amount (cores, GB, MB/s, ms, seconds, …) a scenario may give. A PoP of 10⁹
cores or a link of 10⁹ MB/s is far beyond any real one, and amounts are summed,
multiplied and divided in bids and rates: near the float limit (1e308) they overflow to
infinity, which no comparison handles."""


def at_most(limit: float, reason: str) -> AfterValidator:
    """A validator refusing values above `limit`; its message gives `reason`."""

    def check(value: float) -> float:
        if value > limit:
            raise ValueError(f"{_number(value)} is above {_number(limit)}: {reason}")
        return value

    return AfterValidator(check)


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
Id = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False), _bounded]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False), _bounded]


class Strict(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
