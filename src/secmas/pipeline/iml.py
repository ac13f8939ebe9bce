"""IML drivers: where and how agents of a MAS pipeline are started (`001_…` step 2).

The multi-process workflow (`secmas.pipeline.processes`) needs only what this protocol
offers: start an agent from its launch description, tell which agents died (and why,
from their log), kill one, stop all. The agents then join the pipeline over the bus by
themselves, so the rest of the workflow (wrapping, registration, attestation, keys,
operation) does not depend on the driver. `LocalProcesses` starts `secmas agent`
processes on this machine, each forked from the run's spawner, which has loaded the agent
once (`secmas.pipeline.spawner`); a Kubernetes driver would start the same command as a pod
per agent, an OpenStack one as a VM, without any change to the workflow. One thing
depends on what the agents run: a driver whose agents run files of their own (an OCI
image) gives the check from outside that can judge them (`ChecksItsAgents`), in place of
this host's measurer.

Run as root, `LocalProcesses` starts no agent as root: each runs as the agent user
(`secmas.pipeline.agentuser`), out of reach of the measurer that attests it, in a folder of
its own (its seat, in the temporary directory: a run folder may be one it cannot reach)
holding its copies of the files it reads, as an agent on another host gets them
(`secmas.pipeline.hostlaunch`); the original of its one-time credential is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import secmas
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.pipeline.agentuser import AgentUser, agent_user
from secmas.pipeline.spawner import SpawnedAgent, Spawner, spawner_argv
from secmas.processend import ENDED, end_process
from secmas.procstat import read_stat
from secmas.transport.tls import write_secret
from secmas.trust.allowlist import agent_environment
from secmas.trust.compiled import SHARED_STORE_ENV, share_store
from secmas.trust.enrolment import CREDENTIAL_ENV
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.pycode import module_files
from secmas.trust.sitelist import PLATFORM_ENV

logger = logging.getLogger(__name__)

BUS_AUTH_ENV = "SECMAS_BUS_AUTH"
"""The environment variable that carries the bus credentials of a URL (never argv)."""
FILES = {
    "scenario": "scenario.yaml",
    "bus_ca": "bus-ca.pem",
    "bus_nkey": "agent.nk",
    "ledger_ca": "ledger-ca.pem",
    "ledger_token_file": "ledger-token",
    "enrolment": "enrolment.json",
    "platform": "platform.json",
}
"""The AgentLaunch fields that name files the agent reads, and their names in its folder."""


@dataclass(frozen=True)
class AgentLaunch:
    """What an agent is started with: the `secmas agent` command line, in fields, and
    the secrets that must not be on it (`env`)."""

    pop: str
    scenario: Path
    bus: str
    """The bus servers, without credentials."""
    pipeline: str
    ledger: str | None = None
    tamper_at: float | None = None
    bus_ca: Path | None = None
    bus_nkey: Path | None = None
    """The agent's nkey seed file: its path goes on the command line, never the seed."""
    bus_auth: str | None = field(default=None, repr=False)
    ledger_ca: Path | None = None
    """The CA of the ledger's HTTPS certificate (a path: public)."""
    ledger_token: str | None = field(default=None, repr=False)
    """The bearer token of the ledger the run serves (in the environment, never argv)."""
    ledger_token_file: Path | None = None
    """A file holding the ledger's bearer token, for an agent handed it as a file (a pod)."""
    enrolment: Path | None = None
    """The file holding the agent's one-time enrolment credential (its path goes in the
    environment, `SECMAS_ENROLMENT`; the agent removes the file once read)."""
    platform: Path | None = None
    """The release's signed platform allow-list, for an agent that runs this host's
    install and may not read the release store (its path goes in the environment,
    `SECMAS_PLATFORM`; `secmas.trust.sitelist`)."""

    def argv(self, python: str = sys.executable) -> list[str]:
        """The command that runs this agent."""
        argv = [
            python, "-m", "secmas", "agent", str(self.scenario), "--pop", self.pop,
            "--bus", self.bus, "--pipeline", self.pipeline,
        ]  # fmt: skip
        if self.ledger is not None:
            argv += ["--ledger", self.ledger]
        if self.tamper_at is not None:
            argv += ["--tamper-at", str(self.tamper_at)]
        if self.bus_ca is not None:
            argv += ["--bus-ca", str(self.bus_ca)]
        if self.ledger_ca is not None:
            argv += ["--ledger-ca", str(self.ledger_ca)]
        if self.bus_nkey is not None:
            argv += ["--bus-key", str(self.bus_nkey)]
        if self.ledger_token_file is not None:
            argv += ["--ledger-token", str(self.ledger_token_file)]
        return argv

    def env(self) -> dict[str, str]:
        """Environment variables the agent needs beside its command line (secrets)."""
        env = {} if self.bus_auth is None else {BUS_AUTH_ENV: self.bus_auth}
        if self.ledger_token is not None:
            env[LEDGER_TOKEN_ENV] = self.ledger_token
        if self.enrolment is not None:
            env[CREDENTIAL_ENV] = str(self.enrolment)
        if self.platform is not None:
            env[PLATFORM_ENV] = str(self.platform)
        return env

    def files(self) -> dict[str, Path]:
        """The files the agent reads, by field (`FILES`)."""
        return {name: path for name in FILES if (path := getattr(self, name)) is not None}

    def moved_to(self, folder: Path) -> AgentLaunch:
        """This launch with copies of its files in `folder` (OSError when one cannot be
        read); the originals stay."""
        contents = {name: path.read_bytes() for name, path in self.files().items()}
        return replace(self, **place(contents, folder))


def place(contents: Mapping[str, bytes], folder: Path) -> dict[str, Any]:
    """Write each file of a launch (by field) into `folder` under its name there, readable
    by its owner only; their paths by field."""
    paths = {name: folder / FILES[name] for name in contents}
    for name, data in contents.items():
        write_secret(paths[name], data)
    return paths


class IMLDriver(Protocol):
    """Starts and stops the agents of one pipeline somewhere."""

    name: str

    def start(self, launch: AgentLaunch) -> None: ...

    def dead(self) -> list[str]: ...

    def log_tail(self, agent: str, size: int = 800) -> str: ...

    def kill(self, agent: str) -> None: ...

    def stop_all(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class OutsideCheck(Protocol):
    """The agents' processes checked from outside, which the attestation chain consults
    before it acts on a pass (`AttestationChain.external`): this host's measurer
    (`secmas.trust.measurer_service.ExternalAttestation`), or a driver's own check."""

    async def check(self, agent: str) -> MeasurerAppraisal: ...

    def report(self) -> dict[str, object]: ...

    def stop(self) -> None: ...


@runtime_checkable
class ChecksItsAgents(Protocol):
    """An IML driver whose agents run files of their own (an OCI image), which this
    host's measurer cannot judge (its reference is this host's files): the driver gives
    the check that can (`secmas.deploy.containers`)."""

    def outside(self) -> OutsideCheck: ...


def _agent_sources() -> set[Path]:
    """The files an agent measures: its package's, and those of the modules it may have
    loaded, whose functions its objects may hold (the driver has loaded at least those)."""
    package = Path(secmas.__file__).parent
    files = set(module_files(package, "secmas").values())
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            files.add(Path(file))
    return files


@dataclass
class LocalProcesses:
    """One `secmas agent` OS process per agent on this machine, each forked from the run's
    spawner (`secmas.pipeline.spawner`), logs in `workdir`, each as `user` (module
    docstring)."""

    workdir: Path
    name: str = "local processes"
    stop_timeout: float = 5.0
    procs: dict[str, SpawnedAgent] = field(default_factory=dict)
    spawner: Spawner | None = None
    """What forks the agents (`secmas.pipeline.spawner`; started with the first)."""
    spawner_home: Path | None = None
    """The spawner's folder when separated (removed by `stop_all`)."""
    platform: Path | None = None
    """The platform allow-list handed to the spawner: agents launched with the same file
    get no copy of it, and inherit the spawner's."""
    user: AgentUser = field(default_factory=agent_user)
    seats: dict[str, Path] = field(default_factory=dict)
    """Each separated agent's folder (removed by `stop_all`)."""
    measured: Path | None = None
    """The folder of the read-only copy of this user's measured-file store that separated
    agents read (`_share_measured`; removed by `stop_all`)."""
    handed: dict[str, str] = field(default_factory=dict)
    """What each separated agent's environment gets to read that copy (empty when it could
    not be made)."""

    def start(self, launch: AgentLaunch) -> None:
        seat: Path | None = None
        home: dict[str, str] = {}
        spawner = self._spawner(launch.platform)
        if launch.platform is not None and launch.platform == self.platform:
            launch = replace(launch, platform=None)  # the spawner holds it, measured warm
        if self.user.separated:
            seat = self.seats[launch.pop] = Path(tempfile.mkdtemp(prefix="secmas-agent-"))
            original, launch = launch, launch.moved_to(seat)
            self.user.give(seat)
            if original.enrolment is not None:
                original.enrolment.unlink(missing_ok=True)  # the agent's now, in its seat
            home = self.user.env(seat)
        with self._log(launch.pop).open("wb") as handle:
            cwd = None if seat is None else str(seat)
            pid = spawner.spawn(launch.argv(), launch.env() | home, cwd, handle)
        self.procs[launch.pop] = SpawnedAgent(pid, spawner)

    def _spawner(self, platform: Path | None) -> Spawner:
        """The run's agent spawner (`secmas.pipeline.spawner`), started at the first agent:
        as the agent user, with the agents' environment (the allow-listed variables, the
        shared store of measured files and the platform allow-list the first agent is
        handed, which the spawner measures itself against before it forks any), in a
        folder of root's that agents may read but not write (when separated; else the
        driver's)."""
        if self.spawner is None:
            env = agent_environment(os.environ)
            cwd: str | None = None
            self.platform = handed = platform
            if self.user.separated:
                env |= self._share_measured()
                self.spawner_home = Path(tempfile.mkdtemp(prefix="secmas-spawner-"))
                self.spawner_home.chmod(0o755)
                cwd = str(self.spawner_home)
                env |= self.user.env(self.spawner_home)
                if platform is not None:  # the original may be out of its reach
                    handed = self.spawner_home / "platform.json"
                    shutil.copyfile(platform, handed)
                    handed.chmod(0o644)
            if handed is not None:
                env[PLATFORM_ENV] = str(handed)
            with self._log("spawner").open("wb") as handle:
                command = self.user.command(spawner_argv(self.workdir))
                self.spawner = Spawner.start(command, env, cwd, handle)
        return self.spawner

    def _share_measured(self) -> dict[str, str]:
        """The environment that hands a separated agent the copy of this user's store of
        measured files (`secmas.trust.compiled.share_store`), made at the first start
        with the agent's package measured: its home is its own, so without the copy every
        agent compiled the whole package again (seconds of CPU each). None is handed when
        the copy cannot be made: the agents compile, as before."""
        if self.measured is None:
            self.measured = Path(tempfile.mkdtemp(prefix="secmas-measured-"))
            try:
                copy = share_store(self.measured, _agent_sources())
            except (OSError, sqlite3.Error) as exc:
                logger.warning("agents compile what they measure: no shared store (%s)", exc)
            else:
                self.handed = {SHARED_STORE_ENV: str(copy)}
        return self.handed

    def dead(self) -> list[str]:
        return [p for p, proc in self.procs.items() if proc.poll() is not None]

    def log_tail(self, agent: str, size: int = 800) -> str:
        log = self._log(agent)
        return log.read_text(errors="replace")[-size:] if log.exists() else ""

    def kill(self, agent: str) -> None:
        """As a crash would: SIGKILL, no goodbye."""
        proc = self.procs[agent]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def terminate(self, agent: str, grace: float) -> str:
        """SIGTERM, then SIGKILL if the agent has not ended `grace` seconds later; how it
        ended (`stop_agent`)."""
        return end_process(self.procs[agent], grace)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.spawner is not None:
            self.spawner.close(self.stop_timeout)
        for folder in (*self.seats.values(), self.measured, self.spawner_home):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def cpu_seconds(self) -> dict[str, float]:
        """Each running agent's CPU seconds so far (`ReportsWork`)."""
        return {
            agent: seconds
            for agent, proc in self.procs.items()
            if (seconds := process_cpu_seconds(proc.pid)) is not None
        }

    def describe(self) -> dict[str, Any]:
        return {
            "driver": self.name,
            "pids": {p: proc.pid for p, proc in self.procs.items()},
            "agent_user": self.user.report(),
        }

    def _log(self, agent: str) -> Path:
        return self.workdir / f"agent-{agent}.log"


@runtime_checkable
class ReportsWork(Protocol):
    """An IML driver that can tell how much CPU each agent has spent: the MLFO waits for
    agents slow to start while they work (`secmas.pipeline.bringup`)."""

    def cpu_seconds(self) -> dict[str, float]: ...


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user and system, its waited-for children's too) process `pid` has
    spent; None once it is gone."""
    stat = read_stat(pid)
    return None if stat is None else stat.cpu_seconds


# -- stopping a revoked agent ------------------------------------------------------------------

STOP_GRACE_S = 5.0
"""How long a revoked agent has to end on SIGTERM before it is killed."""


@runtime_checkable
class TerminatesAnAgent(Protocol):
    """An IML driver that can end one agent gently: SIGTERM, then SIGKILL after a grace."""

    def terminate(self, agent: str, grace: float) -> str: ...


def stop_agent(driver: IMLDriver, agent: str, grace: float = STOP_GRACE_S) -> str:
    """Stop a revoked agent for good, however it runs: gently where its driver can
    (`TerminatesAnAgent`), else as the driver kills one (a container, with its measurer
    beside it; a process on another host); an agent that ended is left as it is. Returns
    how it ended, for the journal. Blocks for up to `grace` seconds: run it in a thread."""
    if agent in driver.dead():
        return ENDED
    if isinstance(driver, TerminatesAnAgent):
        return driver.terminate(agent, grace)
    driver.kill(agent)
    return "killed"
