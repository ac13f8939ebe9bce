"""The agents' overlay on the emulated network, as planned: one segment of the
pipeline's VNI whose members are the control host and every PoP, each sourced from its
underlay address, tied to no device, flooding to all the others."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from tests.network.emulation.conftest import line_scenario

from secmas.network.emulation.plan import emulation_plan
from secmas.pipeline import emulated_processes
from secmas.pipeline.controloverlay import CONTROL, OVERLAY_NET, plan_overlay
from secmas.pipeline.errors import RunError
from secmas.transport.overlay import VXLAN_PORT, OverlayError

VNI = 77


def test_every_pop_and_the_control_host_are_members() -> None:
    control = emulation_plan(line_scenario(), control=True).control
    assert control is not None
    overlay = plan_overlay(control, VNI)
    assert overlay.underlay == {CONTROL: control.ip, **control.agents}
    assert overlay.control_ip == str(OVERLAY_NET[1])
    assert len(set(overlay.overlay.values())) == len(overlay.underlay)
    namespaces = {m: f"ns-{m}" for m in overlay.underlay}
    specs = {s.netns: s for s in overlay.specs(namespaces)}
    for member, local in overlay.underlay.items():
        spec = specs[f"ns-{member}"]
        assert spec.vni == VNI and spec.underlay is None and spec.local == local
        assert spec.address == f"{overlay.overlay[member]}/{OVERLAY_NET.prefixlen}"
        assert sorted(spec.remotes) == sorted(a for m, a in overlay.underlay.items() if m != member)


def test_the_report_says_what_carried_the_agents() -> None:
    control = emulation_plan(line_scenario(), control=True).control
    assert control is not None
    said = plan_overlay(control, VNI).describe()
    assert said["kind"] == "vxlan" and said["vni"] == VNI and said["port"] == VXLAN_PORT
    assert said["control_host"] == str(OVERLAY_NET[1])
    assert set(said["agents"]) == set(control.agents)


def test_an_overlay_that_cannot_be_configured_fails_the_run_naming_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a kernel without the vxlan module, say: the run stops with its reason, exit 1
    control = emulation_plan(line_scenario(), control=True).control
    assert control is not None
    overlay = plan_overlay(control, VNI)
    network = SimpleNamespace(plan=SimpleNamespace(control=control))

    def refused(*_: object) -> None:
        raise OverlayError("cannot create VxlanOverlay(vxlan77): Operation not supported")

    monkeypatch.setattr(emulated_processes, "overlay_up", refused)

    async def run() -> None:
        async with emulated_processes.joined(overlay, network):  # type: ignore[arg-type]
            raise AssertionError("the run went on without its overlay")

    with pytest.raises(RunError, match=r"VXLAN overlay \(VNI 77\): cannot create .*not supported"):
        asyncio.run(run())
