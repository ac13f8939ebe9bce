"""The real traffic of an emulated run: the server, the background clients, the attack.

Rates are the scenario's × `plan.scale` (a 2-core machine carries about 2 000 small
packets a second through a handful of namespaces without starving the agents): an HTTP
client fetches `http_rate × scale × step / HTTP_ON` bytes when it requests, a video
client `video_rate × scale × step` bytes every step, an attacker sends
`rate × scale / 60 B` SYNs a second.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.dataplane.traffic import HTTP_ON, FlowKind
from secmas.network.emulation.errors import EmulationFailed
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import Client, Group
from secmas.network.emulation.synflood import PACKET_BYTES

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


def _module(name: str) -> list[str]:
    return [sys.executable, "-m", f"secmas.network.emulation.{name}"]


class Workload:
    """Starts and stops the run's traffic processes; reads what the clients logged."""

    def __init__(self, network: EmulatedNetwork, workdir: Path, step: float, seed: int) -> None:
        self.network = network
        self.plan = network.plan
        self.workdir = workdir
        self.step = step
        self.seed = seed
        self._attack: list[Popen[bytes]] = []
        self._logs: list[Path] = []
        self._service: list[Popen[bytes]] = []

    def attack_pps(self, group: Group) -> float:
        """SYNs a second the group's attackers send together (bounded)."""
        rate = sum(a.rate * len(a.ports) for a in group.attackers)
        return min(MAX_ATTACK_PPS, rate * self.plan.scale * BYTES_PER_MB / PACKET_BYTES)

    def start_service(self) -> None:
        """The HTTP server, then every client group."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        server = self.network.namespace(plan.server)
        self._service.append(
            self.network.spawn(
                server,
                [*_module("webserver"), plan.server_ip, *map(str, self.ports)],
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
        """The sizes of what the clients fetch (`GET /bytes/N`)."""
        return {self._size(c) for g in self.plan.groups for c in g.clients}

    def start_clients(self) -> None:
        """Every client group (the server already listens)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        for index, group in enumerate(g for g in plan.groups if g.clients):
            spec = self.workdir / f"{group.name}.json"
            log = self.workdir / f"{group.name}.jsonl"
            spec.write_text(json.dumps(self._client_spec(group, index)))
            self._logs.append(log)
            self._service.append(
                self.network.spawn(
                    self.network.namespace(group.name),
                    [*_module("clients"), str(spec), str(log)],
                    str(self.workdir / f"{group.name}.log"),
                )
            )

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
        """Every attacker floods from a process of its own, in its group's namespace, at
        its share of the group's SYNs a second. One process for a group's attackers sent
        twice the packets in each burst after a busy machine had delayed it, and the IP
        limit's token bucket, shared by every flow, dropped more of them: the two
        attackers behind one PoP reached the Classifier at a third of the others' rate."""
        for group in self.plan.groups:
            weights = [a.rate * len(a.ports) for a in group.attackers]
            for attacker, weight in zip(group.attackers, weights, strict=True):
                pps = self.attack_pps(group) * weight / sum(weights)
                command = [
                    *_module("synflood"),
                    self.plan.server_ip,
                    f"{pps:.1f}",
                    ",".join(map(str, sorted(attacker.ports))),
                    attacker.ip,
                ]
                self._attack.append(
                    self.network.spawn(
                        self.network.namespace(group.name),
                        command,
                        str(self.workdir / f"{group.name}-{attacker.ip}.log"),
                    )
                )

    def stop_attack(self) -> None:
        """Every attacker group stops."""
        for process in self._attack:
            self.network.end(process)
        self._attack.clear()

    @property
    def attacking(self) -> bool:
        return bool(self._attack)

    def stop(self) -> None:
        """Stop everything (clients flush their logs on SIGTERM)."""
        self.stop_attack()
        for process in reversed(self._service):
            self.network.end(process)
        self._service.clear()

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
