"""Writing a `Bundle` as YAML files for `kubectl apply -k FOLDER` (or `-f`).

One multi-document file per part (`secmas.deploy.kubernetes.FILES`) and, for a cluster, a
`kustomization.yaml` listing them in order (`podman kube play` reads no kustomization:
`secmas.deploy.kubeplay` plays the files). The folder is created owner-only and
`secrets.yaml`, which holds the private keys and seeds, is written mode 0600 from the
start. Multi-line strings (the NATS configuration, the scenario) are written as literal
blocks, so the files read as the configuration they hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from secmas.deploy.kubernetes import FILES, KUBERNETES, Bundle
from secmas.deploy.objects import Manifest
from secmas.transport.tls import write_secret

KUSTOMIZATION = "kustomization.yaml"
SECRETS = "secrets.yaml"


class _Dumper(yaml.SafeDumper):
    """Literal blocks for multi-line strings; everything else as SafeDumper writes it."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(objects: list[Manifest] | dict[str, Any]) -> str:
    """Objects as YAML documents (one object: one document)."""
    documents = objects if isinstance(objects, list) else [objects]
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def kustomization(files: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    }


def write_bundle(bundle: Bundle, folder: Path) -> list[Path]:
    """Write the files into `folder` (created 0700); a file of an earlier deployment that
    this one does not have (e.g. `ledger.yaml` once the ledger is external) is removed, so
    the folder holds one deployment. Returns the paths written."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for name in FILES:
        path = folder / name
        objects = bundle.files.get(name)
        if not objects:
            path.unlink(missing_ok=True)
            continue
        text = dump(objects)
        if name == SECRETS:
            write_secret(path, text.encode())
        else:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    path = folder / KUSTOMIZATION
    if bundle.target != KUBERNETES:
        path.unlink(missing_ok=True)
        return written
    path.write_text(dump(kustomization([p.name for p in written])), encoding="utf-8")
    return [*written, path]
