"""The infrastructure model: PoPs with resources, links with B/L/P, and VNF instances.

This holds the functions of Section 4.1: total_p, free_p and value_p (per link), plus the
bookkeeping that makes them change: VNF instances deployed, scaled in and terminated, and
bandwidth reserved along virtual paths. It is state, not I/O, so it is tested directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from secmas.network.resources import Amount, req, units_needed
from secmas.scenario.model import VNF, Measure, Scenario


class CapacityError(RuntimeError):
    """An allocation that would exceed a PoP's or a link's capacity."""


class NodeKind(StrEnum):
    """What a graph node is: only PoPs have compute."""

    POP = "pop"
    SWITCH = "switch"
    HOST = "host"


@dataclass(slots=True)
class LinkState:
    """A bidirectional link: capacity B (MB/s), latency L (ms), loss P (a fraction)."""

    a: str
    b: str
    bandwidth: float
    latency: float
    loss: float
    reserved: float = 0.0

    @property
    def available(self) -> float:
        """Bandwidth not reserved by virtual paths, MB/s."""
        return max(0.0, self.bandwidth - self.reserved)


@dataclass(slots=True)
class PoPState:
    """total_p and free_p of one NFVI-PoP (Section 4.1), with its agent's pending holds.

    `used` is what accepted allocations committed; `held` is what the PoP's own agent
    promised in proposals not yet accepted. The two are kept apart so a rival's bid reads
    committed state only, never a tentative proposal of the same auction.
    """

    id: str
    total: Amount
    used: Amount = field(default_factory=Amount)
    held: Amount = field(default_factory=Amount)

    @property
    def free(self) -> Amount:
        """free_p as every other agent sees it: what no accepted allocation took."""
        return self.total - self.used

    @property
    def unheld(self) -> Amount:
        """free_p as the PoP's own agent sees it: committed state plus its own holds."""
        return self.total - self.used - self.held


@dataclass(slots=True)
class Instance:
    """A deployed VNF: `units` units of one catalogue entry on one PoP."""

    id: str
    vnf: str
    pop: str
    units: int
    busy: bool = False
    image: str = ""
    """The image it runs (a version or digest); "" for the catalogue's first image."""

    def can_serve(self, vnf: str, units: int) -> bool:
        """Idle and large enough to take a goal needing `units` units of `vnf`."""
        return not self.busy and self.vnf == vnf and self.units >= units


PathListener = Callable[[str, list[str], float], None]
"""Told ("reserve" | "release", node path, MB/s) when this infrastructure changes a path."""

PopListener = Callable[[str, str, Amount], None]
"""Told ("allocate" | "free", PoP, amount) when this infrastructure changes a PoP."""


@dataclass(eq=False)
class Infrastructure:
    """The network graph with its PoP and link state; the single source of truth."""

    pops: dict[str, PoPState]
    kinds: dict[str, NodeKind]
    links: list[LinkState]
    catalogue: dict[str, VNF]
    repository: str
    adjacency: dict[str, list[tuple[str, LinkState]]] = field(init=False)
    instances: dict[str, Instance] = field(default_factory=dict)
    link_version: int = 0
    pop_version: int = 0
    """Counts the changes of committed PoP use (holds do not count): caches of what
    rivals' bids read (rscEvalhop, Eq. 4.3) are valid while it stays the same."""
    path_listeners: list[PathListener] = field(default_factory=list, repr=False)
    """Told of every virtual path reserved or released here (agents in other processes
    keep their copy of the links in step through them)."""
    pop_listeners: list[PopListener] = field(default_factory=list, repr=False)
    """Told of every PoP allocation and release here, for the same reason."""
    _ids: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        self.adjacency = {node: [] for node in self.kinds}
        for link in self.links:
            self.adjacency[link.a].append((link.b, link))
            self.adjacency[link.b].append((link.a, link))

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Infrastructure:
        """Build the initial state; the scenario's placements are deployed (idle)."""
        kinds = {p.id: NodeKind.POP for p in scenario.pops}
        kinds |= {s.id: NodeKind.SWITCH for s in scenario.switches}
        kinds |= {h.id: NodeKind.HOST for h in scenario.hosts}
        infra = cls(
            pops={p.id: PoPState(p.id, Amount.of(p.total)) for p in scenario.pops},
            kinds=kinds,
            links=[
                LinkState(link.a, link.b, link.bandwidth, link.latency, link.loss / 100.0)
                for link in scenario.links
            ],
            catalogue={v.id: v for v in scenario.vnfs},
            repository=scenario.repository.attach,
        )
        for placement in scenario.placements:
            infra.deploy(placement.pop, placement.vnf)
        return infra

    # -- Section 4.1 functions -------------------------------------------------------------
    def total(self, pop: str) -> Amount:
        """total_p."""
        return self.pops[pop].total

    def free(self, pop: str) -> Amount:
        """free_p."""
        return self.pops[pop].free

    def link(self, a: str, b: str) -> LinkState:
        """The link between neighbours `a` and `b`."""
        for neighbour, link in self.adjacency[a]:
            if neighbour == b:
                return link
        raise KeyError(f"no link between {a!r} and {b!r}")

    def value(self, a: str, b: str, measure: Measure) -> float:
        """value_p(p′, n) of the link between neighbours a and b (available B; P in %)."""
        link = self.link(a, b)
        match measure:
            case Measure.BANDWIDTH:
                return link.available
            case Measure.LATENCY:
                return link.latency
            case Measure.LOSS:
                return link.loss * 100.0
            case Measure.HOPS:
                return 1.0

    def catalogue_needs(self) -> tuple[Amount, ...]:
        """req_v of one unit of every catalogue VNF (the v′ ranged over in Table 4.2)."""
        return tuple(req(v) for v in self.catalogue.values())

    # -- lifecycle --------------------------------------------------------------------------
    def allocate(self, pop: str, amount: Amount) -> None:
        """Take `amount` from free_p, refusing to go beyond capacity or into the holds."""
        _fits(pop, amount, self.pops[pop].unheld)
        self._allocate_told(pop, amount)

    def hold(self, pop: str, amount: Amount) -> None:
        """Set `amount` aside on `pop` for a pending proposal of its own agent.

        A hold is local to the holder: no listener is told and no rival's bid sees it,
        yet the holder's later proposals and every commit must fit around it.
        """
        state = self.pops[pop]
        _fits(pop, amount, state.unheld)
        state.held = state.held + amount

    def unhold(self, pop: str, amount: Amount) -> None:
        """Drop a hold (its proposal was rejected or expired)."""
        state = self.pops[pop]
        state.held = _minus(state.held, amount)

    def commit(self, pop: str, amount: Amount) -> None:
        """Turn a hold into an allocation (its proposal was accepted); listeners are told.

        Raises CapacityError, keeping the hold, when committed use grew meanwhile so that
        the hold no longer fits (the winner then answers FAILURE and the goal is
        auctioned again).
        """
        _fits(pop, amount, self.pops[pop].free)
        self.unhold(pop, amount)
        self._allocate_told(pop, amount)

    def _allocate_told(self, pop: str, amount: Amount) -> None:
        self.apply_allocate(pop, amount)
        for listener in self.pop_listeners:
            listener("allocate", pop, amount)

    def release(self, pop: str, amount: Amount) -> None:
        """Give `amount` back to free_p."""
        self.apply_free(pop, amount)
        for listener in self.pop_listeners:
            listener("free", pop, amount)

    def apply_allocate(self, pop: str, amount: Amount) -> None:
        """Count `amount` as used on `pop` (another agent's allocation), telling nobody."""
        state = self.pops[pop]
        state.used = state.used + amount
        self.pop_version += 1

    def apply_free(self, pop: str, amount: Amount) -> None:
        """Give `amount` back to `pop`, telling nobody."""
        state = self.pops[pop]
        state.used = _minus(state.used, amount)
        self.pop_version += 1

    def deploy(self, pop: str, vnf: str, units: int = 1) -> Instance:
        """Instantiate `units` units of `vnf` on `pop`, allocating req_v × units."""
        if self.kinds.get(pop) is not NodeKind.POP:
            raise KeyError(f"{pop!r} is not a PoP")
        self.allocate(pop, req(self.catalogue[vnf], units))
        return self.adopt(pop, vnf, units)

    def adopt(self, pop: str, vnf: str, units: int = 1) -> Instance:
        """Register an instance whose resources were already allocated (by a reservation)."""
        instance = Instance(f"{vnf}@{pop}#{next(self._ids)}", vnf, pop, units)
        self.instances[instance.id] = instance
        return instance

    def terminate(self, instance_id: str) -> None:
        """Stop an instance; its resources return to its PoP."""
        instance = self.instances.pop(instance_id)
        self.release(instance.pop, req(self.catalogue[instance.vnf], instance.units))

    def scale_in(self, instance_id: str, units: int) -> None:
        """Shrink an instance to `units` units, returning the rest to its PoP."""
        instance = self.instances[instance_id]
        if not 1 <= units <= instance.units:
            raise ValueError(f"cannot scale {instance_id} from {instance.units} to {units}")
        freed = req(self.catalogue[instance.vnf], instance.units - units)
        instance.units = units
        self.release(instance.pop, freed)

    def scale_out(self, instance_id: str, units: int) -> None:
        """Grow an instance to `units` units on its PoP (CapacityError if they do not fit)."""
        instance = self.instances[instance_id]
        if units < instance.units:
            raise ValueError(f"cannot scale {instance_id} out from {instance.units} to {units}")
        self.allocate(instance.pop, req(self.catalogue[instance.vnf], units - instance.units))
        instance.units = units

    def idle_instance(self, pop: str, vnf: str, traffic: float = 0.0) -> Instance | None:
        """An idle instance of `vnf` on `pop` big enough for `traffic` MB/s, if any."""
        units = units_needed(self.catalogue[vnf], traffic)
        for instance in self.instances.values():
            if instance.pop == pop and instance.can_serve(vnf, units):
                return instance
        return None

    def reserve_path(self, path: list[str], bandwidth: float, *, tell: bool = True) -> None:
        """Reserve `bandwidth` MB/s on every link of a node path (a virtual path); the
        path listeners are told unless `tell` is off (someone told them already)."""
        hops = [self.link(a, b) for a, b in itertools.pairwise(path)]
        for link in hops:
            if link.available + 1e-9 < bandwidth:
                raise CapacityError(f"{link.a}–{link.b}: needs {bandwidth}, has {link.available}")
        for link in hops:
            link.reserved += bandwidth
        self.link_version += 1
        if tell:
            for listener in self.path_listeners:
                listener("reserve", path, bandwidth)

    def release_path(self, path: list[str], bandwidth: float) -> None:
        """Give back bandwidth reserved along a node path."""
        self.apply_release(path, bandwidth)
        for listener in self.path_listeners:
            listener("release", path, bandwidth)

    def apply_reserve(self, path: list[str], bandwidth: float) -> None:
        """Another agent reserved a virtual path: count it, even beyond capacity (its
        owner checked against its own view), and tell no listener."""
        for a, b in itertools.pairwise(path):
            self.link(a, b).reserved += bandwidth
        self.link_version += 1

    def apply_release(self, path: list[str], bandwidth: float) -> None:
        """Give back bandwidth reserved along a node path, telling no listener."""
        for a, b in itertools.pairwise(path):
            link = self.link(a, b)
            link.reserved = max(0.0, link.reserved - bandwidth)
        self.link_version += 1


def _minus(amount: Amount, less: Amount) -> Amount:
    """`amount` − `less`, never below 0 in any resource."""
    return Amount(*(max(0.0, a - b) for a, b in zip(amount, less, strict=True)))


def _fits(pop: str, amount: Amount, free: Amount) -> None:
    """CapacityError unless `amount` fits in `free` on `pop`."""
    if not amount.fits_in(free):
        raise CapacityError(f"{pop}: needs {tuple(amount)}, free {tuple(free)}")
