"""One agent pod per PoP: `secmas agent` with the external measurer beside it.

The agent container runs exactly the command line the local IML driver starts
(`secmas.pipeline.iml.AgentLaunch.argv`), with paths inside the pod: the scenario from a
ConfigMap, the bus CA and the ledger CA from Secrets, the nkey seed, the one-time
enrolment credential and the development ledger's bearer token (the Secret `ledger-token`,
`secmas.deploy.ledger`) from an in-memory folder. Those three are copied there by an init
container because Secret volumes are read-only and, with `fsGroup`, group-readable: the
agent refuses a seed or token open to its group (as ssh does) and removes its credential
once read.

The enrolment credential is not in these manifests: it is one-time and bound to the
running MLFO's keys (`secmas.trust.enrolment`), so the MLFO creates the Secret
`agent-<pop>-enrolment` (key `credential.json`) at step 8; until then the pod waits.

The measurer (`python -m secmas.trust.measurer_service`) is a native sidecar (an init
container that keeps running) in the same process namespace (`shareProcessNamespace`),
so it reads the agent's `/proc/PID/mem`, maps and files. It runs as another user than
the agent with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only, so it can read the agent
whatever the node's Yama ptrace scope (up to 2), while the agent, holding no capability,
can neither read the measurer's memory and key nor signal it. Its signing key is in a
Secret mounted in the sidecar alone; its public key in the ConfigMap `measurer-keys`.

A pod is never restarted (`restartPolicy: Never`), as a local agent process is not: a
new process would be a new identity without a credential, and the pipeline already
treats a dead agent (its auctions time out, it fails its next attestation).

Resources: an agent's work grows with the VNF instances its PoP can host (each is
observed every tick and bid for in auctions). `slots` is the most instances of one
catalogue VNF the PoP fits at once (capped at `MAX_SLOTS`); the agent requests
`BASE_CPU_M + CPU_PER_SLOT_M × slots` millicores and `BASE_MEMORY_MI + MEMORY_PER_SLOT_MI ×
slots` MiB, and may use twice both. The base is what an idle agent process needs: the
`secmas agent` modules alone take about 105 MB resident (measured on Python 3.11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from secmas.deploy.ledger import CA_SECRET, TOKEN, TOKEN_SECRET, LedgerTarget
from secmas.deploy.material import Material
from secmas.deploy.naming import AGENT_PREFIX
from secmas.deploy.objects import (
    POP,
    POP_ID,
    SECRET_MOUNTS,
    Manifest,
    Place,
    config_map,
    config_volume,
    copier,
    locked_down,
    memory_volume,
    mount,
    pod_spec,
    resources,
    secret,
    secret_volume,
)
from secmas.pipeline.iml import AgentLaunch
from secmas.scenario.model import PoP, Resources, Scenario

COMPONENT = "agent"
SCENARIO_CONFIG = "scenario"
SCENARIO_DIR = "/etc/secmas/scenario"
MEASURER_KEYS = "measurer-keys"
MLFO_BUS = "mlfo-bus"
"""The MLFO's nkey and the bus CA, for the pipeline's MLFO wherever it runs."""
RUN_DIR = "/run/secmas"
MEASURER_DIR = "/run/measurer"
BUS_DIR = f"{SECRET_MOUNTS}/bus"
ENROLMENT_DIR = f"{SECRET_MOUNTS}/enrolment"
LEDGER_DIR = f"{SECRET_MOUNTS}/ledger"
LEDGER_TOKEN_DIR = f"{SECRET_MOUNTS}/ledger-token"
MEASURER_KEY_DIR = f"{SECRET_MOUNTS}/measurer"
SEED = "seed.nk"
CREDENTIAL = "credential.json"
MEASURER_KEY = "measurer-ed25519.pem"
AGENT_USER = 10001
PYTHON = "python"

BASE_CPU_M = 100
CPU_PER_SLOT_M = 25
BASE_MEMORY_MI = 192
MEMORY_PER_SLOT_MI = 8
MAX_SLOTS = 32
LIMIT_FACTOR = 2


@dataclass(frozen=True)
class AgentResources:
    """An agent container's requests; its limits are `LIMIT_FACTOR` times them."""

    slots: int
    cpu_m: int
    memory_mi: int

    def to_json(self) -> Manifest:
        return resources(
            f"{self.cpu_m}m",
            f"{self.memory_mi}Mi",
            f"{self.cpu_m * LIMIT_FACTOR}m",
            f"{self.memory_mi * LIMIT_FACTOR}Mi",
        )


def slots(pop: PoP, scenario: Scenario) -> int:
    """The most instances of one catalogue VNF that fit `pop` at once (module docstring)."""
    have = pop.total

    def fit(need: Resources) -> int:
        pairs = ((have.cpu, need.cpu), (have.memory, need.memory), (have.disk, need.disk))
        counts = [math.floor(total / one) for total, one in pairs if one > 0]
        return min(counts) if counts else MAX_SLOTS  # a VNF that needs nothing

    return min(max(fit(vnf.requirements) for vnf in scenario.vnfs), MAX_SLOTS)


def agent_resources(pop: PoP, scenario: Scenario) -> AgentResources:
    """The mapping of the module docstring."""
    n = slots(pop, scenario)
    return AgentResources(
        n, BASE_CPU_M + CPU_PER_SLOT_M * n, BASE_MEMORY_MI + MEMORY_PER_SLOT_MI * n
    )


@dataclass(frozen=True)
class AgentPlan:
    """What one agent's pod is made of."""

    pop: str
    name: str
    """The PoP's DNS label (`secmas.deploy.naming.pop_names`)."""
    pipeline: str
    """The pipeline's name on the bus and the ledger (`secmas.pipeline.mlfo.pipeline_name`)."""
    bus: str
    ledger: LedgerTarget | None
    """None: the scenario runs without the trust layer (no ledger, no enrolment)."""
    resources: AgentResources

    @property
    def pod(self) -> str:
        return AGENT_PREFIX + self.name

    def launch(self) -> AgentLaunch:
        """The local IML driver's launch description, with the pod's paths."""
        trusted = self.ledger is not None
        return AgentLaunch(
            self.pop,
            Path(SCENARIO_DIR) / "scenario.yaml",
            self.bus,
            self.pipeline,
            self.ledger.url if self.ledger is not None else None,
            bus_ca=Path(BUS_DIR) / "ca.pem",
            bus_nkey=Path(RUN_DIR) / SEED,
            ledger_ca=Path(LEDGER_DIR) / "ca.pem" if trusted and self.ledger.ca else None,
            enrolment=Path(RUN_DIR) / CREDENTIAL if trusted else None,
            ledger_token_file=Path(RUN_DIR) / TOKEN if trusted and self.ledger.node else None,
        )


def shared_objects(place: Place, scenario_yaml: str, material: Material) -> list[Manifest]:
    """The scenario the agents load, the measurers' public keys and the MLFO's bus Secret."""
    keys = {f"{pop}.pub": key.public_hex for pop, key in material.measurers.items()}
    return [
        config_map(place.metadata(SCENARIO_CONFIG, COMPONENT), {"scenario.yaml": scenario_yaml}),
        config_map(place.metadata(MEASURER_KEYS, COMPONENT), keys),
        secret(
            place.metadata(MLFO_BUS, "mlfo"),
            {"ca.pem": material.bus.ca, SEED: material.bus.seeds["mlfo"]},
        ),
    ]


def agent_objects(place: Place, plan: AgentPlan, material: Material, image: str) -> list[Manifest]:
    """The agent's bus and measurer Secrets and its pod."""
    labels = {POP: plan.name}
    bus = secret(
        place.metadata(f"{plan.pod}-bus", COMPONENT, **labels),
        {"ca.pem": material.bus.ca, SEED: material.bus.seeds[plan.pop]},
    )
    measurer = secret(
        place.metadata(f"{plan.pod}-measurer", COMPONENT, **labels),
        {MEASURER_KEY: material.measurers[plan.pop].private_pem},
    )
    return [bus, measurer, _pod(place, plan, image)]


def _pod(place: Place, plan: AgentPlan, image: str) -> Manifest:
    launch = plan.launch()
    trusted = launch.enrolment is not None
    volumes = [
        config_volume("scenario", SCENARIO_CONFIG),
        secret_volume("bus", f"{plan.pod}-bus"),
        secret_volume("measurer-key", f"{plan.pod}-measurer"),
        memory_volume("credentials"),
        memory_volume("measurer-socket"),
        memory_volume("tmp", "64Mi"),
    ]
    agent_mounts = [
        mount("scenario", SCENARIO_DIR),
        mount("bus", BUS_DIR),
        mount("credentials", RUN_DIR, read_only=False),
        mount("tmp", "/tmp", read_only=False),
    ]
    copies = [(f"{BUS_DIR}/{SEED}", f"{RUN_DIR}/{SEED}")]
    copy_mounts = [mount("bus", BUS_DIR), mount("credentials", RUN_DIR, read_only=False)]
    if trusted:
        volumes.append(secret_volume("enrolment", f"{plan.pod}-enrolment"))
        copies.append((f"{ENROLMENT_DIR}/{CREDENTIAL}", f"{RUN_DIR}/{CREDENTIAL}"))
        copy_mounts.append(mount("enrolment", ENROLMENT_DIR))
    if launch.ledger_ca is not None:
        volumes.append(secret_volume("ledger-ca", CA_SECRET))
        agent_mounts.append(mount("ledger-ca", LEDGER_DIR))
    if launch.ledger_token_file is not None:
        volumes.append(secret_volume("ledger-token", TOKEN_SECRET))
        copies.append((f"{LEDGER_TOKEN_DIR}/{TOKEN}", str(launch.ledger_token_file)))
        copy_mounts.append(mount("ledger-token", LEDGER_TOKEN_DIR))
    env = [{"name": k, "value": v} for k, v in sorted(launch.env().items())]
    agent: Manifest = {
        "name": "agent",
        "image": image,
        "command": launch.argv(PYTHON),
        "env": [*env, {"name": "HOME", "value": "/tmp"}],
        "resources": plan.resources.to_json(),
        "securityContext": locked_down(),
        "volumeMounts": agent_mounts,
    }
    copy = copier(image, copies, copy_mounts)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": place.metadata(plan.pod, COMPONENT, {POP_ID: plan.pop}, **{POP: plan.name}),
        "spec": pod_spec(
            AGENT_USER,
            files_group=True,
            restartPolicy="Never",
            shareProcessNamespace=True,
            initContainers=[copy, _measurer(plan, image)],
            containers=[agent],
            volumes=volumes,
        ),
    }


def _measurer(plan: AgentPlan, image: str) -> Manifest:
    """The sidecar (module docstring): root, but with only the two capabilities it needs."""
    argv = [
        PYTHON,
        "-m",
        "secmas.trust.measurer_service",
        "--socket",
        f"{MEASURER_DIR}/measurer.sock",
    ]
    argv += ["--key-file", f"{MEASURER_KEY_DIR}/{MEASURER_KEY}", "--name", f"measurer-{plan.name}"]
    argv += ["--package", "secmas"]
    return {
        "name": "measurer",
        "image": image,
        "restartPolicy": "Always",
        "command": argv,
        "resources": resources("50m", "96Mi", "500m", "256Mi"),
        "securityContext": locked_down(
            runAsNonRoot=False,
            runAsUser=0,
            capabilities={"drop": ["ALL"], "add": ["SYS_PTRACE", "DAC_READ_SEARCH"]},
        ),
        "volumeMounts": [
            mount("measurer-key", MEASURER_KEY_DIR),
            mount("measurer-socket", MEASURER_DIR, read_only=False),
        ],
    }
