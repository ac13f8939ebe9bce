"""A user's plug-ins installed for a test, as pip installs a distribution: a `.dist-info`
folder with its entry points and its module, on the import path. `pulse`
(`pulse_attack.py`, a low-rate pulsing flood) is an attack; `noisy_neighbour`
(`neighbour_incident.py`, a container taking the CNF's cores) a CNF incident."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.test_plugins import forget_modules

from secmas.plugins import rescan

PULSE = {
    "kind": "pulse",
    "attackers": 2,
    "rate": 0.5,
    "start": 2,
    "ports": [8000],
    "attach": ["A"],
    "parameters": {"period": 4, "on": 1},
}
"""A pulsing attack from A: two bots a burst, one second every four from second 2."""


@dataclass(frozen=True)
class Distribution:
    """A user's distribution: its name, its one entry point (its group's section and
    line, `name = module:attribute`) and the test file that is its module."""

    name: str
    entry: str
    source: str


PULSE_DIST = Distribution(
    "secmas-pulse", "[secmas.attacks]\npulse = pulse_mod:Pulse\n", "pulse_attack.py"
)
NEIGHBOUR_DIST = Distribution(
    "secmas-neighbour",
    "[secmas.incidents]\nnoisy_neighbour = neighbour_mod:NoisyNeighbour\n",
    "neighbour_incident.py",
)


def _installed(
    factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, dist: Distribution
) -> Iterator[Path]:
    """`dist` 1.0 installed in a fresh folder on the import path, its module named for
    its entry point's target; the folder."""
    site = factory.mktemp("site")
    info = site / f"{dist.name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(dist.entry)
    module = dist.entry.split("= ", 1)[1].split(":")[0]
    shutil.copyfile(Path(__file__).with_name(dist.source), site / f"{module}.py")
    monkeypatch.syspath_prepend(str(site))
    rescan()
    yield site
    forget_modules(site)
    rescan()


@pytest.fixture
def pulse(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The `secmas-pulse` distribution installed for the test; its folder."""
    yield from _installed(tmp_path_factory, monkeypatch, PULSE_DIST)


@pytest.fixture
def neighbour(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The `secmas-neighbour` distribution installed for the test; its folder."""
    yield from _installed(tmp_path_factory, monkeypatch, NEIGHBOUR_DIST)
