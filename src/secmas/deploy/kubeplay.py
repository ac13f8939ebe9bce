"""The manifests of `secmas deploy kubernetes --podman` run on this machine: brought up
with `podman kube play`, the agents started as their pods by the MLFO, and all removed.

`PodDeployment.load(folder)` reads the files. `up` creates the podman network named as
the namespace (its DNS answers the pods' names, `secmas.deploy.playable`), the Secrets
(`podman kube play secrets.yaml`), then the NATS and ledger pods, and waits until NATS
sends its INFO line and the ledger answers `eth_chainId` on the ports they publish on
127.0.0.1, where the MLFO on the host reaches them; its bus credentials are the Secret
`mlfo-bus`, written for it to a private folder (`mlfo_bus`), and its keys and token on
the development ledger the Secret `ledger-access` (`ledger_access`).

`PodAgents` is the IML driver (`secmas.pipeline.iml.IMLDriver`). At step 2 the MLFO
issues each agent's one-time enrolment credential (`secmas.trust.enrolment`); the driver
hands it over as the Secret `agent-<pop>-enrolment` (a podman secret holding the Secret
as `kube play` stores one), removes the host's copy, plays that agent's pod and removes
the podman secret once the pod's volumes hold it (until `down`). On a cluster the pod
waits for the Secret; podman refuses to create a pod whose Secret is missing, so here
the pod waits by not being played before it. The agent runs the pod's own command line:
the launch description only says which PoP and credential.

`down` runs `podman kube down` on each pod of the deployment that is there (side by
side: podman takes seconds for each), then removes what podman 4.3 leaves behind: the
podman secrets, the named volumes (`secmas.deploy.playable`) and the network. It goes on
past a failure, so that one leftover does not keep the others, and returns what it could
not remove; it also cleans up after a run that stopped half-way. The names are the
manifests' own and the ports fixed, so a machine runs one deployment at a time:
`check_clean` refuses to start over a deployment's volumes.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.deploy import nats, playable
from secmas.deploy.agents import COMPONENT as AGENT
from secmas.deploy.agents import MLFO_BUS, SEED
from secmas.deploy.imagewrap import wrap_in_image
from secmas.deploy.ledger import ACCESS_SECRET
from secmas.deploy.objects import PIPELINE, POP_ID, Manifest
from secmas.deploy.podman import PodmanError, podman
from secmas.deploy.writing import SECRETS, dump
from secmas.ledger.keyfile import KeyFileError, LedgerAccess, access_of
from secmas.pipeline.busaccess import BusAccess
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.iml import AgentLaunch, process_cpu_seconds
from secmas.transport.address import BusAddress
from secmas.transport.credentials import seed_file_of
from secmas.transport.tls import CA_FILE, write_secret
from secmas.trust.repository import ReferenceRepository

logger = logging.getLogger(__name__)

PLAYED = ("nats.yaml", "ledger.yaml")
"""The files `up` plays after the Secrets, in order."""
READY_TIMEOUT_S = 60.0
POLL_S = 0.5
STATE_TTL_S = 1.0
ENDED_STATES = frozenset({"exited", "stopping", "stopped", "removing", "gone"})
"""Container states of an agent that no longer runs ("gone": not listed). A container
just played may still be "created" or "initialized" on a loaded machine: not dead (the
bring-up's wait, on its CPU time, judges one that never starts)."""
"""How long the driver reuses one look at the pods (`dead` is asked several times a second)."""
STOP_TIMEOUT_S = 5
MLFO = "mlfo"
MEASURER = "measurer"


class KubePlayError(RuntimeError):
    """Manifests that cannot run here, or pods that did not come up; the message says
    which and why (podman's own failures are `secmas.deploy.podman.PodmanError`)."""


@dataclass
class PodDeployment:
    """One folder of manifests for `podman kube play`, and what was played from it."""

    folder: Path
    files: dict[str, list[Manifest]]

    @classmethod
    def load(cls, folder: Path) -> PodDeployment:
        """The manifests in `folder`; KubePlayError naming a missing or unreadable file, or
        a folder written for a cluster (no `--podman`)."""
        files: dict[str, list[Manifest]] = {}
        for name in (SECRETS, "agents.yaml", *PLAYED):
            path = folder / name
            try:
                files[name] = [d for d in yaml.safe_load_all(path.read_text()) if d]
            except FileNotFoundError:
                if name in PLAYED:
                    continue  # no ledger without the trust layer
                raise KubePlayError(
                    f"{path}: missing; write the folder with `secmas deploy kubernetes --podman`"
                ) from None
            except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
                raise KubePlayError(f"{path}: cannot read it: {exc}") from None
        deployment = cls(folder, files)
        if not any(o.get("kind") == "Pod" for o in deployment.files.get("nats.yaml", [])):
            raise KubePlayError(
                f"{folder}: written for a cluster (NATS is a StatefulSet, which podman does "
                "not run); write it with `secmas deploy kubernetes --podman`"
            )
        try:
            described = all((deployment.image, deployment.network, deployment.pipeline))
        except (KeyError, IndexError, TypeError, AttributeError, StopIteration):
            described = False
        if not described:
            raise KubePlayError(
                f"{folder / 'agents.yaml'}: not the agents of `secmas deploy kubernetes "
                "--podman` (each a Pod with its PoP, pipeline and image)"
            )
        return deployment

    # -- what the manifests say ------------------------------------------------------------
    def objects(self) -> list[Manifest]:
        return [o for objects in self.files.values() for o in objects]

    def pods(self) -> list[Manifest]:
        """Every pod, NATS and the ledger first."""
        order = [*PLAYED, "agents.yaml"]
        return [o for name in order for o in self.files.get(name, []) if o["kind"] == "Pod"]

    def secrets(self) -> list[str]:
        """The podman secrets a deployment makes: its Secrets and the enrolment Secrets."""
        made = [o["metadata"]["name"] for o in self.files[SECRETS]]
        if not self.trusted:
            return made
        return made + [f"{o['metadata']['name']}-enrolment" for o in self.agent_pods().values()]

    @property
    def network(self) -> str:
        """The podman network: the manifests' namespace."""
        return str(self.files["agents.yaml"][0]["metadata"]["namespace"])

    @property
    def pipeline(self) -> str:
        """The pipeline's label (`secmas.deploy.naming`)."""
        return str(self.files["agents.yaml"][0]["metadata"]["labels"][PIPELINE])

    def agent_pods(self) -> dict[str, Manifest]:
        """Each agent's pod, by PoP id."""
        return {
            o["metadata"]["annotations"][POP_ID]: o
            for o in self.files["agents.yaml"]
            if o["kind"] == "Pod"
        }

    @property
    def image(self) -> str:
        """The agents' image."""
        pod = next(iter(self.agent_pods().values()))
        return str(pod["spec"]["containers"][-1]["image"])

    @property
    def trusted(self) -> bool:
        """Whether the agents run with the trust layer (each waits for its enrolment)."""
        pod = next(iter(self.agent_pods().values()))
        return any(v["name"] == "enrolment" for v in pod["spec"]["volumes"])

    @property
    def node(self) -> bool:
        """Whether the deployment runs the development ledger's pod."""
        return any(o["kind"] == "Pod" for o in self.files.get("ledger.yaml", []))

    def ledger_url(self) -> str | None:
        """Where the MLFO reaches the agents' ledger: the development node's published port,
        the external node the agents use, or None (no trust layer)."""
        if self.node:
            return playable.HOST_LEDGER_URL
        command = next(iter(self.agent_pods().values()))["spec"]["containers"][-1]["command"]
        return command[command.index("--ledger") + 1] if "--ledger" in command else None

    def _secret(self, name: str) -> dict[str, bytes]:
        for obj in self.files[SECRETS]:
            if obj["metadata"]["name"] == name:
                return {k: base64.b64decode(v) for k, v in obj["data"].items()}
        raise KubePlayError(f"{self.folder / SECRETS}: no Secret {name!r}")

    def ledger_access(self) -> LedgerAccess | None:
        """The MLFO's and SECaaS's keys and the bearer token of the development ledger
        (None: the agents use an external node, or none); KubePlayError naming a Secret
        that is missing or does not hold them."""
        if not self.node:
            return None
        try:
            return access_of(
                self._secret(ACCESS_SECRET), f"{self.folder / SECRETS}: {ACCESS_SECRET}"
            )
        except KeyFileError as exc:
            raise KubePlayError(str(exc)) from None

    def mlfo_bus(self, folder: Path) -> BusAccess:
        """The MLFO's access to the NATS pod: the bus CA and its nkey seed, written to
        `folder` (owner-only; the caller removes it), at the published port."""
        files = self._secret(MLFO_BUS)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_secret(folder / CA_FILE, files["ca.pem"])
        write_secret(seed_file_of(folder, MLFO), files[SEED])
        return BusAccess(BusAddress.parse(playable.HOST_BUS_URL), folder / CA_FILE, folder)

    # -- up and down -----------------------------------------------------------------------
    def check_clean(self) -> None:
        """KubePlayError when volumes of this deployment are there already (an earlier run
        not taken down): a new pod would find the old one's files in them."""
        existing = set(podman(["volume", "ls", "--format", "{{.Name}}"]).split())
        left = [v for v in self.volumes() if v in existing]
        if left:
            raise KubePlayError(
                f"volumes of an earlier deployment are still there: {', '.join(left)}; "
                f"remove them with `podman volume rm {' '.join(left)}`"
            )

    def up(self, timeout: float = READY_TIMEOUT_S) -> None:
        """The network, the Secrets, NATS and the ledger, ready (module docstring)."""
        podman(["network", "create", self.network])
        podman(["kube", "play", "--network", self.network, str(self.folder / SECRETS)])
        for name in PLAYED:
            if name in self.files:
                podman(["kube", "play", "--network", self.network, str(self.folder / name)])
        deadline = time.monotonic() + timeout
        _wait(_nats_answers, "nats", deadline)
        access = self.ledger_access()
        if access is not None:
            _wait(lambda: _ledger_answers(access.token), "ledger", deadline)

    def play_agent(self, pop: str, credential: bytes | None) -> str:
        """Hand `pop` its enrolment Secret (when the trust layer is on) and play its pod,
        with the ConfigMaps it mounts; the pod's name."""
        pod = self.agent_pods()[pop]
        name = str(pod["metadata"]["name"])
        if credential is not None:
            secret = playable.marked(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": f"{name}-enrolment", "namespace": self.network},
                    "type": "Opaque",
                    "data": {"credential.json": base64.b64encode(credential).decode("ascii")},
                }
            )
            podman(["secret", "create", f"{name}-enrolment", "-"], stdin=dump(secret))
        maps = [o for o in self.files["agents.yaml"] if o["kind"] == "ConfigMap"]
        podman(["kube", "play", "--network", self.network, "-"], stdin=dump([*maps, pod]))
        if credential is not None:  # copied into the pod's volumes: no other copy is kept
            podman(["secret", "rm", f"{name}-enrolment"])
        return name

    def volumes(self) -> list[str]:
        """The named volumes podman makes for the pods: one per Secret and ConfigMap they
        mount, named as it, and one per `emptyDir`, named as the volume."""
        names: list[str] = []
        for obj in self.objects():
            if obj["kind"] != "Pod":
                continue
            for volume in obj["spec"]["volumes"]:
                if "secret" in volume:
                    name = volume["secret"]["secretName"]
                elif "configMap" in volume:
                    name = volume["configMap"]["name"]
                elif "emptyDir" in volume:
                    name = volume["name"]
                else:
                    continue  # a host path: no volume of podman's
                if name not in names:
                    names.append(name)
        return names

    def down(self) -> list[str]:
        """Remove everything `up` and the driver made (module docstring), as far as it is
        there (a run that stopped half-way, or none); what could not be removed, as podman
        said it."""
        problems: list[str] = []

        def attempt(args: list[str], stdin: str | None = None) -> None:
            try:
                podman(args, stdin=stdin)
            except PodmanError as exc:
                problems.append(str(exc))

        def listed(*what: str) -> set[str]:
            return set(podman([*what, "--format", "{{.Name}}"]).split())

        running = listed("pod", "ps")
        present = [p for p in self.pods() if p["metadata"]["name"] in running]
        with ThreadPoolExecutor() as pool:  # kube down refuses a file naming a missing pod
            list(pool.map(lambda pod: attempt(["kube", "down", "-"], dump([pod])), present))
        existing = listed("secret", "ls")
        for name in [s for s in self.secrets() if s in existing]:
            attempt(["secret", "rm", name])
        existing = listed("volume", "ls")
        for name in [v for v in self.volumes() if v in existing]:
            attempt(["volume", "rm", name])
        if self.network in listed("network", "ls"):
            attempt(["network", "rm", self.network])
        return problems


def _wait(ready: Callable[[], bool], what: str, deadline: float) -> None:
    while not ready():
        if time.monotonic() > deadline:
            logs = _logs(f"{what}-{what}")
            raise KubePlayError(f"the {what} pod did not answer on {playable.HOST}\n{logs}")
        time.sleep(POLL_S)


def _nats_answers() -> bool:
    """Whether the NATS pod sends its INFO line on the published port."""
    try:
        with socket.create_connection((playable.HOST, nats.CLIENT_PORT), timeout=2.0) as conn:
            return conn.recv(4).startswith(b"INFO")
    except OSError:
        return False


def _ledger_answers(token: str) -> bool:
    """Whether the development ledger answers a JSON-RPC call shown `token` on the
    published port."""
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(playable.HOST_LEDGER_URL, call.encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=2.0) as answer:
            return "result" in json.loads(answer.read())
    except (OSError, ValueError):
        return False


def _logs(container: str, lines: int | None = 20) -> str:
    """The container's output (its last `lines`), or why there is none."""
    tail = [] if lines is None else ["--tail", str(lines)]
    try:
        return podman(["logs", *tail, container])
    except PodmanError as exc:
        return str(exc)


@dataclass
class PodAgents:
    """The IML driver: each agent its pod of the deployment (module docstring); the agents'
    and measurers' logs are saved to `workdir` when they stop (`podman kube down` takes
    them with the pods)."""

    deployment: PodDeployment
    workdir: Path
    name: str = "podman kube play"
    pods: dict[str, str] = field(default_factory=dict)
    """The pod of each started agent, by PoP id."""
    _states: dict[str, tuple[str, int]] = field(default_factory=dict)
    _looked: float = -STATE_TTL_S

    def start(self, launch: AgentLaunch) -> None:
        credential = None
        if launch.enrolment is not None:
            credential = launch.enrolment.read_bytes()
            launch.enrolment.unlink()  # handed over: the Secret is its only copy
        self.pods[launch.pop] = self.deployment.play_agent(launch.pop, credential)
        self._looked = -STATE_TTL_S  # a look from before the pod would find it gone

    def wrap_image(self, key: Ed25519PrivateKey, repository: ReferenceRepository) -> WrappedImage:
        """Steps 3–4 for the pods' image (`secmas.deploy.imagewrap`)."""
        return wrap_in_image(self.deployment.image, key, repository)

    def container(self, agent: str, name: str = AGENT) -> str:
        return f"{self.pods[agent]}-{name}"

    def _look(self) -> dict[str, tuple[str, int]]:
        """Each container's state and host PID, looked at most once per `STATE_TTL_S`."""
        if time.monotonic() - self._looked >= STATE_TTL_S:
            listed = json.loads(podman(["ps", "--all", "--format", "json"]) or "[]")
            self._states = {c["Names"][0]: (c["State"], c["Pid"]) for c in listed}
            self._looked = time.monotonic()
        return self._states

    def dead(self) -> list[str]:
        states = self._look()
        return [
            p for p in self.pods if states.get(self.container(p), ("gone", 0))[0] in ENDED_STATES
        ]

    def cpu_seconds(self) -> dict[str, float]:
        """Each running agent's CPU seconds so far, read from its container's host process
        (`secmas.pipeline.iml.ReportsWork`)."""
        states = self._look()
        spent = {
            pop: process_cpu_seconds(states.get(self.container(pop), ("gone", 0))[1])
            for pop in self.pods
        }
        return {pop: seconds for pop, seconds in spent.items() if seconds is not None}

    def log_tail(self, agent: str, size: int = 800) -> str:
        return _logs(self.container(agent))[-size:]

    def kill(self, agent: str) -> None:
        """As a crash would: SIGKILL to the agent's process, its pod stays."""
        podman(["kill", "--signal", "KILL", self.container(agent)])
        self._looked = -STATE_TTL_S

    def stop_all(self) -> None:
        """Stop the agents' pods and keep their containers' logs."""
        if not self.pods:
            return
        try:
            podman(["pod", "stop", "--time", str(STOP_TIMEOUT_S), *self.pods.values()])
        except PodmanError as exc:  # `down` removes them whatever their state
            logger.warning("stopping the agents' pods: %s", exc)
        for pop in self.pods:
            for name in (AGENT, MEASURER):
                log = _logs(self.container(pop, name), None)
                (self.workdir / f"{name}-{pop}.log").write_text(log)

    def describe(self) -> dict[str, Any]:
        """The driver, the network and each agent's pod: its containers' states and the
        agent's PID on this machine. Not as `pids`, which has the MLFO start this host's
        measurer: its platform reference is this host's files, which a process of the
        image does not map (it fails every agent in a pod, naming the interpreter)."""
        states = self._look()
        return {
            "driver": self.name,
            "network": self.deployment.network,
            "pods": {
                pop: {
                    "pod": pod,
                    "containers": {
                        n.removeprefix(f"{pod}-"): state
                        for n, (state, _) in sorted(states.items())
                        if n.startswith(f"{pod}-")
                    },
                    "pid": states.get(self.container(pop), ("gone", 0))[1],
                }
                for pop, pod in self.pods.items()
            },
        }
