"""The attacks on the emulated CNF (`002_…` Section IV and `004_…` Section 6.2), as real
processes in namespaces the run created, each recorded as ground truth.

- `http_flood` (`httpflood.py`) and `slowloris` (`slowloris.py`) from the attacker
  namespaces, against nginx; while one runs, the attacker namespaces accept the
  answers of their own connections (otherwise they drop what comes back, as a spoofing
  SYN flood's sources would);
- `syn_flood` (`synflood.py`, raw SYNs) from the attacker namespaces;
- the installed incidents that run inside a real CNF (`IncidentPlugin.inside`: the
  built-in `high_cpu` and `high_memory`, stress-ng workers): in the server's namespace
  and the CNF's cgroup, as code an attacker got to run in the container.

An `Episode` holds an attack's kind, its Unix start and stop times and its sources: the
ground truth that labels recordings and scores the loop.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from secmas.network.attack import module
from secmas.network.emulation import firewall
from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.errors import EmulationUnavailable
from secmas.network.emulation.namespaces import Namespace
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import Group
from secmas.network.incident import incident_kind, inside_kinds

NETWORK_ATTACKS: tuple[str, ...] = ("http_flood", "slowloris", "syn_flood")
"""The attacks from the attacker namespaces; the names are the simulated CNF's conditions."""
APPLICATION = frozenset({"http_flood", "slowloris"})
HANDLE = re.compile(r"# handle (\d+)")
STRESS_NG = "/usr/bin/stress-ng"


@dataclass(frozen=True, slots=True)
class AttackSettings:
    """How hard each attack hits (real rates, whole attack)."""

    http_rps: float = 300.0
    http_size: int = 2048
    slowloris_connections: int = 900
    slowloris_interval: float = 3.0
    slowloris_opening: float = 200.0
    """Slowloris connections opened a second (`slowloris.OPEN_RATE`)."""
    syn_pps: float = 1500.0
    cpu_load: int = 95
    """Per cent of one core the CPU hog burns."""
    leak_growth: str = "4K"
    """stress-ng's --bigheap-growth: bytes the leak adds per realloc."""
    leak_mb_s: float | None = None
    """A leak throttled to this many MB a second (`memleak`); None: stress-ng's bigheap,
    as fast as realloc goes."""

    def scaled(self, share: float) -> AttackSettings:
        """Every attack at `share` of its size (rates, connections held, CPU burnt, bytes
        leaked per realloc): the weak attacks a detector must still find (pure)."""
        if not 0.0 < share <= 1.0:
            raise ValueError(f"attack size {share:g}: needs 0 < share ≤ 1")
        return replace(
            self,
            http_rps=self.http_rps * share,
            slowloris_connections=max(1, round(self.slowloris_connections * share)),
            slowloris_opening=self.slowloris_opening * share,
            syn_pps=self.syn_pps * share,
            cpu_load=max(1, round(self.cpu_load * share)),
            leak_mb_s=None if share == 1.0 else FULL_LEAK_MB_S * share,
        )


FULL_LEAK_MB_S = 700.0
"""What the full-size leak (stress-ng's bigheap, 4 KiB a realloc) held a second in the
CNF on the 2-core benchmark machine: 10.9 GB in 15 s. stress-ng grows by at least a page
per realloc, as fast as it can, so a leak at a share of its size is throttled instead."""


@dataclass
class Episode:
    """One attack: kind, Unix start and stop times (None while it runs) and sources."""

    kind: str
    start: float
    stop: float | None = None
    sources: tuple[str, ...] = ()
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start, "stop": self.stop, "sources": self.sources}


def stress_ng() -> str:
    """stress-ng's path, or EmulationUnavailable naming the Debian package."""
    found = shutil.which("stress-ng") or (STRESS_NG if Path(STRESS_NG).exists() else None)
    if found is None:
        raise EmulationUnavailable(
            "stress-ng: install the Debian package stress-ng (./scripts/setup --emulated)"
        )
    return found


def attacks() -> tuple[str, ...]:
    """Every attack the emulated CNF suffers: the network attacks, then the installed
    incidents that run inside it, sorted."""
    return (*NETWORK_ATTACKS, *sorted(inside_kinds()))


def inside_command(kind: str, settings: AttackSettings, binary: str) -> list[str]:
    """The stress-ng command line of incident `kind` inside the CNF (its plug-in's
    `command`); ValueError for one that does not run inside."""
    if kind not in inside_kinds():
        raise ValueError(f"{kind!r} is not an attack inside the CNF")
    return incident_kind(kind).command(binary, settings)


def start_inside(
    network: EmulatedNetwork,
    group: CNFGroup,
    kind: str,
    settings: AttackSettings,
    folder: Path,
    namespace: Namespace | None = None,
) -> subprocess.Popen[bytes]:
    """Start an incident inside the CNF (`inside_kinds`): in the CNF's cgroup and in
    `namespace` (where its instance runs; default the server's), logging to
    `folder`/KIND.log."""
    command = inside_command(kind, settings, stress_ng())
    where = group.inside(namespace or network.namespace(network.plan.server))
    return network.spawn(where, command, str(folder / f"{kind}.log"))


def accept_answers(namespace: Namespace, sources: Sequence[str]) -> str | None:
    """Let an attacker namespace take the answers of connections `sources` opened (it
    drops what comes back otherwise, as a spoofing SYN flood's sources would); the nft
    command that takes this out again (None when nft printed no handle)."""
    rule = (
        f"insert rule inet {firewall.TABLE} input ip daddr {{ {', '.join(sources)} }} "
        "ct state established accept\n"
    )
    found = HANDLE.search(namespace.nft(rule))
    if found is None:
        return None
    return f"delete rule inet {firewall.TABLE} input handle {found.group(1)}\n"


class CNFAttacker:
    """Starts and stops one attack at a time against the CNF; keeps the episodes."""

    def __init__(
        self,
        network: EmulatedNetwork,
        group: CNFGroup,
        folder: Path,
        port: int,
        settings: AttackSettings | None = None,
    ) -> None:
        self.network = network
        self.group = group
        self.folder = folder
        self.port = port
        self.settings = settings or AttackSettings()
        self.episodes: list[Episode] = []
        self._groups = [g for g in network.plan.groups if g.attackers]
        self._accepting: list[tuple[Namespace, str]] = []
        if not self._groups:
            raise ValueError("the emulated network has no attacker namespace")

    @property
    def current(self) -> Episode | None:
        """The attack under way, if any."""
        if self.episodes and self.episodes[-1].stop is None:
            return self.episodes[-1]
        return None

    def start(self, kind: str) -> Episode:
        """Start an attack (one at a time); its episode, start time taken once it runs."""
        known = attacks()
        if kind not in known:
            raise ValueError(f"unknown attack {kind!r}; known: {', '.join(known)}")
        if self.current is not None:
            raise RuntimeError(f"{self.current.kind} is still under way")
        if kind in inside_kinds():
            processes = [self._inside(kind)]
            sources: tuple[str, ...] = ()
        else:
            if kind in APPLICATION:
                self._accept_answers()
            processes = [self._outside(kind, group) for group in self._groups]
            sources = tuple(a.ip for g in self._groups for a in g.attackers)
        episode = Episode(kind, time.time(), sources=sources, processes=processes)
        self.episodes.append(episode)
        return episode

    def stop(self) -> Episode | None:
        """Stop the attack under way; its episode with the stop time."""
        episode = self.current
        if episode is None:
            return None
        for process in episode.processes:
            self.network.end(process, grace=1.0)
        episode.stop = time.time()
        episode.processes.clear()
        self._drop_answers()
        return episode

    def _inside(self, kind: str) -> subprocess.Popen[bytes]:
        return start_inside(self.network, self.group, kind, self.settings, self.folder)

    def _outside(self, kind: str, group: Group) -> subprocess.Popen[bytes]:
        share = 1.0 / len(self._groups)
        settings, server = self.settings, self.network.plan.server_ip
        sources = ",".join(a.ip for a in group.attackers)
        port = str(self.port)
        if kind == "http_flood":
            rps = f"{settings.http_rps * share:.1f}"
            command = [*module("httpflood"), server, port, rps, str(settings.http_size), sources]
        elif kind == "slowloris":
            count = max(1, round(settings.slowloris_connections * share))
            command = [
                *module("slowloris"),
                server,
                port,
                str(count),
                f"{settings.slowloris_interval:g}",
                sources,
                f"{settings.slowloris_opening:g}",
            ]
        else:
            pps = f"{settings.syn_pps * share:.1f}"
            command = [*module("synflood"), server, pps, port, sources]
        namespace = self.network.namespace(group.name)
        return self.network.spawn(namespace, command, str(self.folder / f"{group.name}-{kind}.log"))

    def _accept_answers(self) -> None:
        """Let the attacker namespaces take the answers of their own connections."""
        for group in self._groups:
            namespace = self.network.namespace(group.name)
            undo = accept_answers(namespace, [a.ip for a in group.attackers])
            if undo is not None:
                self._accepting.append((namespace, undo))

    def _drop_answers(self) -> None:
        for namespace, command in self._accepting:
            namespace.nft(command)
        self._accepting.clear()
