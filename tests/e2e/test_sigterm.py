"""SIGTERM on `secmas demo` / `secmas run` stops the run as Ctrl-C does, in every
placement: the command exits non-zero within `STOP_S`, without a traceback, and nothing
it started is left: no process of its tree (agents, measurer, nats-server, the emulated
network's shells), no temporary folder (they hold the agents' and servers' keys and
seeds), no private key in the run folder, no namespace or interface of the emulated
network, nothing of the pods in podman.

Each test starts the real command with a temporary directory of its own (`TMPDIR`), waits
for the pipeline to be up (the step 13-14 line: agents keyed, the run operating), records
the command's process tree and sends SIGTERM. Whatever a failing test leaves is removed
after it (processes killed, the emulated run cleaned, the pods taken down).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from tests.containers import vnf_tools_missing
from tests.network.emulation.conftest import leftovers, needs_emulation
from tests.realtime import one_run_at_a_time

from secmas.deploy.containers import LABEL
from secmas.deploy.image import AgentImage
from secmas.deploy.podman import available, podman
from secmas.network.emulation.registry import clean_dead_runs
from secmas.procstat import read_stat
from secmas.transport.broker import MISSING_BINARY, find_nats_server
from secmas.transport.credentials import SEED_SUFFIX
from secmas.transport.tls import KEY_SUFFIX

ROOT = Path(__file__).resolve().parents[2]
SECMAS = str(ROOT / ".venv" / "bin" / "secmas")
STOP_S = 30.0
"""How long the run may take to stop, everything it started included."""
UP_S = 240.0
"""How long the pipeline may take to come up on a busy 2-core machine."""
OPERATING = "step 13-14"
"""The line the run prints once its agents are keyed: the run is operating."""

needs_nats = pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)

Identity = tuple[int, int]
"""A process: its PID and its start time (a PID may be reused)."""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def process_tree(root: int) -> set[Identity]:
    """`root` and every process below it now, whatever session each started."""
    children: dict[int, list[Identity]] = {}
    for pid in _pids():
        stat = read_stat(pid)
        if stat is not None:
            children.setdefault(stat.parent, []).append((pid, stat.start_ticks))
    tree, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.add(child)
            todo.append(child[0])
    return tree


def alive(identity: Identity) -> bool:
    """Whether that process still runs (a zombie has ended)."""
    stat = read_stat(identity[0])
    return stat is not None and stat.start_ticks == identity[1] and stat.state != "Z"


def naming(*texts: str) -> list[str]:
    """Live processes whose command line holds one of `texts` (the run's folders)."""
    found = []
    for pid in _pids():
        stat = read_stat(pid)
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat is not None and stat.state != "Z" and any(t in argv for t in texts):
            found.append(f"{pid}: {argv}")
    return found


@dataclass
class Run:
    """The command under test, its output in files (a pipe could fill and stall it), its
    own temporary directory and run folder, and the processes seen below it."""

    process: subprocess.Popen[bytes]
    folder: Path
    tmp: Path
    out: Path
    seen: set[Identity] = field(default_factory=set)

    def output(self) -> str:
        return (self.folder / "stdout").read_text(errors="replace")

    def errors(self) -> str:
        return (self.folder / "stderr").read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = UP_S) -> None:
        """Poll `condition` (the tree seen meanwhile); fail if the run ends or time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.seen |= process_tree(self.process.pid)
            code = self.process.poll()
            assert code is None, f"the run ended ({code}) before {what}:\n{self.errors()}"
            assert time.monotonic() < deadline, f"no {what} in {timeout:g} s:\n{self.output()}"
            time.sleep(0.2)

    def operating(self) -> None:
        self.wait_until(lambda: OPERATING in self.output(), "pipeline up")

    def terminate(self, signum: int = signal.SIGTERM) -> float:
        """`signum` once the tree is recorded; the seconds until the command and every
        process it started ended (fails past `STOP_S`)."""
        self.seen |= process_tree(self.process.pid)
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_S:g} s after the signal:\n{self.output()}")
        while [p for p in self.seen if alive(p)] and time.monotonic() - sent < STOP_S:
            time.sleep(0.1)
        took = time.monotonic() - sent
        assert code != 0, self.output()
        assert "Traceback" not in self.errors(), self.errors()
        left = sorted(p for p in self.seen if alive(p))
        assert left == [], f"left running {took:.1f} s after the signal: {left}"
        assert naming(str(self.tmp), str(self.out)) == []
        return took

    def kill_left(self) -> None:
        """Whatever a failed test left: the command and every process seen below it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid, started in self.seen:
            if alive((pid, started)):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def started(*args: str, folder: Path) -> Iterator[Run]:
    """`secmas ARGS --out OUT` with a temporary directory of its own (its agents' seats
    must be reachable by the agent user: not under pytest's root-only folder), killed with
    everything it started once the test is done, however it ended."""
    tmp = Path(tempfile.mkdtemp(prefix="secmas-sigterm-"))
    tmp.chmod(0o1777)
    out = folder / "run"
    env = {**os.environ, "TMPDIR": str(tmp)}
    with (folder / "stdout").open("wb") as stdout, (folder / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [SECMAS, *args, "--out", str(out)], stdout=stdout, stderr=stderr, env=env, cwd=ROOT
        )
    run = Run(process, folder, tmp, out)
    try:
        yield run
    finally:
        run.kill_left()
        shutil.rmtree(tmp, ignore_errors=True)


def assert_no_secrets(run: Run) -> None:
    """No temporary folder and no private key or seed of the run remains."""
    assert list(run.tmp.iterdir()) == []
    secrets = [*run.out.rglob(f"*{KEY_SUFFIX}"), *run.out.rglob(f"*{SEED_SUFFIX}")]
    assert secrets == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_sigterm_stops_an_in_process_run(tmp_path: Path, signum: int) -> None:
    """The agents in the command's process; its measurer process in a session of its own.
    Ctrl-C (SIGINT to the command alone) stops it the same way."""
    with started("demo", folder=tmp_path) as run:
        run.operating()
        assert run.seen, "the run's measurer process"
        run.terminate(signum)
        assert_no_secrets(run)


@needs_nats
def test_sigterm_stops_a_run_of_agent_processes(tmp_path: Path) -> None:
    """Six `secmas agent` processes in sessions of their own, nats-server, the ledger."""
    with started("demo", "--processes", folder=tmp_path) as run:
        run.operating()
        forked = [p for p in naming("secmas.pipeline.spawner --run") if str(run.out) in p]
        assert len(forked) == 7, forked  # the spawner and the six agents it forked
        run.terminate()
        assert_no_secrets(run)


@needs_emulation
def test_sigterm_stops_an_emulated_run(tmp_path: Path) -> None:
    """A real network of namespaces, its shells and traffic, the VNF registry and the VNF
    containers with their PoPs' image stores, the agents in the command."""
    with one_run_at_a_time():  # another run's names are not this one's leftovers
        before = set(leftovers())
        try:
            with started("demo", "--dataplane", "emulated", folder=tmp_path) as run:
                run.operating()
                probes = set(naming("vnfprobe.py"))
                if vnf_tools_missing() is None:
                    assert probes, "the scenario's Link Monitor runs as a container in its PoP"
                run.terminate()
                assert_no_secrets(run)
                assert set(leftovers()) <= before
                assert not probes & set(naming("vnfprobe.py"))
                assert not list(run.out.rglob("stores/*/root"))  # the PoPs' image stores
        finally:
            clean_dead_runs()


def agent_containers() -> set[str]:
    """The agent containers of any run on this machine (none without podman)."""
    if not available():
        return set()
    return set(podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}"]).split())


@needs_emulation
@needs_nats
def test_sigterm_stops_a_run_of_agents_in_their_pops(tmp_path: Path) -> None:
    """Each agent inside its PoP's namespace (a container where podman is, else a
    process), nats-server and the ledger served inside the network too, its shells and
    traffic."""
    with one_run_at_a_time():  # another run's names and containers are not this one's
        before, containers = set(leftovers()), agent_containers()
        try:
            args = ("demo", "--processes", "--dataplane", "emulated")
            with started(*args, folder=tmp_path) as run:
                run.operating()
                processes = [a for a in naming("secmas agent") if str(run.tmp) in a]
                started_containers = agent_containers() - containers  # each with a sidecar
                assert len(processes) == 6 or len(started_containers) == 12, started_containers
                run.terminate()
                assert_no_secrets(run)
                assert set(leftovers()) <= before
                assert agent_containers() <= containers
        finally:
            clean_dead_runs()
            left = agent_containers() - containers  # a failed test SIGKILLs the run: they stay
            if left:
                podman(["rm", "--force", *left])


def test_sigterm_stops_a_run_on_pods(tmp_path: Path, agent_image: AgentImage) -> None:
    """Pods of `podman kube play`: their containers, volumes, secrets and network."""
    from tests.pods import leftovers as pod_leftovers
    from tests.pods import one_deployment

    from secmas.deploy.kubeplay import PodDeployment

    document = yaml.safe_load((ROOT / "scenarios" / "ddos-6pop.yaml").read_text())
    scenario = tmp_path / "ddos-6pop.yaml"
    scenario.write_text(yaml.safe_dump(document))
    pods = tmp_path / "pods"
    written = subprocess.run(
        [SECMAS, "deploy", "kubernetes", str(scenario), "--podman", "-o", str(pods),
         "--image", agent_image.tag],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    deployment = PodDeployment.load(pods)
    with one_deployment():
        try:
            args = ("run", str(scenario), "--processes", "--pods", str(pods))
            with started(*args, folder=tmp_path) as run:
                run.operating()
                run.terminate()
                left = pod_leftovers(deployment)
                assert_no_secrets(run)
        finally:
            deployment.down()  # whatever the run left, before the assertions
    assert left == {"pods": [], "containers": [], "secrets": [], "volumes": [], "networks": []}
