"""Emulated-network tests: a small scenario, the machine check and the leftover check.

They need root, network namespaces, Mininet and nftables (CI has them); elsewhere they
are skipped with the reason `preflight.missing()` gives. Every test, and the whole
directory, must leave no run record, process or interface behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import make_scenario

from secmas.network.emulation.preflight import missing
from secmas.network.emulation.registry import RUN_DIR, RunRecord, live_runs
from secmas.scenario.model import Scenario

LACKING = missing()
needs_emulation = pytest.mark.skipif(
    bool(LACKING), reason="emulated network unavailable: " + "; ".join(LACKING)
)

SERVER = "10.0.0.100"


def leftovers() -> list[str]:
    """Records and root-namespace interfaces of secmas runs on this machine that are not
    live runs of other processes (a demo beside the tests is not a leftover)."""
    if not RUN_DIR.is_dir():
        return []
    records = sorted(RUN_DIR.glob("*.json"))
    others = {prefix for prefix in live_runs() if _owner(prefix) != os.getpid()}
    others |= {p.stem for p in records if _another_live_process(_owner(p.stem))}
    mine = [p.stem for p in records if p.stem not in others]
    names = [p.name for p in Path("/sys/class/net").iterdir()]
    return [f"{p}.json" for p in mine] + [n for n in names if n.startswith(tuple(mine))]


LEFTOVER_WAIT_S = 15
"""How long a record another process left may take to be cleaned before it counts."""


def _another_live_process(pid: int | None) -> bool:
    """Whether `pid` is a live process other than this one: its run may be coming up in
    another test worker, its record written before it counts as a live run."""
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(prefix: str) -> int | None:
    try:
        return RunRecord.from_json((RUN_DIR / f"{prefix}.json").read_text()).owner
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Fails the test if it leaves a run record or interface of a secmas run behind."""
    before = set(leftovers())
    yield
    after = set(leftovers()) - before
    # another worker's test may SIGKILL a run on purpose and clean it a moment later
    # (test_control_host, test_cleanup): what this test left stays, that goes
    for _ in range(LEFTOVER_WAIT_S * 10):
        if not after:
            break
        time.sleep(0.1)
        after &= set(leftovers())
    assert not after, f"left behind: {sorted(after)}"


@pytest.fixture(scope="session", autouse=True)
def nothing_left_after_the_suite() -> Iterator[None]:
    """Suite level: after every emulated test, no record or interface of ours remains."""
    yield
    if not LACKING:
        assert leftovers() == [], f"emulated runs left behind: {leftovers()}"


def line_scenario(**extra: object) -> Scenario:
    """A—B—C—server, with D beside the path (A—D—C, slower): clients and attackers at A.

    Traffic from A reaches the server over B; D sees it only when steered over A→D→C.
    """
    data: dict[str, object] = {
        "hosts": [{"id": "server", "attach": "C", "ip": SERVER}],
        "traffic": {
            "server": "server",
            "ports": [8000, 8080],
            "duration": 30,
            "step": 1,
            "background": {
                "hosts": 6,
                "http_per_video": 2,
                "video_rate": 0.2,
                "http_rate": 0.05,
                "attach": ["A"],
            },
        },
        "attack": {
            "kind": "syn_flood",
            "attackers": 4,
            "rate": 0.5,
            "start": 5,
            "ports": [8000, 8080],
            "attach": ["A"],
        },
        "defence": {
            "monitor": {"pop": "C", "link": ["C", "server"], "threshold": 2.0},
        },
        "placements": [{"vnf": "link_monitor", "pop": "C"}],
        "network": {"engine": "emulated", "scale": 0.02},
    }
    data.update(extra)
    return make_scenario(
        pops=[("A", 4, 8, 100), ("B", 4, 8, 100), ("C", 4, 8, 100), ("D", 4, 8, 100)],
        links=[
            ("A", "B", 10, 5, 0),
            ("B", "C", 10, 5, 0),
            ("A", "D", 10, 20, 0),
            ("D", "C", 10, 20, 0),
            ("C", "server", 10, 1, 0),
        ],
        repository="A",
        **data,
    )
