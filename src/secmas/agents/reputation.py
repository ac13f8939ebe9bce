"""Peers' reputation from the promises they kept and broke in NFV-A auctions.

`003_…` Section 7.2 names reputation as what agents of different providers need to trust
each other; an attested agent can still bid and then not deliver. Every award is a
promise the winner makes to the initiator, judged by the initiator alone (first-hand):
kept when the winner's plan acted (INFORM-DONE), broken when it failed, its lease lapsed,
it was still downloading well past its own bid's T, it was gone (revoked, crashed), or
its bid was refused as implausible (`secmas.agents.plausibility`). An agent never rates
itself.

A peer's reputation is the expectation of the beta distribution over its promises, the
beta reputation system of Jøsang and Ismail (15th Bled eCommerce Conference, 2002):
with r promises kept and s broken, Beta(r + 1, s + 1) has mean (r + 1) / (r + s + 2),
the probability that its next promise is kept; 1/2 for a peer never seen, and it moves
by less with every observation, so one unlucky failure does not outweigh a history.

Eq. 3.1 may weigh it (`weighed`): with weight w in [0, 1], a bid scores
(1 − w)·U + w·(1 − R), U being Eq. 3.1 and R the bidder's reputation. Both terms lie in
[0, 1], w = 0 is Eq. 3.1 exactly (Table 5.8), w = 1 ranks by reputation alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Conduct(StrEnum):
    """What a peer did with a promise: kept it, or how it broke it."""

    KEPT = "kept"
    """Its plan acted (INFORM-DONE)."""
    FAILED = "failed"
    """It answered FAILURE."""
    LAPSED = "lapsed"
    """Its lease lapsed: no progress report for a lease."""
    OVERRAN = "overran"
    """Still downloading a lease past its own bid's T."""
    GONE = "gone"
    """Revoked, crashed or killed while it held the goal."""
    IMPLAUSIBLE = "implausible"
    """Its bid was refused: a bound the initiator recomputed was broken."""


@dataclass(frozen=True, slots=True)
class Promise:
    """One promise judged by an initiator (`observer`): what `peer` did with its bid."""

    time: float
    observer: str
    peer: str
    conduct: Conduct
    goal: str = ""

    @property
    def kept(self) -> bool:
        """Whether the peer kept the promise."""
        return self.conduct is Conduct.KEPT


@dataclass(frozen=True, slots=True)
class Tally:
    """Promises kept and broken."""

    kept: int = 0
    broken: int = 0

    def plus(self, other: Tally) -> Tally:
        return Tally(self.kept + other.kept, self.broken + other.broken)

    @property
    def reputation(self) -> float:
        """The beta reputation (r + 1) / (r + s + 2)."""
        return beta_reputation(self.kept, self.broken)


def beta_reputation(kept: int, broken: int) -> float:
    """Mean of Beta(kept + 1, broken + 1): the chance the next promise is kept (Jøsang
    and Ismail 2002); 1/2 without evidence."""
    if kept < 0 or broken < 0:
        raise ValueError(f"promise counts must not be negative: {kept} kept, {broken} broken")
    return (kept + 1) / (kept + broken + 2)


def weighed(utility: float, reputation: float, weight: float) -> float:
    """Eq. 3.1's score `utility` weighed with the bidder's `reputation` (lower is better)."""
    if weight == 0.0:
        return utility
    return (1.0 - weight) * utility + weight * (1.0 - reputation)


@dataclass
class ReputationBook:
    """Every promise judged in a run, and the tally per (observer, peer) they add up to.

    Shared by the agents of one process (the run's journal holds it), so an initiator
    weighs what any of them saw; agents in their own processes see their own judgements
    in the run, and the run's report and ledger hold everyone's.
    """

    promises: list[Promise] = field(default_factory=list)
    tallies: dict[str, dict[str, Tally]] = field(default_factory=dict)
    """observer → peer → tally."""

    def add(self, promise: Promise) -> None:
        """Count one promise (a self-judgement is ignored: no agent rates itself)."""
        if promise.observer == promise.peer:
            return
        self.promises.append(promise)
        seen = self.tallies.setdefault(promise.observer, {})
        one = Tally(1, 0) if promise.kept else Tally(0, 1)
        seen[promise.peer] = seen.get(promise.peer, Tally()).plus(one)

    def tally(self, peer: str) -> Tally:
        """What every observer saw of `peer`."""
        total = Tally()
        for seen in self.tallies.values():
            total = total.plus(seen.get(peer, Tally()))
        return total

    def reputation(self, peer: str) -> float:
        """`peer`'s beta reputation over every observer's judgements."""
        return self.tally(peer).reputation

    def standing(self, peers: Iterable[str]) -> dict[str, float]:
        """The reputation of each of `peers`."""
        return {peer: self.reputation(peer) for peer in peers}

    def peers(self) -> list[str]:
        """Every agent judged at least once, in name order."""
        return sorted({peer for seen in self.tallies.values() for peer in seen})

    def report(self, weight: float) -> dict[str, Any]:
        """report.json's `reputation` section (without the ledger's part)."""
        return {
            "weight": weight,
            "peers": {
                peer: {**asdict(self.tally(peer)), "reputation": self.reputation(peer)}
                for peer in self.peers()
            },
            "promises": [asdict(p) for p in self.promises],
        }


def tallies_by_observer(book: ReputationBook) -> Mapping[str, Sequence[tuple[str, Tally]]]:
    """Per observer, its tally of each peer in name order (what it records on the ledger)."""
    return {
        observer: sorted(seen.items()) for observer, seen in sorted(book.tallies.items()) if seen
    }
