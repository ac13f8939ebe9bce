"""What an attack is to secmas: a plug-in of the `secmas.attacks` entry-point group,
simulated as flows on the flow-level simulator and launched as processes on the emulated
network.

An `AttackPlugin` says what its attackers send (`sends`: the name of a `Sender`, itself
or, for an attack made of others, one of those) and which flows they add to the
simulator over the run (`flows`: one per attacker and attacked port by default, active in
the attack's [start, stop); an attack that changes over time lays out flows with windows
of their own). A `Sender` is an attack whose every attacker sends the same: how big one
unit of it is (a SYN, a request, a connection) and how the server sees it (`connects`,
`handshakes`, `requests`, `holds`), and the process one attacker runs in its namespace on
the emulated network (`command`, given the attacker's `Launch`: its address, rate and
window). The engine starts those processes when the attack starts and ends them with
SIGTERM when it stops or the run ends, whatever the process does meanwhile. A kind's own
parameters are a pydantic model (`parameters`), read from the scenario's
`attack.parameters` and refused there, field by field, when they do not fit.

secmas's own attacks are in `secmas.network.attacks`, registered in its `pyproject.toml`
exactly as a user's package registers its own; everything that needs an attack finds it
here, by the name the scenario gives (`attack_kind`, `sender`).
"""

from __future__ import annotations

import functools
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from secmas.network.dataplane.flows import ATTACK_PREFIX, FlowSpec, client_ip, spoofed_ip
from secmas.network.dataplane.stats import FlowId
from secmas.plugins import Plugin, PluginError, plugin, plugins
from secmas.scenario.attacks import GROUP
from secmas.scenario.base import Strict
from secmas.scenario.model import Attack


class NoParameters(Strict):
    """The parameters of an attack that takes none of its own (any given is refused)."""


class NotLaunched(PluginError):
    """An attack the emulated engine cannot launch was asked for."""


class AttackPlugin(ABC):
    """An attack kind: what its attackers send and the flows they add to the simulator."""

    handshakes: ClassVar[bool]
    """Its sources complete TCP handshakes, so they cannot forge their addresses."""
    emulated: ClassVar[bool] = True
    """The emulated engine can launch it (each attacker runs its `Sender.command`)."""
    parameters: ClassVar[type[BaseModel]] = NoParameters
    """What it takes of its own from the scenario's `attack.parameters`."""

    @abstractmethod
    def sends(self, attack: Attack, index: int) -> str:
        """The `Sender` (an installed attack's name) the `index`-th attacker sends."""

    def flows(self, attack: Attack, dst_ip: str, first: int, until: float) -> list[FlowSpec]:
        """The flows `attack` adds to a run that lasts `until` simulated seconds: by default
        one per attacker and attacked port, splitting the attacker's rate evenly, active in
        [start, stop).

        Attackers are numbered from `first` (their addresses follow from the number,
        `source`), so that several attacks in one run use distinct addresses; a spoofing
        attack's addresses are forged from its prefix instead. Each sends its `sends`."""
        stop = np.inf if attack.stop is None else attack.stop
        return [
            FlowSpec(
                id=FlowId(source(attack, first, index), dst_ip, port),
                kind=self.sends(attack, index),
                attach=attack.attach[index % len(attack.attach)],
                rate=attack.rate / len(attack.ports),
                start=attack.start,
                stop=stop,
            )
            for index in range(attack.attackers)
            for port in attack.ports
        ]


def source(attack: Attack, first: int, index: int) -> str:
    """The address attacker `index` of `attack` sends from, its attackers numbered from
    `first`: a forged one of the spoof prefix, or its own of the attackers' /16. An attack
    may use more addresses than it has attackers (fresh ones for each burst, say): the run
    numbers the next attack's after every address it used."""
    if attack.spoof is not None:
        return spoofed_ip(attack.spoof, index)
    return client_ip(ATTACK_PREFIX, first + index)


@dataclass(frozen=True, slots=True)
class Launch:
    """What one attacker's process is told on the emulated network."""

    server_ip: str
    ports: tuple[int, ...]
    rate: float
    """Units a second (`Sender.packet_bytes` each), at the run's scale."""
    ip: str
    """The address it sends from (its own, or the forged one)."""
    delay: float
    """Seconds after the attack's start at which its window opens."""
    length: float | None
    """Seconds its window lasts; None: until the attack stops."""


class Sender(AttackPlugin):
    """An attack whose every attacker sends the same thing, in units of `packet_bytes`."""

    packet_bytes: ClassVar[float]
    """Bytes of one unit of it (a SYN, a request, a connection, a datagram)."""
    connects: ClassVar[bool] = True
    """Each unit opens a TCP connection (False: datagrams, no handshake at all)."""
    handshakes: ClassVar[bool] = False
    requests: ClassVar[bool] = False
    """Each unit is a request the server serves (what a CNF counts as requests)."""
    holds: ClassVar[bool] = False
    """Its connections are held open, taking the server's connection slots."""
    fetches: ClassVar[tuple[int, ...]] = ()
    """Sizes of what its requests fetch (`GET /bytes/N`): the server must serve them."""

    def sends(self, attack: Attack, index: int) -> str:
        """Every attacker sends the attack's own kind."""
        return attack.kind

    def command(self, launch: Launch) -> list[str]:
        """The process an attacker runs in its namespace (`Launch`), from the attack's
        start until SIGTERM. NotLaunched for an attack the emulated engine cannot launch
        (`emulated` false)."""
        raise NotLaunched(f"{type(self).__name__} is not launched on the emulated network")


def module(name: str) -> list[str]:
    """The command that runs the emulated network's traffic module `name`."""
    return [sys.executable, "-m", f"secmas.network.emulation.{name}"]


def port_list(ports: Sequence[int]) -> str:
    """Ports as the traffic modules take them: `8000,8080`, in order."""
    return ",".join(map(str, sorted(ports)))


def attack_kind(name: str) -> AttackPlugin:
    """The installed attack `name`; PluginError naming the installed ones when there is
    none, or the plug-in when it is no attack."""
    return _loaded(plugin(GROUP, name))


def sender(name: str) -> Sender:
    """The installed attack `name`, which its attackers send themselves (a flow's kind)."""
    found = attack_kind(name)
    if not isinstance(found, Sender):
        raise PluginError(f"{plugin(GROUP, name).where()}: is sent by no attacker itself")
    return found


def fetched_sizes() -> set[int]:
    """What the requests of every installed attack fetch (`Sender.fetches`)."""
    kinds = (attack_kind(name) for name in plugins(GROUP))
    return {size for kind in kinds if isinstance(kind, Sender) for size in kind.fetches}


@functools.cache
def _loaded(found: Plugin) -> AttackPlugin:
    loaded = found.load(AttackPlugin)
    return loaded() if isinstance(loaded, type) else loaded
