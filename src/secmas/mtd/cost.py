"""Operational cost of virtual resources and of an MTD move (004_… Section 2.2).

The deliverable regresses the hourly price of over 70 VM offers of AWS, Azure, Google Cloud and
OVH on their resources:

    resource_cost = β + α1·cpu + α2·ram_GB + α3·storage_GB    ($/hour)

with β = −0.082, α1 = 0.031, α2 = 0.004, α3 = 0.00006 (all p < 0.01). `resource_cost` is that
equation exactly; note the negative intercept makes it negative for instances smaller than the
offers it was fitted on (e.g. 1 vCPU, 1 GB: −0.047 $/h), so `hourly_cost` clamps at zero for
use as a cost.

A live migration holds the CNF's resources twice (source and destination) for its total
migration time, so one move costs hourly_cost · total_s / 3600 dollars (`migration_cost`).
"""

from __future__ import annotations

BETA = -0.082
ALPHA_CPU = 0.031
ALPHA_RAM_GB = 0.004
ALPHA_STORAGE_GB = 0.00006


def resource_cost(cpu: float, ram_gb: float, storage_gb: float) -> float:
    """$/hour of `cpu` vCPUs, `ram_gb` GB of RAM and `storage_gb` GB of storage (the equation)."""
    for name, value in (("cpu", cpu), ("ram_gb", ram_gb), ("storage_gb", storage_gb)):
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value!r}")
    return BETA + ALPHA_CPU * cpu + ALPHA_RAM_GB * ram_gb + ALPHA_STORAGE_GB * storage_gb


def hourly_cost(cpu: float, ram_gb: float, storage_gb: float) -> float:
    """`resource_cost`, never below zero."""
    return max(0.0, resource_cost(cpu, ram_gb, storage_gb))


def migration_cost(cpu: float, ram_gb: float, storage_gb: float, total_s: float) -> float:
    """Dollars of one migration: the resources held a second time for its duration."""
    if total_s < 0:
        raise ValueError(f"migration time must be ≥ 0, got {total_s!r}")
    return hourly_cost(cpu, ram_gb, storage_gb) * total_s / 3600.0
