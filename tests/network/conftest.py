"""A user's attack installed for a test: `pulse` (`pulse_attack.py`, a low-rate pulsing
flood), as pip installs a distribution: a `.dist-info` folder with its entry points and
its module, on the import path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def pulse(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The `secmas-pulse` distribution installed for the test; its folder."""
    site = tmp_path_factory.mktemp("site")
    info = site / "secmas_pulse-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: secmas-pulse\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[secmas.attacks]\npulse = pulse_mod:Pulse\n")
    shutil.copyfile(Path(__file__).with_name("pulse_attack.py"), site / "pulse_mod.py")
    monkeypatch.syspath_prepend(str(site))
    rescan()
    yield site
    rescan()
