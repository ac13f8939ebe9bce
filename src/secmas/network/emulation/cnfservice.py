"""The CNF of an agent run on the emulated engine: a real nginx that the agents defend.

When a closed loop watches a scenario's CNF on the emulated engine, the server's
namespace runs Debian's nginx as that CNF (`cnfnginx`, in a cgroup of its own) instead
of the plain web server. Every step the run reads its counters through the exporter's
collector and turns two readings into the simulated CNF's fourteen metrics
(`cnfmetrics.metric_row`); the agents' remedies (`Controller.remedy`, carried out by the
winner of a goal's auction) change it for real, with the mitigations of `cnfdefence`:

- guard: the guard of `cnfdefence` (nftables per-source limits, held connections
  destroyed) in the namespace of the PoP that won it, swept again at every step while it
  stands; the server's PoP first steers the service's traffic through that PoP where its
  route does not cross it (`EmulatedController.remedy`);
- scale_out: one more nginx instance, in the namespace of the PoP that won it, on that
  PoP's own address and the CNF's ports, in the same cgroup; the CNF's front
  (`cnffront`, in the server's namespace) gives new connections to every instance in
  turn;
- migrate and isolate: a fresh instance in the winner's namespace replaces the first
  (isolate: the suspect one, whose PoP the placement records as isolated, as the
  simulator's does), the front sends every new connection there, and whatever else ran
  in the CNF is killed, as a container restarted from a clean image elsewhere would
  leave it behind.

Every remedy's record says where it acted: the PoP, its namespace, and for an instance
its nginx master's PID and network namespace (its inode, read from /proc while it runs).
The scenario's incidents on the CNF that run inside a real one (`inside_kinds`: the
built-in `high_cpu` and `high_memory`) run inside it at their times
(`cnfattacks.start_inside`: stress-ng in the CNF's cgroup and its first instance's
namespace), so the ground truth of a step is the attack or incident under way.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from secmas.network.dataplane.cnf import CNFPlacement
from secmas.network.emulation.cnfattacks import AttackSettings, start_inside
from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.cnfdefence import CNFDefence
from secmas.network.emulation.cnfexporter import CNFCollector
from secmas.network.emulation.cnffront import ServiceFront
from secmas.network.emulation.cnfmetrics import CNFCounters, metric_row
from secmas.network.emulation.cnfnginx import NginxCNF
from secmas.network.emulation.namespaces import netns_inode
from secmas.network.emulation.network import EmulatedNetwork
from secmas.scenario.model import CNF, Incident

REMEDIES = ("guard", "isolate", "scale_out", "migrate")


@dataclass
class _Running:
    """An incident of the scenario and its process while it runs."""

    incident: Incident
    process: subprocess.Popen[bytes] | None = None
    done: bool = False


@dataclass(frozen=True)
class RemedyRecord:
    """One remedy carried out: for which PoP, what it did and where: the namespace it
    acted in, and for a new instance its nginx master's PID and network namespace inode
    (read from /proc as it started) beside the PoP namespace's own."""

    remedy: str
    pop: str
    done: str
    namespace: str
    pid: int | None = None
    netns: int | None = None
    pop_netns: int | None = None


@dataclass(frozen=True)
class Sample:
    """One step of the CNF: when it ended (run seconds) and its metrics."""

    t: float
    metrics: dict[str, float]


class RealCNF:
    """One CNF of an agent run (see the module docstring); `start` it, `sample` it every
    step, `stop` it whatever happened."""

    def __init__(
        self,
        network: EmulatedNetwork,
        spec: CNF,
        folder: Path,
        ports: Iterable[int],
        incidents: Sequence[Incident] = (),
    ) -> None:
        self.network = network
        self.spec = spec
        self.folder = folder
        self.ports = sorted(set(ports))
        self.sizes: set[int] = set()
        self.group: CNFGroup | None = None
        self.instances: list[NginxCNF] = []
        self.collector: CNFCollector | None = None
        self.defence: CNFDefence | None = None
        self.samples: list[Sample] = []
        self.front: ServiceFront | None = None
        self.remedies: list[RemedyRecord] = []
        """In order."""
        self._pops: list[str] = [spec.pop]
        self._isolated: list[str] = []
        self._incidents = [_Running(i) for i in incidents if i.cnf == spec.id]
        self._last: tuple[CNFCounters, float] | None = None
        """The last reading and its run time."""
        self._log: Path | None = None
        """The access log every instance writes (the first one's)."""
        self._count = 0
        self._lock = threading.Lock()

    # -- life ----------------------------------------------------------------------------------
    def start(self, sizes: Iterable[int]) -> None:
        """nginx in a fresh cgroup, serving every size in `sizes`, warmed up."""
        self.group = CNFGroup.create(self.network.plan.prefix)
        self.sizes = set(sizes)
        first = self._instance()
        first.warm_up()
        self.collector = CNFCollector(self.instances, self.group)
        self.defence = CNFDefence(self.instances, self.group)
        self.front = ServiceFront(self.defence.home, self.defence.service, self.ports)

    def _instance(self, pop: str | None = None) -> NginxCNF:
        """Start one more nginx instance (logging to the first one's access log), in
        `pop`'s namespace (default: the server's)."""
        assert self.group is not None
        self._count += 1
        folder = self.folder / f"nginx-{self._count}"
        instance = NginxCNF(self.network, self.group, folder, self.ports, self._log, pop)
        if self.defence is not None and self.defence.guarded:
            instance.header_timeout = self.defence.settings.header_timeout
        instance.start(self.sizes)
        self._log = instance.access_log
        self.instances.append(instance)
        return instance

    def stop(self) -> None:
        """Stop the incidents, lift the guard, stop every instance, remove the cgroup."""
        for running in self._incidents:
            if running.process is not None:
                self.network.end(running.process, grace=1.0)
        if self.defence is not None:
            self.defence.lift()
        if self.front is not None:
            self.front.close()
        for instance in self.instances:
            instance.stop()
        if self.group is not None:
            self.group.remove()

    # -- every step ----------------------------------------------------------------------------
    def sample(self, now: float) -> None:
        """Start and stop the incidents due at `now` (run seconds), read the CNF and keep the
        metrics since the last reading (the first reading only starts the counting), sweep
        the guard while it stands."""
        assert self.collector is not None and self.defence is not None
        with self._lock:
            self._incidents_at(now)
            counters = self.collector.counters()
            if self._last is not None:
                last, at = self._last
                self.samples.append(Sample(now, metric_row(last, counters, now - at)))
            self._last = counters, now
            if self.defence.guarded:
                self.defence.sweep()

    def _incidents_at(self, now: float) -> None:
        assert self.group is not None
        for running in self._incidents:
            incident = running.incident
            ended = incident.stop is not None and now >= incident.stop
            if running.process is None and not running.done and incident.start <= now:
                running.process = start_inside(
                    self.network,
                    self.group,
                    incident.kind,
                    AttackSettings(),
                    self.folder,
                    self.instances[0].namespace,
                )
            if running.process is not None and ended:
                self.network.end(running.process, grace=1.0)
                running.process, running.done = None, True

    # -- remedies ------------------------------------------------------------------------------
    def remedy(self, remedy: str, pop: str) -> RemedyRecord:
        """Carry out an enforcement action for the winner at `pop`; what it did and where
        (ValueError for a remedy a real CNF has not)."""
        if remedy not in REMEDIES:
            raise ValueError(
                f"the real CNF {self.spec.id!r} has no remedy {remedy!r}; it has "
                f"{', '.join(REMEDIES)}"
            )
        assert self.defence is not None and self.front is not None
        with self._lock:
            match remedy:
                case "guard":
                    swept = self.defence.guard(self.network.namespace(pop))
                    assert self.defence.guard_at is not None  # where it stands (once)
                    done = f"guard in front of nginx at {pop}; {len(swept)} source(s) swept"
                    record = RemedyRecord(remedy, pop, done, self.defence.guard_at.name)
                case "scale_out":
                    fresh = self._instance(pop)
                    self._pops.append(pop)
                    self._spread()
                    done = f"nginx instance {len(self.instances)} serves from {pop}"
                    record = self._placed(remedy, fresh, done)
                case _:
                    if remedy == "isolate":  # the suspect instance is quarantined
                        self._isolated.append(self._pops[0])
                    fresh = self._instance(pop)
                    killed = self.defence.isolate()
                    self.instances.remove(fresh)
                    self.instances.insert(0, fresh)
                    self.instances.pop(1).stop()
                    self._pops[0] = pop
                    self._spread()
                    done = f"a fresh nginx at {pop} replaced the first; {len(killed)} killed"
                    record = self._placed(remedy, fresh, done)
        self.remedies.append(record)
        return record

    def _spread(self) -> None:
        """New connections to every instance in turn, from now on."""
        assert self.front is not None
        self.front.spread([instance.address for instance in self.instances])

    def _placed(self, remedy: str, instance: NginxCNF, done: str) -> RemedyRecord:
        """The record of a remedy that started `instance` in its PoP's namespace."""
        assert instance.pop is not None
        pid, namespace = instance.master, instance.namespace
        return RemedyRecord(
            remedy,
            instance.pop,
            done,
            namespace.name,
            pid,
            netns_inode(pid),
            netns_inode(namespace.pid),
        )

    @property
    def placement(self) -> CNFPlacement:
        """Where the auctions placed its instances, whether it is guarded, and where an
        isolation acted."""
        guarded = self.defence is not None and self.defence.guarded
        return CNFPlacement(self._pops[0], tuple(self._pops), guarded, tuple(self._isolated))
