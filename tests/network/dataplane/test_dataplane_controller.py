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
