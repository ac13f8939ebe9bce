"""`pulse_flood`: a low-rate pulsing flood, the same bots bursting every period.

Pulsing ("shrew") attacks send short, strong bursts with long pauses, so that their mean
rate stays low and a detector that averages or needs a sustained excess misses them
(Kuzmanovic and Knightly, "Low-rate TCP-targeted denial of service attacks", SIGCOMM
2003; Luo and Chang, "On a new class of pulsing denial-of-service attacks", Computer
Networks 2005). Here each of `attackers` bots sends UDP datagrams at `rate` MB/s for
`burst` seconds every `period` seconds: with `burst` shorter than the Link Monitor's three
confirming steps, the server's link is over its threshold in every burst and the monitor
never flips.

On the simulator a bot is one flow per burst and port (the same source every burst); on
the emulated network the engine runs, for each of those windows, `pulse_guard.bot` in the
bot's namespace.
"""

from __future__ import annotations

import sys
from typing import Self

import numpy as np
from pydantic import Field, model_validator

from secmas.network.attack import Launch, Sender, port_list, source
from secmas.network.dataplane.flows import FlowSpec
from secmas.network.dataplane.stats import FlowId
from secmas.scenario.base import Strict
from secmas.scenario.model import Attack

DATAGRAM_BYTES = 200


class PulseParameters(Strict):
    """A burst of `burst` seconds every `period` seconds (the scenario's attack.parameters)."""

    period: float = Field(default=8.0, gt=0)
    burst: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _pauses(self) -> Self:
        if self.burst >= self.period:
            raise ValueError(
                f"burst ({self.burst:g} s) must be shorter than period ({self.period:g} s)"
            )
        return self


class PulseFlood(Sender):
    """Bursts of 200-byte datagrams from the same bots, `burst` seconds every `period`."""

    packet_bytes = float(DATAGRAM_BYTES)
    connects = False
    parameters = PulseParameters

    def flows(self, attack: Attack, dst_ip: str, first: int, until: float) -> list[FlowSpec]:
        """One flow per bot, burst and port, each active for its burst only; a bot keeps
        its address from burst to burst, so blocking it stops all its bursts."""
        pulse = PulseParameters.model_validate(attack.parameters)
        end = min(until, np.inf if attack.stop is None else attack.stop)
        return [
            FlowSpec(
                id=FlowId(source(attack, first, bot), dst_ip, port),
                kind=attack.kind,
                attach=attack.attach[bot % len(attack.attach)],
                rate=attack.rate / len(attack.ports),
                start=float(start),
                stop=float(min(start + pulse.burst, end)),
            )
            for start in np.arange(attack.start, end, pulse.period)
            for bot in range(attack.attackers)
            for port in attack.ports
        ]

    def command(self, launch: Launch) -> list[str]:
        """`pulse_guard.bot`: wait for the burst, send it, wait to be stopped."""
        length = "inf" if launch.length is None else f"{launch.length:g}"
        return [
            sys.executable,
            "-m",
            "pulse_guard.bot",
            launch.server_ip,
            port_list(launch.ports),
            f"{launch.rate:.1f}",
            launch.ip,
            f"{launch.delay:g}",
            length,
        ]
