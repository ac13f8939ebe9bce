"""What a CNF incident is to secmas: a plug-in of the `secmas.incidents` entry-point group,
simulated as a resource effect on the CNF model and started inside a real CNF on the
emulated network.

An `IncidentPlugin` says what it does to the simulated CNF while it is under way
(`affect`: it adds to the step's `Effects`, given the `Active` incident: the scenario's
incident, the step's time, the spike factor drawn for it and the CNF's constants), which
enforcement actions end it (`ended_by`: a remedy that restarts the primary instance ends
the incidents living in it), and, when the emulated engine can run it (`inside`), the
process it runs in the CNF's namespace and cgroup (`command`).

secmas's own incidents are in `secmas.network.incidents`, registered in its
`pyproject.toml` exactly as a user's package registers its own; everything that needs an
incident finds it here, by the name the scenario gives (`incident_kind`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from secmas.plugins import Plugin, plugin, plugins
from secmas.scenario.incidents import GROUP
from secmas.scenario.model import Incident

if TYPE_CHECKING:
    from secmas.network.dataplane.cnf import CNFParams
    from secmas.network.emulation.cnfattacks import AttackSettings


@dataclass(slots=True)
class Effects:
    """The active incidents' combined effect on one step of a CNF."""

    load: float = 1.0  # factor on users' load
    hog: float = 0.0  # cores a CPU hog wants on the primary instance
    leak: float = 0.0  # MB/s leaked
    delay: float = 0.0  # ms added on the primary instance's PoP
    storm: float = 0.0  # disk storm magnitude


@dataclass(frozen=True, slots=True)
class Active:
    """An incident under way on a CNF at one step."""

    incident: Incident
    t: float
    """The step's start, simulated seconds."""
    factor: float
    """Its spike factor: drawn once per incident in `CNFParams.spike`, × its magnitude."""
    params: CNFParams
    cores: float
    """Cores of one instance of the CNF."""


class IncidentPlugin(ABC):
    """A CNF incident kind: its resource effect on the CNF model while under way."""

    ended_by: ClassVar[frozenset[str]] = frozenset()
    """The remedies that end it (`migrate`, `isolate`: they restart the primary instance)."""
    inside: ClassVar[bool] = False
    """The emulated engine runs it inside a real CNF (`command`)."""

    @abstractmethod
    def affect(self, effects: Effects, active: Active) -> None:
        """Add what the incident does during one step to `effects`."""

    def command(self, stress_ng: str, settings: AttackSettings) -> list[str]:
        """The process it runs inside a real CNF (`inside`), given stress-ng's path;
        ValueError for an incident the emulated engine cannot run."""
        raise ValueError(f"{type(self).__name__} is not run inside a real CNF")


def incident_kind(name: str) -> IncidentPlugin:
    """The installed incident `name`; PluginError naming the installed ones when there is
    none, or the plug-in when it is no incident."""
    return _loaded(plugin(GROUP, name))


def ended_by(remedy: str) -> frozenset[str]:
    """The installed incidents `remedy` ends."""
    return frozenset(name for name in plugins(GROUP) if remedy in incident_kind(name).ended_by)


def inside_kinds() -> frozenset[str]:
    """The installed incidents the emulated engine runs inside a real CNF."""
    return frozenset(name for name in plugins(GROUP) if incident_kind(name).inside)


@functools.cache
def _loaded(found: Plugin) -> IncidentPlugin:
    loaded = found.load(IncidentPlugin)
    return loaded() if isinstance(loaded, type) else loaded
