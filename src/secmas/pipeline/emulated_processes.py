"""Agents as processes inside their PoPs on the emulated network (`--dataplane emulated
--processes`): the control plane crosses the same links as the traffic.

The scenario becomes a real network with a control host (`secmas.network.emulation.plan`:
a namespace on a shaped link beside the traffic server's node, an address per PoP on its
router). The run's NATS server (TLS, an nkey per client) and its JSON-RPC ledger (the
in-process EVM over HTTPS) listen inside the control host (`RunServers` started through
`call_inside`); the MLFO, in this process, reaches them over the unshaped management
link, each agent over the pipeline's VXLAN overlay (`secmas.pipeline.controloverlay`),
whose frames cross the emulated links from its PoP's address. Each PoP's namespace
gets a name (`EmulatedNetwork.named`) and its agent is started inside it, as the
application layer chose (`PopAgents`, `secmas.api.popagents`):

- as a container of the agent image (Containernet-style, `003_…`): the application
  layer hands down a factory of the IML driver (`secmas.deploy.containers.PodmanAgents`)
  that takes each PoP's namespace path (`podman --network ns:PATH`), and how SECaaS
  wraps the image; the driver checks its agents' containers from outside for the chain
  (`ChecksItsAgents`), this host's measurer being no judge of the image's files;
- or as a `secmas agent` process (`agents_in_pops`: the host-list driver of
  `secmas.pipeline.hosts` with one local host per PoP, started through `ip netns exec`),
  whose PID the run's host measurer attests from outside, as on one machine.

This module imports nothing of podman or the image: `secmas.deploy` lies above it. The trust
layer, the bring-up (steps 0–14) and the step loops are those of
`secmas.pipeline.processes`.

Once the agents are up the traffic starts (run time 0): the network is sampled every
step on the wall clock (speed 1) by an `EmulatedController`, which `ControllerService`
serves to the agents over the bus, and each sample is a tick. A flood on a link an
agent's messages cross delays them: `TickLatency` measures, per agent and tick, the time
from the MLFO's tick to the agent's report that it perceived it (its controller requests
included), and report.json's `emulation.control_plane` gives it before, during and after
the attack, with where the bus server saw each agent connect from, and how the agents
ran (`agents_as`). Whatever happens, the agents (containers included), the servers and
the network (names included) are taken down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from secmas.network.emulation.network import EmulatedNetwork, call_inside
from secmas.network.emulation.plan import ControlHost
from secmas.pipeline.controloverlay import (
    CONTROL,
    ControlOverlay,
    overlay_down,
    overlay_up,
    plan_overlay,
)
from secmas.pipeline.emulated import BusClients, EmulatedResult, emulated_run
from secmas.pipeline.errors import RunError
from secmas.pipeline.hosts import Host, HostList, HostProcesses
from secmas.pipeline.images import secmas_image
from secmas.pipeline.iml import IMLDriver
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.orchestrator import ImageWrap, vni_of
from secmas.pipeline.processes import ControlAccess, RunOptions, RunServers, run_driver
from secmas.pipeline.ticklatency import Phase, TickLatency
from secmas.scenario.model import Scenario
from secmas.transport.address import BusAddress
from secmas.transport.overlay import OverlayError

BUS_PORT = 4222
LEDGER_PORT = 8545
"""Ports in the control host's namespace (its own: nothing else listens there)."""
BIND_ALL = "0.0.0.0"
"""The servers listen on both of the control host's addresses: the emulated link's
(agents) and the management link's (the MLFO)."""
DRIVER_NAME = "processes in their PoPs' namespaces"
AS_PROCESSES = "agents as processes"


@dataclass(frozen=True)
class PopAgents:
    """How each PoP's agent runs inside its PoP, as the application layer chose: `driver`
    makes the IML driver from each PoP's namespace path and the run's folder (None: a
    `secmas agent` process per PoP, `agents_in_pops`), `wrap_image` is how SECaaS wraps
    what the agents run (steps 3–4), `said` tells which, and why, in the run's output and
    report.json."""

    driver: Callable[[Mapping[str, str], Path], IMLDriver] | None = None
    wrap_image: ImageWrap = secmas_image
    kind: str = "processes"
    said: str = AS_PROCESSES


def agents_in_pops(network: EmulatedNetwork, workdir: Path, pops: Sequence[str]) -> HostProcesses:
    """The IML driver that starts each PoP's agent inside its PoP's namespace: one local
    host per PoP, named for the namespace and started through `ip netns exec` on it, so
    the agent gets its secrets over the launcher's stdin and the run's measurer its PID.
    (A container driver takes the same namespace names: `podman --network ns:PATH`.)"""
    control = network.plan.control
    assert control is not None
    hosts = []
    for pop in pops:
        name = network.named(pop).name
        hosts.append(
            Host(
                name=name,
                address=control.agents[pop],
                start=f"ip netns exec {name} {{command}}",
                python=sys.executable,
                local=True,
                pops=[pop],
            )
        )
    return HostProcesses(HostList(hosts=hosts), workdir, pops, name=DRIVER_NAME)


async def operate_emulated_processes(
    scenario: Scenario,
    scenario_file: Path,
    options: RunOptions,
    *,
    workdir: Path,
    agents: PopAgents | None = None,
) -> EmulatedResult:
    """Run `scenario` on a real emulated network with each PoP's agent inside its PoP,
    started as `agents` says (default: processes; module docstring). `options` as
    `operate_processes` has them, `kill` (or its cues) and `tamper` in run seconds.

    Raises `EmulationUnavailable` when the machine cannot build the network, `PlanError`
    when the scenario cannot be emulated, `RunError` when it cannot run at all."""
    security = scenario.security
    if security.enabled and security.ledger != "memory":
        raise RunError(
            f"ledger {security.ledger}: agents inside their PoPs reach only the emulated "
            "network, where the run serves its own ledger; use --ledger memory"
        )
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    pops = [p.id for p in scenario.pops]
    agents = agents or PopAgents()
    async with emulated_run(scenario, workdir / "emulation", control=True) as run:
        network = run.network
        control = run.plan.control
        assert control is not None
        namespaces = {pop: network.named(pop).name for pop in pops}
        overlay = plan_overlay(control, vni_of(pipeline_name(scenario.id), security))
        servers = control_servers(network, workdir, scenario, overlay)
        async with joined(overlay, network):
            try:
                access = await serve_control(servers, network, overlay)
                run.steps.clients = bus_clients(servers, network)
                iml = pop_driver(agents, network, workdir, pops)
                perceived = TickLatency(pipeline_name(scenario.id))
                driver = await run_driver(
                    scenario,
                    scenario_file,
                    access,
                    workdir,
                    run.steps,
                    options,
                    iml=iml,
                    perceived=perceived,
                    wrap_image=agents.wrap_image,
                )
                # before the servers stop: the loops' reports may still write to the ledger
                # (the audit's last anchor)
                now = run.steps.clock.now()
                operated = driver.result(run.steps.telemetry(), now, started, options.loops)
            finally:
                await asyncio.to_thread(servers.stop)
    result = run.result(operated, started)
    report = control_plane_report(
        scenario, control, overlay, iml, run.steps.clients, perceived, namespaces
    )
    result.emulation["control_plane"] = report | {
        "agents_as": {"kind": agents.kind, "said": agents.said}
    }
    return result


@contextlib.asynccontextmanager
async def joined(overlay: ControlOverlay, network: EmulatedNetwork) -> AsyncIterator[None]:
    """The pipeline's overlay up among the control host and the PoPs' namespaces for
    the run, down after it; RunError naming why when it cannot be configured."""
    control = network.plan.control
    assert control is not None

    def name(member: str) -> str:
        return network.named(control.name if member == CONTROL else member).name

    try:
        interfaces = await asyncio.to_thread(overlay_up, overlay, name)
    except OverlayError as exc:
        raise RunError(f"the agents' VXLAN overlay (VNI {overlay.vni}): {exc}") from exc
    try:
        yield
    finally:
        await asyncio.to_thread(overlay_down, interfaces)


def pop_driver(
    agents: PopAgents, network: EmulatedNetwork, workdir: Path, pops: Sequence[str]
) -> IMLDriver:
    """The IML driver that starts each PoP's agent inside its PoP's named namespace."""
    if agents.driver is None:
        return agents_in_pops(network, workdir, pops)
    return agents.driver({pop: str(network.named(pop)) for pop in pops}, workdir)


def control_servers(
    network: EmulatedNetwork, workdir: Path, scenario: Scenario, overlay: ControlOverlay
) -> RunServers:
    """The run's servers as they start inside the control host, listening on all its
    addresses (which their certificates name): the overlay's (agents), the emulated
    link's and the management link's (the MLFO)."""
    control = network.plan.control
    assert control is not None
    return RunServers(
        workdir,
        scenario,
        addresses=(overlay.control_ip, control.ip, control.management_port.ip),
        bind=BIND_ALL,
        within=functools.partial(call_inside, network.namespace(control.name)),
    )


async def serve_control(
    servers: RunServers, network: EmulatedNetwork, overlay: ControlOverlay
) -> ControlAccess:
    """Start the bus and the ledger inside the control host: the MLFO's way to them is
    the management link, the agents' the overlay over the emulated links."""
    control = network.plan.control
    assert control is not None
    bus = await servers.start_bus(BUS_PORT, monitor=True)
    assert servers.bus_server is not None and servers.bus_server.pid is not None
    network.record(servers.bus_server.pid)  # killed with the run's record if the run dies
    here, there = control.management_port.ip, overlay.control_ip
    access = ControlAccess(
        replace(bus, address=BusAddress.parse(f"tls://{here}:{BUS_PORT}")),
        agent_bus=BusAddress.parse(f"tls://{there}:{BUS_PORT}"),
    )
    if not servers.scenario.security.enabled:
        return access
    ledger = servers.start_ledger(LEDGER_PORT)
    return replace(
        access,
        ledger=f"https://{here}:{LEDGER_PORT}",
        ledger_keys=(ledger.mlfo_key, ledger.secaas_key),
        ledger_ca=servers.ledger_ca,
        ledger_token=ledger.token,
        agent_ledger=f"https://{there}:{LEDGER_PORT}",
    )


def bus_clients(servers: RunServers, network: EmulatedNetwork) -> BusClients:
    """The bus server's view of its clients, read over the management link."""
    control = network.plan.control
    assert control is not None and servers.bus_server is not None
    return BusClients(f"http://{control.management_port.ip}:{servers.bus_server.monitor_port}")


def control_plane_report(
    scenario: Scenario,
    control: ControlHost,
    overlay: ControlOverlay,
    iml: IMLDriver,
    clients: BusClients,
    perceived: TickLatency,
    namespaces: Mapping[str, str],
) -> dict[str, Any]:
    """report.json's `emulation.control_plane`: the control host, the overlay that
    carried the agents' control traffic, each agent's namespace (`namespaces`: its name by
    PoP), underlay and overlay address, PID (on this machine), container (when it runs in
    one) and connection as the bus server saw it, and how long each took to perceive the
    ticks before, during and after the attack."""
    traffic, attack = scenario.traffic, scenario.attack
    assert traffic is not None
    end = traffic.duration + traffic.step
    phases = [Phase("whole run", 0.0, end)]
    if attack is not None:
        stop = attack.stop or end
        phases = [
            Phase("before attack", 0.0, attack.start),
            Phase("during attack", attack.start, stop),
        ]
        if attack.stop is not None:
            phases.append(Phase("after attack", stop, end))
    described = iml.describe()
    pids: dict[str, int] = described.get("pids", {})
    containers: dict[str, str] = described.get("containers", {})
    agents = {
        pop: {
            "namespace": namespace,
            "address": control.agents[pop],
            "overlay_address": overlay.overlay[pop],
            "pid": pids.get(pop),
            "container": containers.get(pop),
            "connection": clients.seen.get(f"secmas-agent-{pop}"),
        }
        for pop, namespace in namespaces.items()
    }
    return {
        "driver": described["driver"],
        "image": described.get("image"),
        "control_host": {
            "namespace": control.name,
            "address": control.ip,
            "attach": control.attach,
            "link_mbit": control.link.mbit,
        },
        "overlay": overlay.describe(),
        "agents": agents,
        "tick_latency": perceived.report(list(agents), phases),
    }
