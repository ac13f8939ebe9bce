"""Deployment descriptors for a scenario's MAS pipeline on a cluster manager.

`secmas.deploy.kubernetes` builds, as plain data, the Kubernetes objects that run the same
pipeline the local IML driver runs (`secmas.pipeline.processes`): a NATS cluster with TLS
and per-agent nkeys, a development ledger node (or an external one), and one `secmas
agent` pod per PoP with the external measurer beside it. Nothing here talks to a cluster:
the objects are written as YAML (`secmas.deploy.writing`) for `kubectl apply -k`.

`secmas.deploy.image` builds the image those pods run, `localhost/secmas-agent:<version>`,
on this machine with podman (`secmas.deploy.podman`, the one way secmas calls it) and no
registry; `secmas.deploy.containers` is the IML driver that runs agents as containers of
it, each in a given network namespace with its measurer beside it (the emulated PoPs).
"""
