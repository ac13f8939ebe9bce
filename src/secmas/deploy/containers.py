"""The IML driver that runs each agent as a podman container of the agent image inside
its PoP's network namespace, with its measurer beside it (Containernet-style, as `003_…`
ran its VNFs as containers on Mininet hosts). The application layer hands it to the
emulated network's multi-process run (`secmas.pipeline.emulated_processes.PopAgents`),
which names no container itself.

`PodmanAgents` is an `IMLDriver` (`secmas.pipeline.iml`): for each agent it starts

- the **agent** container: the image `localhost/secmas-agent:<version>`
  (`secmas.deploy.image`) running the same command line as a local agent process
  (`AgentLaunch.argv`), with paths inside the container; in the network namespace the
  driver was given for its PoP (`--network ns:/var/run/netns/NAME`, so it binds that
  namespace's address and its messages cross the emulated links), or podman's default
  network. As the Kubernetes pod does (`secmas.deploy.agents`): another user than root,
  no capability, no new privileges, a read-only root. Its files (scenario, bus CA, nkey
  seed, ledger CA) are copies in a private folder owned by that user, mounted read-only
  at `/run/secmas`; its one-time enrolment credential is alone in a folder mounted
  writable at `/run/secmas-enrolment`, since the agent removes it once read, and the
  host's copy is removed once handed over. Secrets in the environment (`AgentLaunch.env`)
  pass through podman's environment (`-e NAME`), never its command line;
- the **measurer** sidecar: `python -m secmas.trust.measurer_service` in the agent's PID
  namespace (`--pid container:AGENT`), root with only CAP_SYS_PTRACE and
  CAP_DAC_READ_SEARCH, no network, with a key of its own that only it mounts; it serves
  on a Unix socket in a host folder (`measurer_client`). In that namespace the agent is
  process 1 (`AGENT_PID`).

Before its first agent the driver checks the image's files against the reference SECaaS
signed (`secmas.trust.container`) and refuses an image that differs; `check(agent)`
measures a running agent's container from the host (`/proc/PID/root`) against it.
`outside()` gives that check to the attestation chain (`ContainerAttestation`), in place
of this host's measurer: the measurer's platform reference is this host's files, and it
reads an agent's files by their paths on this host, so it would judge the image's
interpreter as foreign (failing every genuine agent) and never see a file altered inside
a container. The container check compares what the container holds and maps with the
image's own reference. Steps 3–4 wrap the package as the image holds it (`wrap_image`,
`secmas.deploy.imagewrap`). `describe()` names each agent's host PID (`pids`) and
container. `stop_all` removes every container the driver started (found by a label of
its own, even those whose start failed half-way), keeping each agent's log in `workdir`
as `agent-<pop>.log`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.deploy.image import AGENT_USER, ImageError, agent_tag, verify_image
from secmas.deploy.imagewrap import wrap_in_image
from secmas.deploy.podman import PodmanError, podman
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.hostlaunch import FILES
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.iml import AgentLaunch, process_cpu_seconds
from secmas.procstat import read_stat
from secmas.transport.tls import write_secret
from secmas.trust.container import (
    RUNTIME_MOUNTS,
    ContainerCheck,
    ContainerError,
    FileHashes,
    check_container,
)
from secmas.trust.keys import save_private_key
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.measurer_service import MeasurerClient
from secmas.trust.repository import ReferenceRepository

AGENT_PID = 1
"""The agent's process id in its own PID namespace, where its measurer asks about it."""
FILES_DIR = "/run/secmas"
ENROLMENT_DIR = "/run/secmas-enrolment"
MEASURER_DIR = "/run/measurer"
MEASURER_KEY_DIR = "/run/measurer-key"
MEASURER_KEY = "measurer-ed25519.pem"
SOCKET = "measurer.sock"
LABEL = "io.secmas.driver"
"""Every container of one driver carries this label with the driver's id."""
STOP_TIMEOUT_S = 5
READY_TIMEOUT_S = 30.0


@dataclass
class AgentContainer:
    """One agent's containers and what the driver keeps about them."""

    pop: str
    agent: str
    measurer: str
    pid: int
    started: str
    """The host process's start time (`/proc/PID/stat` field 22): a PID reused later is
    another process."""
    folder: Path
    measurer_key: Ed25519PublicKey


@dataclass
class PodmanAgents:
    """Agents as podman containers of `image`, each in the network namespace `netns`
    names for its PoP (a path such as `/var/run/netns/pop1`; a PoP it does not name, or
    names with None, gets podman's default network), logs and private folders in
    `workdir`. With a `reference` (an `oci` manifest) signed by `trusted`, the image is
    checked against it before the first agent starts, and `check` compares a running
    agent's container with it. Needs root (rootful podman)."""

    workdir: Path
    image: str = field(default_factory=agent_tag)
    netns: Mapping[str, str | None] = field(default_factory=dict)
    reference: ReferenceManifest | None = None
    trusted: Ed25519PublicKey | None = None
    name: str = "podman containers"
    stop_timeout: int = STOP_TIMEOUT_S
    agents: dict[str, AgentContainer] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    image_checked: bool = False
    hashes: FileHashes = field(default_factory=FileHashes)
    folders: list[Path] = field(default_factory=list)
    """Each agent's private folders (removed by `stop_all`, even for an agent that failed)."""
    sockets: dict[str, Path] = field(default_factory=dict)
    """Each agent's measurer's socket."""

    def start(self, launch: AgentLaunch) -> None:
        """Start `launch`'s agent container and its measurer; PipelineError naming the
        agent and podman's reason when either cannot start."""
        self._check_image()
        folder = self.workdir / "containers" / _safe(launch.pop)
        agent = f"secmas-{self.run_id}-{_safe(launch.pop)}"
        measurer = f"{agent}-measurer"
        self.folders.append(folder)
        try:
            inside = self._hand_over(launch, folder)
            podman(self._agent_args(launch, agent, folder, inside), env=inside.env())
            pid = int(podman(["inspect", "--format", "{{.State.Pid}}", agent]).strip())
            key = Ed25519PrivateKey.generate()
            podman(self._measurer_args(launch.pop, agent, measurer, folder, key))
        except (PodmanError, OSError, ValueError) as exc:
            raise PipelineError(f"agent {launch.pop}: cannot start its container: {exc}") from None
        self.agents[launch.pop] = AgentContainer(
            launch.pop, agent, measurer, pid, _start_time(pid), folder, key.public_key()
        )

    def _check_image(self) -> None:
        """Refuse an image whose files are not those of its reference (once per driver)."""
        if self.image_checked or self.reference is None:
            return
        if self.trusted is None:
            raise PipelineError("a reference without the key that must have signed it")
        try:
            verification = verify_image(self.image, self.reference, self.trusted)
        except ImageError as exc:
            raise PipelineError(f"image {self.image}: cannot check it: {exc}") from None
        if not verification.ok:
            problems = verification.problems()
            shown = "; ".join(problems[:5]) + (
                f"; {len(problems) - 5} more" if len(problems) > 5 else ""
            )
            raise PipelineError(f"image {self.image} refused: not its reference ({shown})")
        self.image_checked = True

    def _hand_over(self, launch: AgentLaunch, folder: Path) -> AgentLaunch:
        """Copy the agent's files into its folders (owned by the agent's user, 0400) and
        return the launch with their paths inside the container; the host's copy of the
        one-time credential is removed."""
        files, enrolment = folder / "files", folder / "enrolment"
        for path in (folder, files, enrolment):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (files, enrolment):
            os.chown(path, AGENT_USER, AGENT_USER)
        inside: dict[str, Path] = {}
        for field_name, file_name in FILES.items():
            source = getattr(launch, field_name)
            if source is None:
                continue
            target = (enrolment if field_name == "enrolment" else files) / file_name
            write_secret(target, Path(source).read_bytes())
            os.chown(target, AGENT_USER, AGENT_USER)
            target_dir = ENROLMENT_DIR if field_name == "enrolment" else FILES_DIR
            inside[field_name] = Path(target_dir) / file_name
        if launch.enrolment is not None:
            Path(launch.enrolment).unlink(missing_ok=True)
        return replace(launch, **inside)

    def _agent_args(
        self, launch: AgentLaunch, name: str, folder: Path, inside: AgentLaunch
    ) -> list[str]:
        netns = self.netns.get(launch.pop)
        args = ["run", "--detach", "--name", name, "--label", f"{LABEL}={self.run_id}"]
        args += ["--pull", "never", "--read-only", "--user", f"{AGENT_USER}:{AGENT_USER}"]
        args += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
        args += ["--network", f"ns:{netns}"] if netns is not None else []
        args += ["-v", f"{folder / 'files'}:{FILES_DIR}:ro"]
        args += ["-v", f"{folder / 'enrolment'}:{ENROLMENT_DIR}:rw"]
        args += ["-e", "HOME=/tmp", *(a for k in sorted(inside.env()) for a in ("-e", k))]
        return [*args, self.image, *inside.argv("python")]

    def _measurer_args(
        self, pop: str, agent: str, name: str, folder: Path, key: Ed25519PrivateKey
    ) -> list[str]:
        keys = folder / "measurer-key"
        keys.mkdir(mode=0o700, exist_ok=True)
        (keys / MEASURER_KEY).unlink(missing_ok=True)
        save_private_key(key, keys / MEASURER_KEY)
        sockets = self._socket_folder(pop)
        args = ["run", "--detach", "--name", name, "--label", f"{LABEL}={self.run_id}"]
        args += ["--pull", "never", "--read-only", "--pid", f"container:{agent}"]
        args += ["--network", "none", "--user", "0", "--cap-drop", "all"]
        args += ["--cap-add", "SYS_PTRACE", "--cap-add", "DAC_READ_SEARCH"]
        args += ["--security-opt", "no-new-privileges"]
        args += ["-v", f"{keys}:{MEASURER_KEY_DIR}:ro", "-v", f"{sockets}:{MEASURER_DIR}"]
        service = ["python", "-m", "secmas.trust.measurer_service"]
        service += ["--socket", f"{MEASURER_DIR}/{SOCKET}", "--name", f"measurer-{pop}"]
        service += ["--key-file", f"{MEASURER_KEY_DIR}/{MEASURER_KEY}", "--package", "secmas"]
        return [*args, self.image, *service]

    def _socket_folder(self, pop: str) -> Path:
        """A private folder with a short path for the measurer's socket (a Unix socket's
        path has at most 107 bytes; a run folder's may be longer)."""
        folder = Path(tempfile.mkdtemp(prefix="secmas-sidecar-"))
        self.folders.append(folder)
        self.sockets[pop] = folder / SOCKET
        return folder

    def measurer_client(self, agent: str, timeout: float = READY_TIMEOUT_S) -> MeasurerClient:
        """The agent's measurer (it measures process `AGENT_PID`), once it listens."""
        started = self.agents[agent]
        socket = self.sockets[agent]
        deadline = time.monotonic() + timeout
        while not socket.exists():
            if time.monotonic() > deadline:
                raise PipelineError(f"agent {agent}: its measurer did not listen in {timeout:g} s")
            time.sleep(0.1)
        return MeasurerClient(socket, started.measurer_key)

    def check(self, agent: str) -> ContainerCheck:
        """The agent's running container against the image's reference (its files, its
        mounts, the files its process maps), measured from the host."""
        if self.reference is None or self.trusted is None:
            raise PipelineError("no image reference to check containers against")
        expected = (*RUNTIME_MOUNTS, FILES_DIR, ENROLMENT_DIR)
        pid = self.agents[agent].pid
        return check_container(pid, self.reference, self.trusted, expected, self.hashes)

    def outside(self) -> ContainerAttestation:
        """The chain's check of the agents from outside: their containers (module
        docstring)."""
        return ContainerAttestation(self)

    def wrap_image(self, key: Ed25519PrivateKey, repository: ReferenceRepository) -> WrappedImage:
        """Steps 3–4 for the image's package (`secmas.deploy.imagewrap`)."""
        return wrap_in_image(self.image, key, repository)

    def dead(self) -> list[str]:
        return [pop for pop, a in self.agents.items() if _start_time(a.pid) != a.started]

    def cpu_seconds(self) -> dict[str, float]:
        """Each running agent's CPU seconds so far, read from its host process
        (`secmas.pipeline.iml.ReportsWork`)."""
        return {
            pop: seconds
            for pop, a in self.agents.items()
            if _start_time(a.pid) == a.started
            and (seconds := process_cpu_seconds(a.pid)) is not None
        }

    def log_tail(self, agent: str, size: int = 800) -> str:
        started = self.agents.get(agent)
        kept = self._log(agent)
        if kept.exists():
            return kept.read_text(errors="replace")[-size:]
        if started is None:
            return ""
        try:
            return podman(["logs", started.agent], merged=True)[-size:]
        except PodmanError as exc:
            return str(exc)

    def kill(self, agent: str) -> None:
        """As a crash would: SIGKILL to the agent (its measurer, in its PID namespace,
        goes with it)."""
        started = self.agents[agent]
        try:
            podman(["kill", "--signal", "KILL", started.agent])
        except PodmanError:
            if _start_time(started.pid) == started.started:
                raise

    def stop_all(self) -> None:
        """Stop and remove every container this driver started (by its label), keep the
        agents' logs and remove their private folders; PipelineError after trying all
        when podman refused to remove some."""
        for pop in self.agents:
            self._keep_log(pop)
        failure: PodmanError | None = None
        try:
            names = podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}={self.run_id}"])
            if names.split():
                argv = ["rm", "--force", "--depend", "--time", str(self.stop_timeout)]
                podman([*argv, *names.split()])
        except PodmanError as exc:
            failure = exc
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
        with suppress(OSError):  # another driver's folders may still be there
            (self.workdir / "containers").rmdir()
        if failure is not None:
            raise PipelineError(f"containers of run {self.run_id} not all removed: {failure}")

    def describe(self) -> dict[str, Any]:
        return {
            "driver": self.name,
            "image": self.image,
            "pids": {pop: a.pid for pop, a in self.agents.items()},
            "containers": {pop: a.agent for pop, a in self.agents.items()},
            "netns": {pop: self.netns.get(pop) for pop in self.agents},
        }

    def _keep_log(self, agent: str) -> None:
        try:
            text = podman(["logs", self.agents[agent].agent], merged=True)
        except PodmanError:
            return
        self._log(agent).write_text(text)

    def _log(self, agent: str) -> Path:
        return self.workdir / f"agent-{agent}.log"


@dataclass
class ContainerAttestation:
    """The attestation chain's external check of agents in containers
    (`AttestationChain.external`, `secmas.pipeline.iml.OutsideCheck`): each check measures
    the agent's running container against the image's reference from the host
    (`PodmanAgents.check`), in a worker thread; a problem fails it, naming the file, mount
    or mapping."""

    driver: PodmanAgents
    results: list[tuple[str, MeasurerAppraisal]] = field(default_factory=list)

    async def check(self, agent: str) -> MeasurerAppraisal:
        if agent not in self.driver.agents:
            appraisal = MeasurerAppraisal(False, (f"no container known for {agent}",))
        else:
            appraisal = await asyncio.to_thread(self._appraise, agent)
        self.results.append((agent, appraisal))
        return appraisal

    def _appraise(self, agent: str) -> MeasurerAppraisal:
        try:
            found = self.driver.check(agent)
        except (ContainerError, PipelineError) as exc:
            return MeasurerAppraisal(False, (str(exc),))
        return MeasurerAppraisal(found.ok, tuple(found.problems()))

    def report(self) -> dict[str, object]:
        """What the run report says about external measurement (as the host measurer's)."""
        reference = self.driver.reference
        return {
            "measured_by": "container check against the image's reference, from the host",
            "image": self.driver.image,
            "reference_root": None if reference is None else reference.root,
            "checks": len(self.results),
            "measurements": len(self.results),
            "failed": [
                {"agent": agent, "reasons": list(a.reasons[:5])}
                for agent, a in self.results
                if not a.passed
            ],
            "tolerated": [],
        }

    def stop(self) -> None:
        """Nothing runs beside the checks (the sidecars go with the containers)."""


def _safe(pop: str) -> str:
    """A PoP id as part of a container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in pop)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot, "" when it is gone or a zombie."""
    stat = read_stat(pid)
    return "" if stat is None or stat.state == "Z" else str(stat.start_ticks)
