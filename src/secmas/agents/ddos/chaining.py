"""Chaining (`003_…` §3): the traffic a VNF must act on is steered through its PoP.

A VNF acts only on traffic crossing the PoP it runs on. When the traffic of a goal,
found at some node (the switch of the monitored link, or the PoP whose load balancer split
it), does not all cross that PoP, the agent installs a `Steer` rule at the node that sends
it over the virtual path to the PoP (the path the winning bid computed when it links the
two, else Algorithm 1's path between them), and reserves that path's bandwidth for the
steered traffic in the infrastructure for as long as the steering lives. Traffic that
already crosses the PoP is left alone by the rule, so a steering costs only what it moves.

Steerings are shared: goals of one agent needing the same one hold it once (one rule,
one reservation), and it goes when the last of them lets go (`on_release` is told).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass

from secmas.agents.bidding import Bid, GoalRequest, shared_context
from secmas.network.dataplane import Steer
from secmas.network.dataplane.controller import Controller
from secmas.network.infrastructure import Infrastructure, NodeKind
from secmas.network.paths import lowest_cost_path


class ChainError(RuntimeError):
    """The traffic cannot be steered to the VNF's PoP: no path satisfies the goal."""


Link = frozenset[str]
"""A link by its two ends (reservations are per link, whatever the direction)."""


def links_of(path: Collection[str]) -> set[Link]:
    """The links of a node path."""
    return {frozenset(hop) for hop in itertools.pairwise(path)}


@dataclass
class _Held:
    rule_id: int
    reserved: list[tuple[list[str], float]]
    """(link as a 2-node path, MB/s) of each reservation made for the steering."""
    users: int = 1

    @property
    def bandwidth(self) -> float:
        """The most MB/s reserved on one link of the path."""
        return max((amount for _, amount in self.reserved), default=0.0)


@dataclass
class Chains:
    """The steerings one agent holds for the VNFs on its PoP; `on_release` is told of
    each steering once its rule is gone (the agent journals it)."""

    pop: str
    plane: Controller
    infra: Infrastructure
    on_release: Callable[[Steer], None] | None = None

    def __post_init__(self) -> None:
        self._held: dict[Steer, _Held] = {}

    @property
    def held(self) -> dict[Steer, float]:
        """Each steering held and the bandwidth reserved for it on its path, MB/s."""
        return {steer: held.bandwidth for steer, held in self._held.items()}

    def virtual_path(self, request: GoalRequest, bid: Bid, node: str) -> tuple[str, ...]:
        """The node path from `node`, where the traffic is, to this PoP.

        The chain of `003_…` §3: the traffic reaches the auctioneer's PoP, and the winning
        bid's virtual path takes it on to this one. So: the path from `node` to the
        auctioneer (none when the auctioneer is where the traffic is), then the bid's path
        backwards, with any loop cut out. Paths a bid did not compute are Algorithm 1's
        under the goal's constraints; bandwidth is none of them: what a path lacks, the
        steered traffic finds congested (see `steer`).
        """
        auctioneer = request.auctioneer
        if bid.path and bid.path[0] == self.pop and bid.path[-1] == auctioneer:
            tail = tuple(reversed(bid.path))
        else:
            tail = self._path(request, auctioneer, self.pop)
        if auctioneer == node:
            return tail
        return _without_loops(self._path(request, node, auctioneer) + tail[1:])

    def entry_path(self, ingress: str) -> tuple[str, ...]:
        """The lowest-latency path from `ingress` to this PoP (fewest hops on a tie), over
        nodes that forward traffic: how one flow is brought here from where it enters the
        network. It follows the flow's own route when that crosses this PoP anyway."""
        best: dict[str, tuple[float, int]] = {ingress: (0.0, 0)}
        prev: dict[str, str] = {}
        queue = [(0.0, 0, ingress)]
        done: set[str] = set()
        while queue:
            latency, hops, node = heapq.heappop(queue)
            if node in done:
                continue
            done.add(node)
            if node == self.pop:
                break
            for neighbour, link in self.infra.adjacency[node]:
                if neighbour in done or self.infra.kinds[neighbour] is NodeKind.HOST:
                    continue
                key = (latency + link.latency, hops + 1)
                if neighbour not in best or key < best[neighbour]:
                    best[neighbour] = key
                    prev[neighbour] = node
                    heapq.heappush(queue, (*key, neighbour))
        if self.pop not in done:
            raise ChainError(f"no path from {ingress} to {self.pop}")
        path = [self.pop]
        while path[-1] != ingress:
            path.append(prev[path[-1]])
        return tuple(reversed(path))

    def _path(self, request: GoalRequest, start: str, end: str) -> tuple[str, ...]:
        """Algorithm 1's path from `start` to `end` under the goal's constraints (searched
        from `end`, as the bidder there would)."""
        if start == end:
            return (start,)
        ctx = shared_context(self.infra)
        path = lowest_cost_path(
            self.infra, end, start, request.constraints, ctx.hop_eval(end), ctx.hop_eval
        )
        if path is None:
            raise ChainError(
                f"no path from {start} to {end} satisfies the constraints of {request.goal}"
            )
        return tuple(reversed(path.nodes))

    async def steered_rate(
        self, node: str, dst_ip: str, part: int | None, src_ip: str | None = None
    ) -> float:
        """MB/s towards `dst_ip` at `node` (split part `part`) that does not cross this PoP
        now: what a steering from `node` would bring here. One source's flow is steered from
        where it enters the network, before anything else could bring it here: all of it."""
        here = (
            set()
            if src_ip is not None
            else {stats.flow for stats in await self.plane.flows_via(self.pop, dst_ip)}
        )
        return sum(
            stats.last.rate
            for stats in await self.plane.flows_via(node, dst_ip)
            if stats.flow not in here
            and part in (None, stats.part)
            and src_ip in (None, stats.flow.src_ip)
        )

    async def steer(
        self,
        via: tuple[str, ...],
        dst_ip: str,
        part: int | None,
        bandwidth: float,
        covered: Collection[Link] = (),
        src_ip: str | None = None,
    ) -> Steer:
        """Hold the steering of the traffic towards `dst_ip` (from `src_ip`) at via[0] over
        `via`. A new one reserves `bandwidth` MB/s on every link of the path but those
        `covered` by a reservation made for the same traffic already, each up to what the
        link has left: a link the steered traffic fills is then fully reserved, and the
        data plane, which carries it whatever the bookkeeping, shows the congestion."""
        steer = Steer(via[0], dst_ip, via, part, src_ip)
        held = self._held.get(steer)
        if held is not None:
            held.users += 1
            return steer
        reserved: list[tuple[list[str], float]] = []
        for hop in itertools.pairwise(via):
            if frozenset(hop) in covered:
                continue
            amount = min(bandwidth, self.infra.link(*hop).available)
            if amount > 0:
                self.infra.reserve_path(list(hop), amount)
                reserved.append((list(hop), amount))
        try:
            rule_id = await self.plane.add_rule(steer)
        except BaseException:
            for hop, amount in reserved:
                self.infra.release_path(hop, amount)
            raise
        self._held[steer] = _Held(rule_id, reserved)
        return steer

    async def release(self, steer: Steer) -> None:
        """Let go of a steering; the last holder removes its rule and reservation."""
        held = self._held.get(steer)
        if held is None:
            return
        held.users -= 1
        if held.users > 0:
            return
        del self._held[steer]
        await self.plane.remove_rule(held.rule_id)
        for hop, amount in held.reserved:
            self.infra.release_path(hop, amount)
        if self.on_release is not None:
            self.on_release(steer)


def _without_loops(path: tuple[str, ...]) -> tuple[str, ...]:
    """The path with every loop cut out (a node met again goes back to its first visit)."""
    kept: list[str] = []
    for node in path:
        if node in kept:
            del kept[kept.index(node) + 1 :]
        else:
            kept.append(node)
    return tuple(kept)
