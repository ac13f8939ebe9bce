"""A scenario's MAS pipeline as Kubernetes objects (the sources: `002_…` runs the
pipeline on Kubernetes, `001_…` on OpenStack).

`build` turns a validated `Scenario` into plain-dict objects, grouped by the file they
are written to (`secmas.deploy.writing`):

* `namespace.yaml` — the Namespace (default `secmas-<pipeline>`);
* `nats.yaml` — a three-server NATS cluster with TLS and nkeys (`secmas.deploy.nats`);
* `ledger.yaml` — the development JSON-RPC ledger node, unless the agents use an
  external one (`secmas.deploy.ledger`);
* `agents.yaml` — the scenario and the measurers' public keys (ConfigMaps) and one agent
  pod per PoP with its measurer sidecar (`secmas.deploy.agents`);
* `secrets.yaml` — every credential: the bus's server certificate and key, each client's
  nkey seed with the bus CA, each measurer's key, the external ledger's CA;
* `network-policies.yaml` — default deny, then what each component needs
  (`secmas.deploy.policies`).

Secrets are mounted as files (mode 0400), never passed in environment variables or
arguments. The agents' one-time enrolment credentials are the MLFO's to issue when it
runs (step 8), so they are referenced, not written (`secmas.deploy.agents`).

The `podman` target writes the same agents, Secrets and ConfigMaps for `podman kube
play` on this machine, changed where podman differs (`secmas.deploy.playable`): one NATS
Pod instead of the StatefulSet, the ledger as a Pod, and no Namespace, Services or
NetworkPolicies, which podman does not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import secmas
from secmas.deploy import material as issuing
from secmas.deploy import playable
from secmas.deploy.agents import AgentPlan, agent_objects, agent_resources, shared_objects
from secmas.deploy.ledger import LedgerTarget, development, external, ledger_objects
from secmas.deploy.naming import (
    DEFAULT_IMAGE,
    NATS_IMAGE,
    DeployInputError,
    check_label,
    dns_label,
    pop_names,
)
from secmas.deploy.nats import bus_url, certificate_hosts, nats_objects
from secmas.deploy.objects import Manifest, Place
from secmas.deploy.policies import network_policies
from secmas.pipeline.mlfo import pipeline_name
from secmas.scenario.model import Scenario

FILES = (
    "namespace.yaml",
    "secrets.yaml",
    "nats.yaml",
    "ledger.yaml",
    "agents.yaml",
    "network-policies.yaml",
)
"""The files, in the order `kubectl apply` should create their objects."""
KUBERNETES = "kubernetes"
PODMAN = "podman"


@dataclass(frozen=True)
class Options:
    """What the user chose; the images are checked references (`naming.check_image`)."""

    image: str = DEFAULT_IMAGE
    nats_image: str | None = None
    """None: `NATS_IMAGE` on a cluster, this machine's nats-server with podman
    (`secmas.deploy.playable.nats_objects`)."""
    namespace: str | None = None
    """None: `secmas-<pipeline>`."""
    ledger: str | None = None
    """An external JSON-RPC endpoint (none: the scenario's own, or a development node)."""
    ledger_ca: bytes | None = field(default=None, repr=False)
    target: str = KUBERNETES
    """`KUBERNETES` (a cluster) or `PODMAN` (`podman kube play` here, `secmas.deploy.playable`)."""


@dataclass(frozen=True)
class Bundle:
    """The objects of one deployment, by file (`FILES`), and where they go."""

    place: Place
    files: dict[str, list[Manifest]]
    ledger: LedgerTarget | None
    target: str = KUBERNETES

    def objects(self) -> list[Manifest]:
        return [obj for name in FILES for obj in self.files.get(name, [])]


def ledger_target(
    scenario: Scenario, options: Options, namespace: str, source: str = "the scenario"
) -> LedgerTarget | None:
    """The agents' ledger: none without the trust layer; `--ledger`, else the scenario's
    URL, else a development node. DeployInputError for options that would have no effect."""
    security = scenario.security
    if not security.enabled:
        if options.ledger is not None or options.ledger_ca is not None:
            raise DeployInputError(
                "--ledger/--ledger-ca: the scenario's security is off, agents use no ledger"
            )
        return None
    url = options.ledger or (None if security.ledger == "memory" else security.ledger)
    if url is None:
        if options.ledger_ca is not None:
            raise DeployInputError("--ledger-ca: only with an external --ledger https://…")
        if options.target == PODMAN:
            return LedgerTarget(playable.LEDGER_URL, node=True)
        return development(namespace)
    option = "--ledger" if options.ledger is not None else f"{source}: security.ledger"
    return external(url, options.ledger_ca, option)


def build(
    scenario: Scenario, scenario_yaml: str, options: Options, source: str = "the scenario"
) -> Bundle:
    """The objects that run `scenario` on Kubernetes (module docstring); `scenario_yaml`
    is the scenario as the agents load it. DeployInputError names what cannot be
    deployed and where (`source`, the scenario file, for what comes from it): a PoP id,
    scenario id or namespace that is no Kubernetes name, an unusable ledger URL."""
    pipeline = pipeline_name(scenario.id)
    try:
        pipeline_label = dns_label(pipeline, f"id (pipeline {pipeline!r})")
        names = pop_names([p.id for p in scenario.pops])
    except DeployInputError as exc:
        raise DeployInputError(f"{source}: {exc}") from None
    namespace = (
        check_label(options.namespace, "--namespace")
        if options.namespace is not None
        else f"secmas-{pipeline_label}"  # a pipeline name has at most 32 characters
    )
    target = ledger_target(scenario, options, namespace, source)
    place = Place(namespace, pipeline_label, secmas.__version__)
    podman = options.target == PODMAN
    hosts = playable.certificate_hosts() if podman else certificate_hosts(namespace)
    material = issuing.issue(pipeline, list(names), hosts)
    bus = playable.BUS_URL if podman else bus_url(namespace)
    agents: list[Manifest] = shared_objects(place, scenario_yaml, material)
    for pop in scenario.pops:
        plan = AgentPlan(
            pop.id, names[pop.id], pipeline, bus, target, agent_resources(pop, scenario)
        )
        agents += agent_objects(place, plan, material, options.image)
    if podman:
        files = _podman_files(place, material, target, agents, options)
    else:
        files = {
            "namespace.yaml": [_namespace(place)],
            "nats.yaml": nats_objects(place, material.bus, options.nats_image or NATS_IMAGE),
            "ledger.yaml": [] if target is None else ledger_objects(place, target, options.image),
            "agents.yaml": agents,
            "network-policies.yaml": network_policies(place, target),
        }
    secrets = [obj for objs in files.values() for obj in objs if obj["kind"] == "Secret"]
    if podman:
        secrets = [playable.marked(s) for s in secrets]
    files = {name: [o for o in objs if o["kind"] != "Secret"] for name, objs in files.items()}
    files["secrets.yaml"] = secrets
    chosen = {name: files[name] for name in FILES if files.get(name)}
    return Bundle(place, chosen, target, options.target)


def _podman_files(
    place: Place,
    material: issuing.Material,
    target: LedgerTarget | None,
    agents: list[Manifest],
    options: Options,
) -> dict[str, list[Manifest]]:
    """The objects `podman kube play` runs (`secmas.deploy.playable`)."""
    image = options.image
    return {
        "nats.yaml": playable.nats_objects(place, material.bus, options.nats_image, image),
        "ledger.yaml": [] if target is None else playable.ledger_objects(place, target, image),
        "agents.yaml": [playable.playable(o, image) if o["kind"] == "Pod" else o for o in agents],
    }


def _namespace(place: Place) -> Manifest:
    meta = place.metadata(place.namespace, "namespace")
    del meta["namespace"]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
