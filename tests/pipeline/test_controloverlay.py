"""The agents' overlay on the emulated network, as planned: one segment of the
pipeline's VNI whose members are the control host and every PoP, each sourced from its
underlay address, tied to no device, flooding to all the others."""

from __future__ import annotations

from tests.network.emulation.conftest import line_scenario

from secmas.network.emulation.plan import emulation_plan
from secmas.pipeline.controloverlay import CONTROL, OVERLAY_NET, plan_overlay
from secmas.transport.overlay import VXLAN_PORT

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
