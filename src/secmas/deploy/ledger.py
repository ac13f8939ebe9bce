"""Which Ethereum JSON-RPC ledger the agents use, and the development node if it is ours.

A scenario whose ledger is `memory` (the in-process EVM of a local run) gets a
development node in the namespace: `secmas ledger serve` from the same image, an EVM
over HTTP JSON-RPC for trying the pipeline out, never for production. Its MLFO's and
SECaaS's keys and its bearer token are drawn here, for this deployment alone, into the
Secret `ledger-access` that only the node's pod mounts (`ledger serve --access`) and
the MLFO reads; the agents mount the token alone (the Secret `ledger-token`).
Production points `--ledger` at a Besu or Geth endpoint (or the scenario names one);
then no node is written, and `--ledger-ca` gives the CA an `https://` endpoint's
certificate chains to, mounted from a Secret.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from secmas.deploy.naming import DeployInputError
from secmas.deploy.objects import (
    SECRET_MOUNTS,
    Manifest,
    Place,
    copier,
    locked_down,
    memory_volume,
    mount,
    pod_spec,
    resources,
    secret_volume,
)
from secmas.deploy.objects import secret as secret_object
from secmas.deploy.objects import service as service_object
from secmas.ledger.accounts import Account
from secmas.ledger.keyfile import ACCESS_FILES, new_token

COMPONENT = "ledger"
NODE = "ledger"
PORT = 8545
CA_SECRET = "ledger-ca"
ACCESS_SECRET = "ledger-access"
"""The node's MLFO and SECaaS keys and its token (`ACCESS_FILES`): the node's pod and the MLFO."""
TOKEN_SECRET = "ledger-token"
"""The node's bearer token alone, for the agents."""
TOKEN = "token"
ACCESS_MOUNT = f"{SECRET_MOUNTS}/ledger-access"
ACCESS_DIR = "/run/ledger"
"""The node's private copy of `ACCESS_SECRET` (`secmas.deploy.objects.copier`)."""
NODE_USER = 10001


@dataclass(frozen=True)
class LedgerTarget:
    """Where the agents' `--ledger` points; `node`: a development node is deployed."""

    url: str
    node: bool
    ca: bytes | None = field(default=None, repr=False)
    """The PEM CA of an https:// endpoint (`--ledger-ca`)."""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def address(self) -> str | None:
        """The endpoint's IP address when the URL gives one (a NetworkPolicy can name it)."""
        return _address(urlsplit(self.url).hostname or "")


def _address(host: str) -> str | None:
    """`host` as an IP address, or None for a host name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def development(namespace: str) -> LedgerTarget:
    return LedgerTarget(f"http://{NODE}.{namespace}.svc:{PORT}", node=True)


def external(url: str, ca: bytes | None, option: str = "--ledger") -> LedgerTarget:
    """An endpoint given by URL; DeployInputError for a URL the agents could not use or that
    would put credentials into the manifests in clear."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise DeployInputError(f"{option} {url!r}: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise DeployInputError(
            f"{option}: credentials in the URL would be written in clear into the pods' "
            "command lines; use a node that authenticates by network or TLS"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeployInputError(f"{option} {url!r}: give http://HOST:PORT or https://HOST:PORT")
    address = _address(parts.hostname)
    if parts.hostname == "localhost" or (address and ipaddress.ip_address(address).is_loopback):
        raise DeployInputError(f"{option} {url!r}: a pod's loopback address is the pod itself")
    if ca is not None and parts.scheme != "https":
        raise DeployInputError(f"--ledger-ca: only for an https:// ledger, not {url!r}")
    return LedgerTarget(url, node=False, ca=ca)


def ledger_objects(place: Place, target: LedgerTarget, image: str) -> list[Manifest]:
    """The development node (its Secrets, Deployment and Service), or the external node's
    CA Secret."""
    if not target.node:
        if target.ca is None:
            return []
        return [secret_object(place.metadata(CA_SECRET, COMPONENT), {"ca.pem": target.ca})]
    pod: Manifest = {
        "metadata": {"labels": place.labels(COMPONENT)},
        "spec": node_spec(
            node_container(image) | {"readinessProbe": {"tcpSocket": {"port": PORT}}}, image
        ),
    }
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": place.metadata(NODE, COMPONENT),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one chain: never two nodes at once
            "selector": {"matchLabels": place.selector(COMPONENT)},
            "template": pod,
        },
    }
    node_service = service_object(
        place.metadata(NODE, COMPONENT), place.selector(COMPONENT), {"json-rpc": PORT}
    )
    return [*access_secrets(place), deployment, node_service]


def access_secrets(place: Place) -> list[Manifest]:
    """The development node's fresh keys and token (`ACCESS_SECRET`) and the token alone
    (`TOKEN_SECRET`)."""
    keys = [Account.create().key_hex.encode("ascii") for _ in ("mlfo", "secaas")]
    token = new_token().encode("ascii")
    files = dict(zip(ACCESS_FILES, (*keys, token), strict=True))
    return [
        secret_object(place.metadata(ACCESS_SECRET, COMPONENT), files),
        secret_object(place.metadata(TOKEN_SECRET, COMPONENT), {TOKEN: token}),
    ]


def node_container(image: str) -> Manifest:
    """The development node: `secmas ledger serve` on `PORT` with the keys and token of
    `ACCESS_SECRET`."""
    return {
        "name": "ledger",
        "image": image,
        "command": ["python", "-m", "secmas", "ledger", "serve"],
        "args": ["--host", "0.0.0.0", "--port", str(PORT), "--access", ACCESS_DIR],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "json-rpc", "containerPort": PORT, "protocol": "TCP"}],
        "resources": resources("250m", "256Mi", "1", "1Gi"),
        "securityContext": locked_down(),
        "volumeMounts": [
            mount("tmp", "/tmp", read_only=False),
            mount("access-copy", ACCESS_DIR),
        ],
    }


def node_spec(container: Manifest, image: str) -> Manifest:
    """The development node's pod spec: `container` as the node's user, a scratch /tmp,
    and `ACCESS_SECRET` copied for it alone by an init container from `image`."""
    copies = [(f"{ACCESS_MOUNT}/{name}", f"{ACCESS_DIR}/{name}") for name in ACCESS_FILES]
    copy_mounts = [mount("access", ACCESS_MOUNT), mount("access-copy", ACCESS_DIR, read_only=False)]
    return pod_spec(
        NODE_USER,
        files_group=True,
        initContainers=[copier(image, copies, copy_mounts)],
        containers=[container],
        volumes=[
            memory_volume("tmp", "64Mi"),
            secret_volume("access", ACCESS_SECRET),
            memory_volume("access-copy"),
        ],
    )
