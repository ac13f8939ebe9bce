"""CNF remedies through the controller: in process, and over the in-memory bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from secmas.network.dataplane import (
    DataPlane,
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Rule,
    Steer,
    TrafficSplit,
)
from secmas.network.dataplane.controller import (
    ControllerError,
    ControllerService,
    LocalController,
    RemoteController,
    rule_from_json,
    rule_to_json,
)
from secmas.scenario.model import Scenario
from secmas.transport.memory import MemoryBus

WEB = {"id": "web", "host": "server", "pop": "pop6"}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def test_a_local_controller_applies_a_remedy(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))
    run(LocalController(plane).remedy("web", "migrate", "pop3"))
    assert plane.cnf_placement("web").pop == "pop3"


def test_remedies_over_the_bus(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))

    async def scenario() -> list[str]:
        bus = MemoryBus()
        service = ControllerService(LocalController(plane), bus, "p")
        await service.start()
        remote = RemoteController(bus, "p", plane.server_ip, plane.step_seconds)
        await remote.remedy("web", "scale_out", "pop5")
        await remote.remedy("web", "guard", "pop6")
        errors = []
        for args in (("db", "migrate", "pop1"), ("web", "reboot", "pop1"), ("web", "migrate", "x")):
            with pytest.raises(ControllerError) as caught:
                await remote.remedy(*args)
            errors.append(str(caught.value))
        await service.stop()
        await bus.close()
        assert service.refused == 3
        return errors

    errors = run(scenario())
    placement = plane.cnf_placement("web")
    assert placement.replicas == ("pop6", "pop5") and placement.guarded
    assert "unknown CNF 'db'" in errors[0]
    assert "unknown remedy 'reboot'" in errors[1]
    assert "unknown PoP 'x'" in errors[2]
    assert all(e.startswith("controller refused remedy") for e in errors)


@pytest.mark.parametrize(
    "rule",
    [
        LinkRateLimit("pop6", "server", 2.0),
        IpRateLimit("pop6", "10.0.0.100", 1.5),
        FlowBlock("pop1", "10.66.0.1", "10.0.0.100"),
        TrafficSplit("pop6", "10.0.0.100", 2),
        Steer("pop1", "10.0.0.100", ("pop1", "pop2", "pop3")),
        Steer("pop6", "10.0.0.100", ("pop6", "pop5"), part=1),
        Steer("pop3", "10.0.0.100", ("pop3", "pop5"), src_ip="10.66.0.3"),
    ],
)
def test_every_rule_survives_the_wire(rule: Rule) -> None:
    assert rule_from_json(json.loads(json.dumps(rule_to_json(rule)))) == rule


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "Steer", "node": "a", "dst_ip": "x", "via": "ab"},
        {"kind": "Steer", "node": "a", "dst_ip": "x", "via": ["a", 3]},
        {"kind": "Steer", "node": "a", "dst_ip": "x", "via": ["b", "a"]},
        {"kind": "Steer", "node": "a", "dst_ip": "x", "via": ["a", "b", "a"]},
        {"kind": "Steer", "node": "a", "dst_ip": "x"},
    ],
)
def test_a_malformed_steering_rule_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"Steer|steering path"):
        rule_from_json(data)


class SlowPulls(LocalController):
    """A controller whose pulls take until `release` is set (as a real pull takes seconds)
    and whose workloads start only for known VNFs: the wire's side of `pull_image`."""

    def __init__(self, plane: DataPlane) -> None:
        super().__init__(plane)
        self.release = asyncio.Event()
        self.started: list[tuple[str, str, str]] = []

    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        await self.release.wait()
        return estimated_s + 0.5

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        if vnf != "classifier":
            raise ControllerError(f"no image of VNF {vnf!r}")
        self.started.append((instance, pop, vnf))


def test_a_pull_over_the_bus_runs_beside_the_other_requests(
    make_scenario: Callable[..., Scenario],
) -> None:
    plane = DataPlane(make_scenario())

    async def scenario() -> tuple[float | None, float, list[str]]:
        bus = MemoryBus()
        controller = SlowPulls(plane)
        service = ControllerService(controller, bus, "p")
        await service.start()
        remote = RemoteController(bus, "p", plane.server_ip, plane.step_seconds, timeout=1.0)
        pulling = asyncio.ensure_future(remote.pull_image("pop3", "classifier", 4.0))
        await asyncio.sleep(0.3)
        now = await remote.now()  # answered while the pull is under way
        assert not pulling.done()
        controller.release.set()
        seconds = await pulling
        await remote.start_vnf("classifier@pop3#1", "pop3", "classifier")
        errors = []
        with pytest.raises(ControllerError) as caught:
            await remote.start_vnf("ids@pop3#2", "pop3", "ids")
        errors.append(str(caught.value))
        with pytest.raises(ControllerError) as caught:
            await remote._ask("outcome", ticket="w999")
        errors.append(str(caught.value))
        await service.stop()
        await bus.close()
        assert controller.started == [("classifier@pop3#1", "pop3", "classifier")]
        return seconds, now, errors

    seconds, now, errors = run(scenario())
    assert seconds == 4.5 and now == plane.now
    assert "no image of VNF 'ids'" in errors[0]
    assert "no work under ticket 'w999'" in errors[1]


def test_the_simulator_models_downloads_and_runs_no_workload(
    make_scenario: Callable[..., Scenario],
) -> None:
    plane = DataPlane(make_scenario())
    controller = LocalController(plane)
    assert run(controller.pull_image("pop3", "classifier", 4.0)) is None
    assert run(controller.start_vnf("classifier@pop3#1", "pop3", "classifier")) is None

    async def over_the_bus() -> tuple[float | None, int]:
        bus = MemoryBus()
        service = ControllerService(controller, bus, "p")
        await service.start()
        remote = RemoteController(bus, "p", plane.server_ip, plane.step_seconds)
        pulled = await remote.pull_image("pop3", "classifier", 4.0)
        tickets = next(service._tickets)  # answered at once: no ticket was handed out
        await service.stop()
        await bus.close()
        return pulled, tickets

    assert run(over_the_bus()) == (None, 1)
