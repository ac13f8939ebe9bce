"""Where a run's agents run, as one typed value: `run(scenario, placement=Processes())`.

- `InProcess()` (the default): every agent a task of this process on the in-memory bus,
  on the simulator's virtual clock (deterministic for a seed) or the emulated engine's
  wall clock;
- `Processes(bus=None, speed=10.0)`: one `secmas agent` OS process per agent on this
  machine, over a NATS server of the run's own unless `bus` names running ones, paced at
  `speed` simulated seconds per wall second; on the emulated engine each agent runs
  inside its PoP's namespace, as a container where podman is;
- `Hosts(hosts, bus, speed=10.0)`: the agents as processes on the hosts of a host list,
  over a NATS server they all reach;
- `Pods(pods, speed=10.0)`: each agent as its pod of `secmas deploy kubernetes --podman`
  manifests, with the deployment's bus and ledger.

One value, so no placement can be half given (a bus without processes, pods with a host
list): the CLI's options become one through `placement_of`, which names the option that
does not fit. What the engine cannot run with a placement, `secmas.api.run.plan` refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from secmas.api.errors import RunInputError

if TYPE_CHECKING:
    from secmas.deploy.kubeplay import PodDeployment
    from secmas.pipeline.busaccess import BusAccess
    from secmas.pipeline.hosts import HostList

SPEED = 10.0
"""Simulated seconds per wall second for agents outside this process (240 s ≈ 30 s)."""


@dataclass(frozen=True)
class InProcess:
    """Every agent a task of this process, over the in-memory bus."""


@dataclass(frozen=True)
class Processes:
    """One OS process per agent on this machine, over NATS (the run's own server unless
    `bus` names running ones)."""

    bus: BusAccess | None = None
    speed: float = SPEED


@dataclass(frozen=True)
class Hosts:
    """The agents as processes on the hosts of a host list (a file or a loaded
    `HostList`), over the NATS server `bus` names, which they all reach."""

    hosts: Path | HostList
    bus: BusAccess
    speed: float = SPEED


@dataclass(frozen=True)
class Pods:
    """Each agent as its pod of a `secmas deploy kubernetes --podman` folder (or the
    deployment loaded from it), with the deployment's bus and ledger."""

    pods: Path | PodDeployment
    speed: float = SPEED


Placement = InProcess | Processes | Hosts | Pods
Outside = Processes | Hosts | Pods
"""The placements whose agents run outside this process, paced on a wall clock."""


def placement_of(
    *,
    processes: bool = False,
    bus: BusAccess | None = None,
    speed: float = SPEED,
    hosts: Path | None = None,
    pods: Path | None = None,
) -> Placement:
    """The placement the CLI's `--processes`, `--bus`, `--speed`, `--hosts` and `--pods`
    name together; RunInputError naming an option that does not fit the others."""
    if pods is not None:
        if not processes:
            raise RunInputError(
                ": the agents run as pods, one process each; add --processes", option="pods"
            )
        for option, given in (("bus", bus), ("hosts", hosts)):
            if given is not None:
                raise RunInputError(
                    ": the deployment decides where the agents are and what they reach; "
                    f"drop --{option}",
                    option="pods",
                )
        return Pods(pods, speed)
    if hosts is not None:
        if not processes:
            raise RunInputError(
                ": agents on other hosts run as processes; add --processes", option="hosts"
            )
        if bus is None:
            raise RunInputError(
                ": agents on other hosts need a NATS server they can reach; add --bus",
                option="hosts",
            )
        return Hosts(hosts, bus, speed)
    if processes:
        return Processes(bus, speed)
    if bus is not None:
        raise RunInputError(
            ": in-process agents talk over an in-memory bus; add --processes", option="bus"
        )
    return InProcess()
