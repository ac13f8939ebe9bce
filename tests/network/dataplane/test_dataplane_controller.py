"""CNF remedies through the controller: in process, and over the in-memory bus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from secmas.network.dataplane import DataPlane
from secmas.network.dataplane.controller import (
    ControllerError,
    ControllerService,
    LocalController,
    RemoteController,
)
from secmas.scenario.model import Scenario
from secmas.transport.memory import MemoryBus

WEB = {"id": "web", "host": "server", "pop": "pop6"}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_a_local_controller_applies_a_remedy(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))
    run(LocalController(plane).remedy("web", "migrate", "pop3"))
    assert plane.cnf_placement("web").pop == "pop3"


def test_remedies_over_the_bus(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))

    async def scenario() -> list[str]:
        bus = MemoryBus()
        service = ControllerService(plane, bus, "p")
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
