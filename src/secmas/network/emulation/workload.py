"""The real traffic of an emulated run: the server, the background clients, the attack.

The server is the plain web server, or, when the run's closed loop watches a CNF, that
CNF as a real nginx (`cnfservice.RealCNF`). Rates are the scenario's × `plan.scale` (a
2-core machine carries about 2 000 small packets a second through a handful of
namespaces without starving the agents): an HTTP client fetches
`http_rate × scale × step / HTTP_ON` bytes when it requests, a video client
`video_rate × scale × step` bytes every step. An attacker runs the process of what it
sends (`secmas.network.attack.Sender.command`: SYNs, HTTP requests or Slowloris
connections opened a second, for the built-ins) at `rate × scale` over the bytes of one
unit of it (`Sender.packet_bytes`). The attackers of one kind behind one node send at
most `MAX_ATTACK_PPS` units a second together. Sources of an attack that completes
handshakes (an HTTP flood, a Slowloris) take the answers of their own connections; the
others' (a SYN flood's) drop them, as a spoofed source would never answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from secmas.network.attack import Launch, fetched_sizes, module, sender
from secmas.network.dataplane.flows import FlowKind
from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.dataplane.traffic import HTTP_ON
from secmas.network.emulation.cnfattacks import accept_answers
from secmas.network.emulation.cnfservice import RealCNF
from secmas.network.emulation.errors import EmulationFailed
from secmas.network.emulation.namespaces import Namespace
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import Attacker, Client, Group
from secmas.network.emulation.trafficprofile import TrafficProfile, cold_sizes
from secmas.scenario.model import CNF, Incident, Scenario

REQUEST_TIMEOUT = 3.0
MAX_ATTACK_PPS = 4000.0


class WorkloadError(EmulationFailed):
    """A traffic process could not start or died."""


@dataclass(frozen=True, slots=True)
class Request:
    """One legitimate HTTP request as its client saw it."""

    t: float
    ip: str
    ok: bool
    bytes: int


def attack_rate(scale: float, group: Group, attacker: Attacker) -> float:
    """What `attacker` of `group` sends a second at `scale` (module docstring): SYNs, HTTP
    requests or Slowloris connections opened (pure)."""

    def units(one: Attacker) -> float:
        return one.rate * len(one.ports) * scale * BYTES_PER_MB / sender(one.kind).packet_bytes

    total = sum(units(a) for a in group.attackers if a.kind is attacker.kind)
    return units(attacker) * min(1.0, MAX_ATTACK_PPS / total) if total else 0.0


def attack_command(server_ip: str, attacker: Attacker, rate: float, started: float) -> list[str]:
    """The process an attacker runs at `rate` units a second, for an attack started at
    `started` run seconds: what it sends says (`Sender.command`), its window counted from
    that start (pure)."""
    delay = attacker.start - started
    length = None if attacker.stop is None else attacker.stop - attacker.start
    launch = Launch(server_ip, attacker.ports, rate, attacker.ip, delay, length)
    return sender(attacker.kind).command(launch)


def served_cnf(scenario: Scenario) -> CNF | None:
    """The CNF a run's server runs as: the one serving the traffic server's address, when
    the run's closed loop watches the CNFs (`analytics.detect`)."""
    if not scenario.analytics.detect or scenario.traffic is None:
        return None
    return next((c for c in scenario.cnfs if c.host == scenario.traffic.server), None)


class Workload:
    """Starts and stops the run's traffic processes; reads what the clients logged."""

    def __init__(
        self,
        network: EmulatedNetwork,
        workdir: Path,
        step: float,
        seed: int,
        cnf: CNF | None = None,
        incidents: tuple[Incident, ...] = (),
        profile: TrafficProfile | None = None,
    ) -> None:
        self.network = network
        self.profile = profile
        """How the clients' traffic varies (None: steady, every client at its mean rate)."""
        self.plan = network.plan
        self.workdir = workdir
        self.step = step
        self.seed = seed
        self.cnf = (
            None
            if cnf is None
            else RealCNF(network, cnf, workdir / f"cnf-{cnf.id}", self.ports, incidents)
        )
        """The CNF the server runs as (None: the plain web server)."""
        self._attack: list[Popen[bytes]] = []
        self._answering: list[tuple[Namespace, str]] = []
        self._logs: list[Path] = []
        self._service: list[Popen[bytes]] = []

    def start_service(self) -> None:
        """The server (the web server, or the CNF), then every client group."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        if self.cnf is not None:
            self.cnf.start(self.request_sizes())
        else:
            self._service.append(
                self.network.spawn(
                    self.network.namespace(plan.server),
                    [*module("webserver"), plan.server_ip, *map(str, self.ports)],
                    str(self.workdir / "webserver.log"),
                )
            )
            self._wait_listening(self.ports)
        self.start_clients()

    @property
    def ports(self) -> list[int]:
        """Every service port the clients and attackers use."""
        plan = self.plan
        return sorted({c.port for g in plan.groups for c in g.clients} | self._attack_ports())

    def request_sizes(self) -> set[int]:
        """The sizes of what the clients and the attacks' requests fetch (`GET /bytes/N`,
        `Sender.fetches`)."""
        clients = {self._size(c) for g in self.plan.groups for c in g.clients}
        return clients | fetched_sizes() | cold_sizes(self.profile)

    def start_clients(self, docroot: Path | None = None) -> None:
        """Every client group (the server already listens). With a profile's cache misses
        and the server's `docroot` (where `/bytes/N` lies), the first group fetches the
        cold objects."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        origin = time.time()
        cold = [str(docroot / str(size)) for size in sorted(cold_sizes(self.profile))]
        for index, group in enumerate(g for g in plan.groups if g.clients):
            spec = self.workdir / f"{group.name}.json"
            log = self.workdir / f"{group.name}.jsonl"
            settings = self._client_spec(group, index)
            if self.profile is not None:
                settings |= {"profile": self.profile.to_json(), "origin": origin}
                settings |= {"cold": cold if index == 0 and docroot is not None else []}
            spec.write_text(json.dumps(settings))
            self._logs.append(log)
            self._service.append(
                self.network.spawn(
                    self.network.namespace(group.name),
                    [*module("clients"), str(spec), str(log)],
                    str(self.workdir / f"{group.name}.log"),
                )
            )

    @property
    def cnfs(self) -> dict[str, RealCNF]:
        """The real CNFs the server runs as, by id."""
        return {} if self.cnf is None else {self.cnf.spec.id: self.cnf}

    def _attack_ports(self) -> set[int]:
        return {p for g in self.plan.groups for a in g.attackers for p in a.ports}

    def _size(self, client: Client) -> int:
        """Bytes one request of the client fetches."""
        per_step = client.rate * self.plan.scale * BYTES_PER_MB * self.step
        return int(per_step if client.kind is FlowKind.VIDEO else per_step / HTTP_ON)

    def _client_spec(self, group: Group, index: int) -> dict[str, object]:
        step = self.step
        clients = [
            {
                "ip": client.ip,
                "video": client.kind is FlowKind.VIDEO,
                "port": client.port,
                "size": self._size(client),
            }
            for client in group.clients
        ]
        return {
            "server": self.plan.server_ip,
            "step": step,
            "timeout": REQUEST_TIMEOUT,
            "http_on": HTTP_ON,
            "seed": self.seed + index,
            "clients": clients,
        }

    def _wait_listening(self, ports: list[int], tries: int = 100) -> None:
        namespace = self.network.namespace(self.plan.server)
        for _ in range(tries):
            listening = namespace.run(["ss", "-Hltn"])
            if all(f"{self.plan.server_ip}:{p}" in listening for p in ports):
                return
            if self._service[0].poll() is not None:
                break
            time.sleep(0.05)
        raise WorkloadError(f"the HTTP server did not start; see {self.workdir / 'webserver.log'}")

    def start_attack(self) -> None:
        """Every attacker sends from a process of its own (`attack_command`), in its
        group's namespace, at its rate (`attack_rate`). One process for a group's attackers
        sent twice the packets in each burst after a busy machine had delayed it, and the IP
        limit's token bucket, shared by every flow, dropped more of them: the two attackers
        behind one PoP reached the Classifier at a third of the others' rate."""
        attackers = [a for g in self.plan.groups for a in g.attackers]
        started = min((a.start for a in attackers), default=0.0)
        for group in self.plan.groups:
            namespace = self.network.namespace(group.name)
            answered = [a.ip for a in group.attackers if sender(a.kind).handshakes]
            if answered:
                undo = accept_answers(namespace, answered)
                if undo is not None:
                    self._answering.append((namespace, undo))
            for attacker in group.attackers:
                rate = attack_rate(self.plan.scale, group, attacker)
                self._attack.append(
                    self.network.spawn(
                        namespace,
                        attack_command(self.plan.server_ip, attacker, rate, started),
                        str(self.workdir / f"{group.name}-{attacker.ip}.log"),
                    )
                )

    def stop_attack(self) -> None:
        """Every attacker stops; their namespaces drop answers again."""
        for process in self._attack:
            self.network.end(process)
        self._attack.clear()
        for namespace, undo in self._answering:
            namespace.nft(undo)
        self._answering.clear()

    @property
    def attacking(self) -> bool:
        return bool(self._attack)

    def stop(self) -> None:
        """Stop everything (clients flush their logs on SIGTERM)."""
        self.stop_attack()
        for process in reversed(self._service):
            self.network.end(process)
        self._service.clear()
        if self.cnf is not None:
            self.cnf.stop()

    def requests(self) -> list[Request]:
        """Every legitimate request the clients logged, in time order."""
        requests = []
        for log in self._logs:
            if not log.exists():
                continue
            for line in log.read_text(encoding="utf-8").splitlines():
                try:
                    data = json.loads(line)
                    requests.append(
                        Request(
                            float(data["t"]), str(data["ip"]), bool(data["ok"]), int(data["bytes"])
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by the stop
        return sorted(requests, key=lambda r: r.t)
