"""How long the MLFO waits for N agent processes to join and to be ready.

Fixed deadlines (60 s "agents ready", 120 s "agents joining") held 6 agents on a 2-core
host and failed 25: every agent process starts an interpreter, imports the package,
measures itself (`secmas.trust.image`) and connects over TLS, and N of them share the
host's cores. The wait is therefore sized from N and that cost, and then follows the
agents as they come: a wait fails only when they stop arriving.

* Before the first arrival it may last `first + N * start_cost / cores` wall seconds:
  the agents start together, so the first is done about when all have had their share.
* After each arrival the rest may take `slack` times the measured interval between
  arrivals each, and at least `first` s: a steady stream of joins never times out, an
  agent that hangs is named once the others are in and none arrived for that long.

* While a missing agent keeps working (its CPU time grows, as the IML driver reads it:
  `secmas.pipeline.iml.ReportsWork`), the wait goes on for `first` s after each such
  sign: an agent slow to start on a busy host (starved of CPU by other work: one suite
  saw 0 of 6 agents in after 45 s) is waited for while it makes progress, not for a
  fixed time. Work counts until the agent has spent `cpu_allowance` times `start_cost`
  of CPU without arriving: one spinning in a loop is then named like one that hangs.

`start_cost` is measured (`benchmarks/bench_process_scale.py`): CPU seconds one agent
process spends from exec to its join on this kind of host.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BringUp:
    """The wait's settings (`operate_processes(arrival=…)`); see the module docstring."""

    first: float = 30.0
    """Wall seconds any agent may take beyond its share of the start cost."""
    start_cost: float = 5.0
    """CPU seconds one agent process takes to start, measure itself and join: about 3.6
    measured for 12 agents on 2 busy cores (21.6 s of wall), doubled for a host that is
    busier still."""
    slack: float = 3.0
    """How many measured intervals between arrivals each missing agent may take."""
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    """The cores the agents share (default: those this process may run on)."""
    cpu_allowance: float = 4.0
    """How many times `start_cost` of CPU a missing agent may spend and still count as
    making progress."""

    def __post_init__(self) -> None:
        if (
            self.first <= 0
            or self.start_cost < 0
            or self.slack <= 0
            or self.cores < 1
            or self.cpu_allowance <= 0
        ):
            raise ValueError(f"bring-up settings out of range: {self}")

    def budget(self, agents: int) -> float:
        """Wall seconds `agents` processes started together may take to the first arrival."""
        return self.first + agents * self.start_cost / self.cores

    def ceiling(self, agents: int) -> float:
        """Wall seconds past which no single request of the bring-up is waited for, however
        the agents work: a backstop for a host starved for many minutes; the waits
        themselves fail on the agents' progress (`Arrivals.deadline`) long before."""
        return self.budget(agents) * self.cpu_allowance * self.slack

    def arrivals(self, expected: int, now: float, count: int = 0) -> Arrivals:
        """A wait for `expected` arrivals starting at `now`, `count` of them in already."""
        return Arrivals(self, expected, now, count)


@dataclass
class Arrivals:
    """The deadline of one wait, moved on by each arrival (`BringUp`)."""

    settings: BringUp
    expected: int
    started: float
    count: int = 0
    last: float | None = None
    """When the latest arrival was seen (None: none since the wait started)."""
    _first: tuple[float, int] | None = None
    """When the first arrival of this wait was seen, and the count then."""
    busy: float | None = None
    """When a missing agent was last seen working (None: not since the wait started)."""
    _cpu: dict[str, float] = field(default_factory=dict)
    """Each agent's CPU seconds at the previous sample."""

    def seen(self, count: int, now: float) -> None:
        """`count` agents are in at `now` (a count that did not grow changes nothing)."""
        if count <= self.count:
            return
        self.count, self.last = count, now
        if self._first is None:
            self._first = (now, count)

    def worked(self, cpu: Mapping[str, float], missing: Collection[str], now: float) -> None:
        """The agents' CPU seconds at `now`: a missing agent whose CPU grew since the last
        sample, within its allowance, is making progress."""
        allowance = self.settings.cpu_allowance * self.settings.start_cost
        if any(
            cpu.get(agent, 0.0) > self._cpu.get(agent, 0.0) and cpu[agent] <= allowance
            for agent in missing
        ):
            self.busy = now
        self._cpu = dict(cpu)

    def interval(self) -> float | None:
        """The measured mean wall seconds between arrivals (None: fewer than two seen)."""
        if self._first is None or self.last is None or self.count == self._first[1]:
            return None
        at, count = self._first
        return (self.last - at) / (self.count - count)

    def deadline(self) -> float:
        """When the wait fails if no further agent arrives."""
        settings = self.settings
        initial = self.started + settings.budget(self.expected)
        if self.busy is not None:
            initial = max(initial, self.busy + settings.first)
        if self.last is None:
            return initial
        missing = max(self.expected - self.count, 0)
        measured = self.interval() or 0.0
        rest = max(settings.first, settings.slack * measured * missing)
        return max(initial, self.last + rest)
