"""NetworkPolicies: nothing talks unless allowed, and agents reach only the bus and ledger.

* `default-deny`: every pod of the namespace, ingress and egress.
* agents: egress to the NATS client port, to the ledger (the development node's pods, or
  the external endpoint: its address when the URL gives one, else any address on its
  port, since a NetworkPolicy cannot name a host) and to the cluster DNS; no ingress.
* the MLFO (any pod of the namespace labelled `app.kubernetes.io/component: mlfo`; these
  manifests run none): the agents' egress, so it can drive the pipeline;
* NATS: ingress on the client port from the agents and the MLFO, on the cluster port
  from its peers; egress to its peers' cluster port and DNS (routes are DNS names).
* the development ledger: ingress on its port from the agents and the MLFO.

Kubelet probes come from the node and are not subject to these policies on common CNIs.
"""

from __future__ import annotations

from secmas.deploy import agents, ledger, nats
from secmas.deploy.ledger import LedgerTarget
from secmas.deploy.objects import Manifest, Place

MLFO = "mlfo"
DNS_PORT = 53
DNS_PEERS: list[Manifest] = [
    {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
]


def _policy(place: Place, name: str, component: str | None, spec: Manifest) -> Manifest:
    selector = {} if component is None else {"matchLabels": place.selector(component)}
    types = [t for t in ("Ingress", "Egress") if t.lower() in spec]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": place.metadata(name, component or "network"),
        "spec": {"podSelector": selector, "policyTypes": types, **spec},
    }


def _pods(place: Place, *components: str) -> list[Manifest]:
    return [{"podSelector": {"matchLabels": place.selector(c)}} for c in components]


def _tcp(port: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port}]


def dns_rule() -> Manifest:
    """Egress to the cluster DNS (kube-dns / CoreDNS in kube-system), UDP and TCP."""
    ports = [{"protocol": p, "port": DNS_PORT} for p in ("UDP", "TCP")]
    return {"to": DNS_PEERS, "ports": ports}


def ledger_rule(place: Place, target: LedgerTarget) -> Manifest:
    """Egress from the agents to the ledger they use (module docstring)."""
    if target.node:
        return {"to": _pods(place, ledger.COMPONENT), "ports": _tcp(target.port)}
    if target.address is not None:
        prefix = 32 if ":" not in target.address else 128
        return {
            "to": [{"ipBlock": {"cidr": f"{target.address}/{prefix}"}}],
            "ports": _tcp(target.port),
        }
    return {"ports": _tcp(target.port)}


def network_policies(place: Place, target: LedgerTarget | None) -> list[Manifest]:
    """The policies of the module docstring; `target` None: the agents use no ledger."""
    egress = [{"to": _pods(place, nats.COMPONENT), "ports": _tcp(nats.CLIENT_PORT)}]
    if target is not None:
        egress.append(ledger_rule(place, target))
    egress.append(dns_rule())
    policies = [
        _policy(place, "default-deny", None, {"ingress": [], "egress": []}),
        _policy(place, "agent", agents.COMPONENT, {"ingress": [], "egress": egress}),
        _policy(place, MLFO, MLFO, {"egress": egress}),
        _policy(
            place,
            "nats",
            nats.COMPONENT,
            {
                "ingress": [
                    {"from": _pods(place, agents.COMPONENT, MLFO), "ports": _tcp(nats.CLIENT_PORT)},
                    {"from": _pods(place, nats.COMPONENT), "ports": _tcp(nats.CLUSTER_PORT)},
                ],
                "egress": [
                    {"to": _pods(place, nats.COMPONENT), "ports": _tcp(nats.CLUSTER_PORT)},
                    dns_rule(),
                ],
            },
        ),
    ]
    if target is not None and target.node:
        ingress = [{"from": _pods(place, agents.COMPONENT, MLFO), "ports": _tcp(ledger.PORT)}]
        policies.append(
            _policy(place, "ledger", ledger.COMPONENT, {"ingress": ingress, "egress": []})
        )
    return policies
