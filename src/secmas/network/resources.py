"""Computational resources of PoPs and VNFs, and the predicates of Section 4.2 / Table 4.2.

Everything here is pure: amounts in, numbers or booleans out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from secmas.scenario.model import VNF, Resources


class Amount(NamedTuple):
    """An amount of each computational resource R_C = {U, M, D} (Table 4.1)."""

    cpu: float = 0.0
    memory: float = 0.0
    disk: float = 0.0

    @classmethod
    def of(cls, resources: Resources) -> Amount:
        """Convert a scenario `Resources` value."""
        return cls(resources.cpu, resources.memory, resources.disk)

    def __add__(self, other: object) -> Amount:  # type: ignore[override]
        if not isinstance(other, Amount):
            return NotImplemented
        return Amount(self.cpu + other.cpu, self.memory + other.memory, self.disk + other.disk)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.cpu - other.cpu, self.memory - other.memory, self.disk - other.disk)

    def scaled(self, factor: float) -> Amount:
        """Each resource multiplied by `factor`."""
        return Amount(self.cpu * factor, self.memory * factor, self.disk * factor)

    def fits_in(self, other: Amount) -> bool:
        """Every resource of self is at most that of `other`."""
        return self.cpu <= other.cpu and self.memory <= other.memory and self.disk <= other.disk


def units_needed(vnf: VNF, traffic: float) -> int:
    """Units of `vnf` needed for `traffic` MB/s (Section 5.4.1: 4 MB/s on a 2 MB/s AD → 2).

    VNFs without a throughput limit, and goals without traffic, need one unit.
    """
    if vnf.throughput is None or traffic <= 0:
        return 1
    return max(1, math.ceil(traffic / vnf.throughput - 1e-9))


def req(vnf: VNF, units: int = 1) -> Amount:
    """req_v: the resources `units` units of `vnf` need (scaled requirements)."""
    return Amount.of(vnf.requirements).scaled(units)


def sat_req(free: Amount, required: Amount) -> bool:
    """Eq. 4.1: sat_req(p, v) ⇔ ∀r ∈ R_C, req_v(r) ≤ free_p(r)."""
    return required.fits_in(free)


def full(free: Amount, catalogue: Iterable[Amount]) -> bool:
    """Table 4.2: full(p) ⇔ no VNF of the catalogue fits in the free resources of p."""
    return not any(sat_req(free, need) for need in catalogue)


def can_deploy(free: Amount, required: Amount, catalogue: Iterable[Amount]) -> bool:
    """Table 4.2: canDeploy(p, v) ⇔ some VNF v′ still fits once v is deployed on p."""
    left = free - required
    return any(need.fits_in(left) for need in catalogue)


def harmonic_mean(ratios: Iterable[float]) -> float:
    """Harmonic mean |R| / Σ 1/x; a zero ratio makes the mean 0 (its limit)."""
    values = list(ratios)
    if any(x <= 0 for x in values):
        return 0.0
    return len(values) / sum(1.0 / x for x in values)


def free_rsc_util(free: Amount, total: Amount) -> float:
    """Table 4.2: freeRscUtil(p), harmonic mean of free_p(r) / total_p(r) over R_C."""
    return harmonic_mean(f / t for f, t in zip(free, total, strict=True))


def cons_rsc_util(required: Amount, total: Amount) -> float:
    """Table 4.2: consRscUtil(p, v), harmonic mean of req_v(r) / total_p(r) over R_C."""
    return harmonic_mean(r / t for r, t in zip(required, total, strict=True))


def rsc_eval_hop(free: Amount, total: Amount, catalogue: Iterable[Amount]) -> float:
    """Eq. 4.3: 0 when p is full (its links cost nothing more), else freeRscUtil(p)."""
    need = tuple(catalogue)
    return 0.0 if full(free, need) else free_rsc_util(free, total)


def rsc_eval(free: Amount, total: Amount, required: Amount, catalogue: Iterable[Amount]) -> float:
    """Eq. 4.4: cost of the bidder node that deploys v.

    consRscUtil(p, v) when another VNF still fits after v, or when no choice of VNF would
    leave room for another (canDeploy(p, v) ∨ ¬∃v′ canDeploy(p, v′)); otherwise
    freeRscUtil(p), because what v leaves behind becomes unusable.
    """
    need = tuple(catalogue)
    if can_deploy(free, required, need) or not any(can_deploy(free, n, need) for n in need):
        return cons_rsc_util(required, total)
    return free_rsc_util(free, total)
