"""The conflict check run before any SSLA is enforced.

Two policies conflict when they want opposite things for the same traffic or state:

- **allow vs block**: an allow term (its KPI counts the *rejected* packets of sources
  `IN` a set, as an `access` intent compiles to) and a block term (its KPI counts packets of
  sources `NOT IN` a whitelist and it remedies with REJECT_PACKET, as `isolation` compiles to)
  on the same slice, where some allowed address lies outside the whitelist: the block would
  drop what the allow promises to let in;
- **contradictory residency**: two terms on the same slice requiring its data to stay in two
  different regions (both can hold only while the slice stores nothing).

Each conflict is reported and settled so that the two are not both enforced on the disputed
traffic: the SSLA with the higher priority wins, and on a tie the blocking one (deny
overrides, the secure default). The loser is narrowed: a losing block term's whitelist gains
the disputed prefixes (they are no longer breaches it rejects), a losing allow term's set
loses them (their drops no longer breach it). Residency conflicts cannot be narrowed: the
lower-priority (on a tie, the later) term is suspended.

The analysis reads the terms' KPI formulas and named sets, so it works on SSLAs written by
hand as well as on translated intents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
from typing import Any, Literal

from secmas.policy.kpi import Compare, Formula, Member, atoms, parse
from secmas.policy.ssla import SSLA, GuaranteeTerm, NamedSet, SetKind

IPNetwork = IPv4Network | IPv6Network
TermKey = tuple[str, str]
"""(SSLA id, term name)."""

SOURCE_FIELD = "source_ip"
REJECTED_STREAM = "rejected_packets"
REGION_FIELD = "region"


@dataclass(frozen=True)
class TrafficRule:
    """What one term does to traffic entering a slice, read from its formula."""

    key: TermKey
    slice: str
    effect: Literal["allow", "block"]
    set_name: str
    prefixes: tuple[IPNetwork, ...]
    """allow: the sources let in; block: the whitelist (everything outside is blocked)."""
    priority: int


@dataclass(frozen=True)
class Conflict:
    """Two terms that cannot both be enforced, and how the check settled it."""

    kind: Literal["allow-vs-block", "residency"]
    first: TermKey
    second: TermKey
    slice: str
    disputed: tuple[str, ...]
    """The prefixes both claim (allow vs block) or the two regions (residency)."""
    winner: TermKey
    rule: str
    """Which precedence rule chose the winner."""

    @property
    def loser(self) -> TermKey:
        return self.second if self.winner == self.first else self.first

    def explain(self) -> str:
        """One sentence naming both terms, the disputed traffic and the outcome."""
        what = (
            f"sources {', '.join(self.disputed)} are allowed by one and blocked by the other"
            if self.kind == "allow-vs-block"
            else f"data must stay in both {' and '.join(self.disputed)}"
        )
        return (
            f"conflict on slice {self.slice}: {_name(self.first)} vs {_name(self.second)}: "
            f"{what}; {_name(self.winner)} is enforced ({self.rule}), "
            f"{_name(self.loser)} is not for the disputed part"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "terms": [list(self.first), list(self.second)],
            "slice": self.slice,
            "disputed": list(self.disputed),
            "winner": list(self.winner),
            "rule": self.rule,
            "explanation": self.explain(),
        }


@dataclass
class Resolution:
    """The outcome of the conflict check: the conflicts, the narrowed named sets of the
    losing terms, and the terms suspended outright."""

    conflicts: list[Conflict] = field(default_factory=list)
    sets: dict[TermKey, dict[str, NamedSet]] = field(default_factory=dict)
    suspended: set[TermKey] = field(default_factory=set)

    def named_sets(self, key: TermKey, term: GuaranteeTerm) -> tuple[NamedSet, ...]:
        """The term's named sets as enforced (narrowed where it lost a conflict)."""
        narrowed = self.sets.get(key, {})
        return tuple(narrowed.get(named.name, named) for named in term.indicator.sets)


def _name(key: TermKey) -> str:
    return f"{key[0]}/{key[1]}"


def check(sslas: Sequence[SSLA]) -> Resolution:
    """Find every conflict among `sslas` and settle it (see the module docstring)."""
    resolution = Resolution()
    priorities = {ssla.id: ssla.priority for ssla in sslas}
    rules = [rule for ssla in sslas for term in ssla.terms if (rule := traffic_rule(ssla, term))]
    allows = [r for r in rules if r.effect == "allow"]
    blocks = [r for r in rules if r.effect == "block"]
    for allow in allows:
        for block in blocks:
            if allow.slice != block.slice:
                continue
            disputed = uncovered(allow.prefixes, block.prefixes)
            if not disputed:
                continue
            if allow.priority > block.priority:
                winner, rule, loser = allow, "higher priority", block
                grown = (*block.prefixes, *disputed)
                _narrow(resolution, loser.key, loser.set_name, grown)
            else:
                rule = "higher priority" if block.priority > allow.priority else "deny overrides"
                winner, loser = block, allow
                _narrow(resolution, loser.key, loser.set_name, uncovered(allow.prefixes, disputed))
            resolution.conflicts.append(
                Conflict(
                    "allow-vs-block",
                    allow.key,
                    block.key,
                    allow.slice,
                    tuple(str(n) for n in disputed),
                    winner.key,
                    rule,
                )
            )
    _residency_conflicts(sslas, priorities, resolution)
    return resolution


def traffic_rule(ssla: SSLA, term: GuaranteeTerm) -> TrafficRule | None:
    """The allow or block rule a term enforces on sources, if its formula states one."""
    formula = parse(term.indicator.formula)
    members = [
        atom
        for atom in atoms(formula.where)
        if isinstance(atom, Member) and atom.field == SOURCE_FIELD and isinstance(atom.source, str)
    ]
    if len(members) != 1:
        return None
    [member] = members
    named = {n.name: n for n in term.indicator.sets}.get(str(member.source))
    if named is None or named.kind is not SetKind.PREFIXES:
        return None
    prefixes = tuple(ip_network(value) for value in named.values)
    key = (ssla.id, term.name)
    rejects = any(action.kind == "REJECT_PACKET" for action in term.remediation)
    if member.negated and rejects:
        return TrafficRule(key, ssla.slice, "block", named.name, prefixes, ssla.priority)
    if not member.negated and formula.stream == REJECTED_STREAM:
        return TrafficRule(key, ssla.slice, "allow", named.name, prefixes, ssla.priority)
    return None


def uncovered(networks: Iterable[IPNetwork], cover: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The parts of `networks` outside every network of `cover` (collapsed, sorted)."""
    cover = list(cover)
    remaining: list[IPNetwork] = list(networks)
    for hole in cover:
        kept: list[IPNetwork] = []
        for network in remaining:
            if network.version != hole.version or not network.overlaps(hole):
                kept.append(network)
            elif hole.supernet_of(network):  # type: ignore[arg-type]
                continue
            else:
                kept.extend(network.address_exclude(hole))  # type: ignore[arg-type]
        remaining = kept
    by_version: dict[int, list[IPNetwork]] = {}
    for network in remaining:
        by_version.setdefault(network.version, []).append(network)
    return [n for v in sorted(by_version) for n in collapse_addresses(by_version[v])]  # type: ignore[misc]


def _narrow(
    resolution: Resolution, key: TermKey, set_name: str, networks: Iterable[IPNetwork]
) -> None:
    values = tuple(str(n) for n in networks)
    resolution.sets.setdefault(key, {})[set_name] = NamedSet(set_name, SetKind.PREFIXES, values)


def _region(formula: Formula) -> str | None:
    """The region a residency formula (`… WHERE region != 'R'`) requires, if it is one."""
    found = [
        atom.value
        for atom in atoms(formula.where)
        if isinstance(atom, Compare)
        and atom.field == REGION_FIELD
        and atom.op == "!="
        and isinstance(atom.value, str)
    ]
    return found[0] if len(found) == 1 else None


def _residency_conflicts(
    sslas: Sequence[SSLA], priorities: dict[str, int], resolution: Resolution
) -> None:
    regions: list[tuple[TermKey, str, str]] = []
    for ssla in sslas:
        for term in ssla.terms:
            region = _region(parse(term.indicator.formula))
            if region is not None:
                regions.append(((ssla.id, term.name), ssla.slice, region))
    for index, (first, slice_, region) in enumerate(regions):
        for second, other_slice, other in regions[index + 1 :]:
            if slice_ != other_slice or region == other:
                continue
            if second in resolution.suspended or first in resolution.suspended:
                continue
            later_wins = priorities[second[0]] > priorities[first[0]]
            winner, loser = (second, first) if later_wins else (first, second)
            rule = (
                "higher priority"
                if priorities[first[0]] != priorities[second[0]]
                else "first declared"
            )
            resolution.suspended.add(loser)
            resolution.conflicts.append(
                Conflict("residency", first, second, slice_, (region, other), winner, rule)
            )
