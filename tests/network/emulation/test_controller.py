"""The emulated controller's answers that need no running network: a host's flows are
those its PoP forwards to it, and a remedy reaches only a CNF that runs as a real one."""

from __future__ import annotations

import asyncio

import pytest
from tests.network.emulation.conftest import line_scenario

from secmas.network.clock import ScaledClock
from secmas.network.dataplane.controller import ControllerError
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan


def _controller() -> EmulatedController:
    return EmulatedController(EmulatedNetwork(emulation_plan(line_scenario())), ScaledClock(), 1.0)


def test_a_hosts_flows_are_kept_at_its_pop() -> None:
    controller = _controller()
    assert controller._router("server") == "C" and controller._router("B") == "B"
    with pytest.raises(KeyError, match="unknown node 'nowhere'"):
        controller._router("nowhere")
    assert asyncio.run(controller.flows_via("server")) == []  # nothing sampled yet


def test_a_remedy_needs_a_real_cnf() -> None:
    with pytest.raises(ControllerError, match="does not run as a real CNF here"):
        asyncio.run(_controller().remedy("web", "guard", "C"))
