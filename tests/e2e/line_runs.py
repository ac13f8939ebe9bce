"""The line network of `tests/network/emulation` cut down for a short run of the
strategy on real packets, for the in-process run (`test_emulated.py`, the trust layer
off) and `--tamper` on the emulated engine (`test_tamper_emulated.py`, the trust layer
on).
"""

from __future__ import annotations

from typing import Any

from tests.network.emulation.conftest import line_scenario

from secmas.scenario.ddos import ddos_catalogue
from secmas.scenario.model import Scenario

ATTACK_START = 8.0


def short_line_scenario(duration: float, security: dict[str, Any]) -> Scenario:
    """The line network, images small enough to download in a second or two, `security`,
    `duration` seconds: the strategy from link limit to flow blocks on real packets."""
    scenario = line_scenario(
        vnfs=[v.model_copy(update={"image_size": 10}).model_dump() for v in ddos_catalogue()],
        security=security,
    )
    traffic = scenario.traffic.model_copy(update={"duration": duration})
    attack = scenario.attack.model_copy(update={"start": ATTACK_START})
    monitor = scenario.defence.monitor.model_copy(update={"threshold": 1.2})
    defence = scenario.defence.model_copy(update={"monitor": monitor})
    network = scenario.network.model_copy(update={"scale": 0.04})
    return scenario.model_copy(
        update={"traffic": traffic, "attack": attack, "defence": defence, "network": network}
    )
