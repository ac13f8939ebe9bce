"""A user's attack, installed as a distribution of its own, is a scenario's `attack.kind`
like a built-in: its parameters are checked where the scenario gives them, and the
simulator runs its flows (they show in the telemetry, burst by burst). The attack
is `pulse_attack.py`, installed as a distribution (`conftest.pulse`); the emulated engine
launches it in `emulation/test_attack_launch.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.network.conftest import PULSE
from tests.network.emulation.conftest import line_scenario

from secmas.network.attack import Sender, attack_kind, sender
from secmas.network.dataplane import DataPlane
from secmas.network.dataplane.traffic import scenario_flows
from secmas.plugins import plugin, rescan
from secmas.scenario.model import Attack, Scenario


def scenario(**attack: Any) -> Scenario:
    return line_scenario(attack=PULSE | attack, network={"engine": "simulator"})


def test_an_installed_attack_is_found_through_the_registry(pulse: Path) -> None:
    found = plugin("secmas.attacks", "pulse")
    assert (found.distribution, found.target) == ("secmas-pulse", "pulse_mod:Pulse")
    assert isinstance(attack_kind("pulse"), Sender) and sender("pulse").packet_bytes == 200.0


def test_its_parameters_are_checked_naming_the_field(pulse: Path) -> None:
    assert Attack.model_validate(PULSE).parameters == {"period": 4, "on": 1}
    with pytest.raises(ValidationError, match=r"parameters\n.*pulse parameters: period: .*"):
        Attack.model_validate(PULSE | {"parameters": {"period": -1}})
    with pytest.raises(ValidationError, match=r"pulse parameters: burst: Extra inputs"):
        Attack.model_validate(PULSE | {"parameters": {"burst": 3}})


def test_without_the_distribution_the_kind_is_refused_naming_the_installed_ones() -> None:
    rescan()
    with pytest.raises(ValidationError, match=r"no attack 'pulse' is installed \(installed: "):
        Attack.model_validate(PULSE)


def test_the_simulator_runs_its_bursts(pulse: Path) -> None:
    plane = DataPlane(scenario())
    plane.run_until(30)  # the whole run
    series = plane.server_series()
    attacked = [r.t for r in series if r.attack > 0]
    assert attacked == [2.0, 6.0, 10.0, 14.0, 18.0, 22.0, 26.0]  # 1 s every 4 s from 2 s
    during = series[int(attacked[0])]
    assert during.attack == pytest.approx(2 * 0.5, rel=0.15)
    bots = {flow.src_ip for flow, attack in plane.ground_truth().items() if attack}
    assert len(bots) == 2 * len(attacked)  # fresh bots each burst


def test_the_simulator_numbers_a_later_attack_after_every_bot(pulse: Path) -> None:
    flood = Attack.model_validate({"kind": "syn_flood", "attackers": 1, "attach": ["A"]})
    flows = scenario_flows(scenario(), [flood])
    bots = {flow.id.src_ip for flow in flows if flow.kind == "pulse"}
    flooders = {flow.id.src_ip for flow in flows if flow.kind == "syn_flood"}
    assert len(bots) == 2 * 7 and len(flooders) == 1  # 7 bursts in the 30 s run
    assert not bots & flooders


@pytest.mark.parametrize(
    ("module", "why"),
    [
        ("raise ImportError('no numpy here')\n", r"cannot be loaded: no numpy here"),
        ("class Broken:\n    handshakes = False\n", r"is no attack \(it has no emulated, param"),
    ],
)
def test_an_attack_that_fails_to_load_is_refused_at_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, why: str
) -> None:
    info = tmp_path / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[secmas.attacks]\nbroken = broken_mod:Broken\n")
    (tmp_path / "broken_mod.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    rescan()
    try:
        with pytest.raises(ValidationError, match=rf"kind\n.*attack 'broken' \(broken 1.0.*{why}"):
            Attack.model_validate(PULSE | {"kind": "broken", "parameters": {}})
    finally:
        sys.modules.pop("broken_mod", None)
        rescan()
