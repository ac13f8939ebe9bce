"""The deliverable's resource-cost regression, hand-computed."""

from __future__ import annotations

import pytest

from secmas.mtd.cost import (
    ALPHA_CPU,
    ALPHA_RAM_GB,
    ALPHA_STORAGE_GB,
    BETA,
    hourly_cost,
    migration_cost,
    resource_cost,
)


def test_coefficients_are_the_deliverables() -> None:
    assert (BETA, ALPHA_CPU, ALPHA_RAM_GB, ALPHA_STORAGE_GB) == (-0.082, 0.031, 0.004, 0.00006)


@pytest.mark.parametrize(
    ("cpu", "ram", "storage", "expected"),
    [
        (4, 16, 100, 0.112),  # −0.082 + 0.124 + 0.064 + 0.006
        (2, 8, 50, 0.015),  # −0.082 + 0.062 + 0.032 + 0.003
        (8, 32, 0, 0.294),  # −0.082 + 0.248 + 0.128
        (1, 1, 0, -0.047),  # below the offers it was fitted on
        (0, 0, 1000, -0.022),
    ],
)
def test_resource_cost_by_hand(cpu, ram, storage, expected) -> None:
    assert resource_cost(cpu, ram, storage) == pytest.approx(expected, abs=1e-12)


def test_hourly_and_migration_cost() -> None:
    assert hourly_cost(1, 1, 0) == 0.0
    assert hourly_cost(4, 16, 100) == pytest.approx(0.112)
    assert migration_cost(4, 16, 100, 1800.0) == pytest.approx(0.056)
    assert migration_cost(1, 1, 0, 1800.0) == 0.0
    with pytest.raises(ValueError):
        resource_cost(-1, 1, 1)
    with pytest.raises(ValueError):
        migration_cost(4, 16, 100, -1.0)
