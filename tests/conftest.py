"""Shared fixtures: small scenarios built from dicts."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from tests.realtime import one_run_at_a_time

from secmas import strictjson
from secmas.scenario.ddos import ddos_catalogue, ddos_goals
from secmas.scenario.model import Scenario
from secmas.trust.tpm import SoftwareTpm, software_tpm_missing

pytest_plugins = ("tests.containers", "tests.network.emulation.cnfbed")
"""The agent image's fixtures (`agent_image`, `image_reference`) and a real CNF on the
line network (`bed`), for every test file."""

# pytest-xdist's workers inherit COLUMNS=80, which Rich would fix as the consoles' width
# when they are made; without it each CliRunner call's own COLUMNS applies.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

# A suite started with `&` from a script inherits an ignored SIGINT, and so would every
# process the tests start: the tests that stop a served ledger, a live UI run or a
# nats-server with Ctrl-C would wait for nothing. A handler here gives them the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Timing varies on shared 2-core CI machines: no per-example deadline (timing is for
# benchmarks, not tests).
settings.register_profile("secmas", deadline=None)
settings.load_profile("secmas")

_RELEASES: list[tempfile.TemporaryDirectory[str]] = []


def pytest_configure() -> None:
    """The release reference of `secmas` is made once per release store and every later
    run checks the package against it (`secmas.trust.release`): a session gets a folder
    of stores of its own, one per $SECMAS_HOME (its processes inherit it), so code edited
    between sessions is released afresh and a test with a home of its own its own key.

    Made here, not when this file is imported: a run that a test starts in a process of
    its own, and kills, imports it for its helpers (a suite left two such folders)."""
    folder = tempfile.TemporaryDirectory(prefix="secmas-releases-")
    _RELEASES.append(folder)
    os.environ["SECMAS_RELEASES"] = folder.name


def pytest_unconfigure() -> None:
    """The session's release stores go with it (each xdist worker ends without running
    the folder's finalizer: a suite left three such folders in /tmp)."""
    while _RELEASES:
        _RELEASES.pop().cleanup()


REAL_TIME = "tests/e2e/"
"""Files of real-time runs (30-120 s each, mostly waiting on agents, a network, a browser)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files for the two workers (`--dist loadfile --no-loadscope-reorder`):
    the real-time files spread over the first half of the queue, a few other files after
    each, so that a worker waiting on one overlaps the other worker's CPU-bound files and
    none is left to run alone at the end (xdist's own order, most tests first, put the
    one-test real-time files last: the suite ended on one worker for 2-3 minutes)."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    real_time = [f for f in files if f.startswith(REAL_TIME)]
    others = [f for f in files if not f.startswith(REAL_TIME)]
    step = max(1, len(others) // (2 * max(1, len(real_time))))
    order: list[str] = []
    for i, name in enumerate(real_time):
        order += [name, *others[i * step : (i + 1) * step]]
    order += others[len(real_time) * step :]
    items[:] = [item for name in order for item in files[name]]


@pytest.fixture(scope="module")
def alone() -> Iterator[None]:
    """The machine's one place for a heavy real-time run (`tests.realtime`), held for a
    whole module: `pytestmark = pytest.mark.usefixtures("alone")` in a module of runs on
    the emulated network, whose module fixtures run them."""
    with one_run_at_a_time():
        yield


def make_scenario(
    pops: list[tuple[str, float, float, float]],
    links: list[tuple[str, str, float, float, float]],
    repository: str,
    **extra: Any,
) -> Scenario:
    """A scenario from (id, U, M, D) PoPs and (a, b, B, L, P%) links, DDoS catalogue."""
    data: dict[str, Any] = {
        "id": "test",
        "pops": [{"id": i, "cpu": u, "memory": m, "disk": d} for i, u, m, d in pops],
        "links": [
            {"a": a, "b": b, "bandwidth": bw, "latency": lat, "loss": loss}
            for a, b, bw, lat, loss in links
        ],
        "repository": {"attach": repository},
        "vnfs": [v.model_dump() for v in ddos_catalogue()],
        "goals": [g.model_dump() for g in ddos_goals()],
    }
    data.update(extra)
    return Scenario.model_validate(data)


@pytest.fixture
def triangle() -> Scenario:
    """A—B (10 MB/s, 10 ms, 1 %), B—C (5, 20, 2 %), A—C (20, 50, 0); repository at A."""
    return make_scenario(
        pops=[("A", 8, 16, 500), ("B", 8, 16, 500), ("C", 8, 16, 500)],
        links=[("A", "B", 10, 10, 1), ("B", "C", 5, 20, 2), ("A", "C", 20, 50, 0)],
        repository="A",
    )


@pytest.fixture
def ls_copy(tmp_path: Path) -> Path:
    """A writable copy of /bin/ls: a real, dynamically linked, stripped PIE."""
    copy = tmp_path / "ls"
    shutil.copyfile(shutil.which("ls") or "/bin/ls", copy)
    return copy


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for something another client, process or server does, polling."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class JsonWrites:
    """Records every `.json` file that secmas code opens for writing, so that the session
    can check them all. An audit hook (PEP 578), not a patch: patching `Path.write_text`
    would change the code the agents' attestation measures."""

    PLUMBING = frozenset({"pathlib", "io", "_pyio", "codecs", "json", "shutil", "tempfile", "os"})
    """Modules between the code that writes a file and the `open` it ends in."""

    def __init__(self) -> None:
        self.paths: set[Path] = set()
        self.active = False

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not self.active:
            return
        path, mode, flags = args
        if not isinstance(path, str | Path) or not str(path).endswith(".json"):
            return
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT
        if not (any(c in mode for c in "wax+") if mode else (flags or 0) & writes):
            return
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") in self.PLUMBING:
            frame = frame.f_back
        writer = "" if frame is None else frame.f_globals.get("__name__", "")
        if writer.split(".")[0] == "secmas":
            self.paths.add(Path(path).absolute())

    def problems(self) -> list[str]:
        """Why each recorded file that still exists is not strict JSON."""
        found = (strictjson.problem(p) for p in sorted(self.paths) if p.exists())
        return [problem for problem in found if problem is not None]


_JSON_WRITES = JsonWrites()
sys.addaudithook(_JSON_WRITES.hook)


@pytest.fixture(scope="session", autouse=True)
def strict_json_files() -> Iterator[JsonWrites]:
    """Every JSON file secmas writes during the tests parses with a strict parser
    (no bare Infinity or NaN); checked once, at the end of the session."""
    _JSON_WRITES.active = True
    yield _JSON_WRITES
    _JSON_WRITES.active = False
    problems = _JSON_WRITES.problems()
    assert not problems, "JSON files secmas wrote that are not strict:\n" + "\n".join(problems)


@pytest.fixture
def swtpm(tmp_path: Path) -> Iterator[SoftwareTpm]:
    """A software TPM of the test's own, stopped after it (skipped, naming what is
    missing, without swtpm or tpm2-pytss)."""
    missing = software_tpm_missing()
    if missing is not None:
        pytest.skip(missing)
    with SoftwareTpm.start(tmp_path / "swtpm") as tpm:
        yield tpm
