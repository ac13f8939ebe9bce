"""A CNF incident is a plug-in: one a user's distribution installs is accepted by a
scenario and acts on the simulated CNF in its window only, found through the registry
like the built-ins; a remedy its plug-in names ends it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from secmas.network.dataplane.cnf import METRICS, Arrivals, CNFModel, CNFParams, known_conditions
from secmas.network.incident import IncidentPlugin, ended_by, incident_kind, inside_kinds
from secmas.plugins import PluginError, rescan
from secmas.scenario.incidents import installed_incidents
from secmas.scenario.model import CNF, Incident

SPEC = CNF(id="web", host="server", pop="p1")
NORMAL = Arrivals(requests=30.0, streams=8.0, rx=2.0)
CPU = METRICS.index("cpu")


def cpu(incidents: list[Incident], steps: int = 40) -> np.ndarray:
    """The CNF's cpu, one-second steps from 0, without noise."""
    cnf = CNFModel(SPEC, incidents, pops=("p1", "p2"), params=CNFParams(noise=0.0))
    return np.array([cnf.sample(float(t), 1.0, NORMAL)[CPU] for t in range(steps)])


def test_without_the_distribution_the_kind_is_refused() -> None:
    assert "noisy_neighbour" not in installed_incidents()
    with pytest.raises(ValidationError, match=r"no incident 'noisy_neighbour' is installed"):
        Incident(kind="noisy_neighbour", cnf="web", start=10)


def test_an_installed_incident_raises_the_cpu_in_its_window_only(neighbour: Path) -> None:
    incident = Incident(kind="noisy_neighbour", cnf="web", start=10, stop=20)
    assert isinstance(incident_kind("noisy_neighbour"), IncidentPlugin)
    assert "noisy_neighbour" in known_conditions()  # it labels its own steps
    quiet, noisy = cpu([]), cpu([incident])
    np.testing.assert_array_equal(noisy[:10], quiet[:10])
    assert noisy[10:20] == pytest.approx(quiet[10:20] + 0.5 * SPEC.cores)
    np.testing.assert_array_equal(noisy[20:], quiet[20:])


def test_a_remedy_its_plug_in_names_ends_it(neighbour: Path) -> None:
    assert "noisy_neighbour" in ended_by("migrate")
    assert "noisy_neighbour" not in inside_kinds()
    cnf = CNFModel(SPEC, [Incident(kind="noisy_neighbour", cnf="web", start=0)], pops=("p2",))
    cnf.remedy("migrate", "p2", 5.0)
    assert cnf.active(4.0) and not cnf.active(6.0)


def test_a_plug_in_that_is_no_incident_is_refused_naming_it(neighbour: Path) -> None:
    entries = next(neighbour.glob("*.dist-info")) / "entry_points.txt"
    entries.write_text("[secmas.incidents]\nnoisy_neighbour = neighbour_mod:Effects\n")
    rescan()
    with pytest.raises(ValidationError, match=r"incident 'noisy_neighbour' \(secmas-neighbour"):
        Incident(kind="noisy_neighbour", cnf="web", start=0)
    with pytest.raises(PluginError, match="is no IncidentPlugin"):
        incident_kind("noisy_neighbour")
