"""Attacks on the real CNF that must fail once its defences are in force: a Slowloris
against the guard holds no more than the guard allows, no legitimate client is caught,
code planted inside the CNF dies while nginx lives on, and a Slowloris spread so thin
that no source holds more than the old per-source limit still loses its connections.

Needs root, namespaces, Mininet, nftables, a cgroup hierarchy, nginx and stress-ng.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from tests.network.emulation.conftest import leftovers, line_scenario, needs_emulation

from secmas.network.emulation.cnfattacks import AttackSettings
from secmas.network.emulation.cnfcgroup import unavailable
from secmas.network.emulation.cnfdefence import held_sockets
from secmas.pipeline.cnf_emulated import CNFRunSettings, CNFTestbed

MISSING = [t for t in ("nginx", "stress-ng") if shutil.which(t) is None]
pytestmark = [
    needs_emulation,
    pytest.mark.skipif(bool(MISSING), reason=f"missing {MISSING}"),
    pytest.mark.skipif(unavailable() is not None, reason=f"no CNF cgroup: {unavailable()}"),
]


def test_slowloris_and_a_planted_hog_fail_against_the_guard_and_isolation(
    tmp_path: Path,
) -> None:
    before = set(leftovers())
    scenario = line_scenario(cnfs=[{"id": "web", "host": "server", "pop": "C"}])
    settings = CNFRunSettings(prometheus="http://127.0.0.1:9")  # never read here
    with CNFTestbed(scenario, tmp_path, settings) as bed:
        assert bed.attacker is not None and bed.defence is not None and bed.cnf is not None
        bed.defence.guard()
        episode = bed.attacker.start("slowloris")
        time.sleep(4.0)
        for _ in range(3):
            bed.defence.sweep()
            time.sleep(0.5)
        held = held_sockets(bed.cnf.namespace.run(["ss", "-Htan"]), set(bed.cnf.ports))
        bed.attacker.stop()
        dropped, offenders = bed.defence.guard_state()
        attackers = set(episode.sources)
        assert set(offenders) == attackers  # every attacker, and no client
        assert dropped > 0
        limit = bed.defence.settings.held
        assert all(held.get(source, 0) <= limit for source in attackers), held

        bed.attacker.start("high_cpu")
        time.sleep(1.0)
        planted = set(bed.group.pids()) - {bed.cnf.master}  # type: ignore[union-attr]
        killed = set(bed.defence.isolate())
        bed.attacker.stop()
        assert killed and killed <= planted
        assert bed.cnf.process is not None and bed.cnf.process.poll() is None  # nginx lives
        deadline = time.monotonic() + 5  # killed processes leave once they are reaped
        while killed & set(bed.group.pids()) and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.1)
        left = bed.group.pids()  # type: ignore[union-attr]
        assert not killed & set(left) and len(left) >= 2  # nginx's master and worker stay
    assert set(leftovers()) == before


BROWSER = 6
"""Connections a browser holds to one server at most (HTTP/1.1's norm)."""


def test_a_thin_slowloris_loses_what_it_holds_once_the_guard_stands(tmp_path: Path) -> None:
    """Four sources holding 25 connections each (under 32, the limit a source once had to
    pass to be swept) must not keep more than a browser would once the guard stands."""
    before = set(leftovers())
    scenario = line_scenario(cnfs=[{"id": "web", "host": "server", "pop": "C"}])
    thin = AttackSettings(slowloris_connections=100, slowloris_interval=1.0)
    settings = CNFRunSettings(prometheus="http://127.0.0.1:9", attack=thin)  # never read
    with CNFTestbed(scenario, tmp_path, settings) as bed:
        assert bed.attacker is not None and bed.defence is not None and bed.cnf is not None
        episode = bed.attacker.start("slowloris")
        time.sleep(3.0)
        held = held_sockets(bed.cnf.namespace.run(["ss", "-Htan"]), set(bed.cnf.ports))
        assert sum(held.get(s, 0) for s in episode.sources) >= 60  # the attack holds them
        bed.defence.guard()
        for _ in range(6):
            time.sleep(1.0)
            bed.defence.sweep()
        held = held_sockets(bed.cnf.namespace.run(["ss", "-Htan"]), set(bed.cnf.ports))
        bed.attacker.stop()
        assert all(held.get(source, 0) <= BROWSER for source in episode.sources), held
    assert set(leftovers()) == before
