"""`secmas deploy kubernetes`: the Kubernetes manifests of a scenario's MAS pipeline.

Nothing is applied: the command writes YAML for `kubectl apply -k FOLDER`, or with
`--podman` for `podman kube play` on this machine, which `secmas run SCENARIO --processes
--pods FOLDER` brings up, runs and takes down (`secmas.deploy.playable`). Exit codes as
for every `secmas` command: 0 written, 2 bad input (a scenario file that is missing or
invalid, an image that is no image reference, a PoP id that cannot become a Kubernetes
name, an --out folder that holds files without --force), with one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from secmas.cli.arguments import ForceOption, JsonOption, check_out, check_readable, parse_out
from secmas.cli.bus import check_ca
from secmas.cli.grammar import Typer
from secmas.cli.output import BAD_INPUT, error, fail, json_mode, print_json, say, warn
from secmas.deploy.naming import (
    DEFAULT_IMAGE,
    NATS_IMAGE,
    PODMAN_IMAGE,
    DeployInputError,
    check_image,
)

deploy_app = Typer(help="Deployment descriptors of a scenario's MAS pipeline.")


def register(app: typer.Typer) -> None:
    """Add `deploy kubernetes` to the `secmas` command."""
    app.add_typer(deploy_app, name="deploy")


@deploy_app.command("kubernetes")
def kubernetes(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            parser=parse_out,
            metavar="DIR",
            help="folder for the manifests (created owner-only); one that holds files needs "
            "--force",
        ),
    ],
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="IMAGE",
            help="container image of the agents, their measurers and the development ledger: "
            "secmas installed, `python` on PATH, coreutils (`install`, and `base64` with "
            f"--podman); default {DEFAULT_IMAGE}, with --podman {PODMAN_IMAGE} "
            "(`secmas image build`)",
        ),
    ] = None,
    nats_image: Annotated[
        str | None,
        typer.Option(
            "--nats-image",
            metavar="IMAGE",
            help=f"container image of the NATS servers (default {NATS_IMAGE}; with --podman "
            "this machine's nats-server, mounted into the agents' image)",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", metavar="NAME", help="namespace (default secmas-<pipeline>)"),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            metavar="URL",
            help="an Ethereum JSON-RPC endpoint (Besu, Geth) for the agents; no development "
            "ledger node is written (default: the scenario's URL, else a development node)",
        ),
    ] = None,
    ledger_ca: Annotated[
        Path | None,
        typer.Option(
            "--ledger-ca",
            metavar="FILE",
            help="with an https:// --ledger: the CA (PEM) it chains to",
        ),
    ] = None,
    podman: Annotated[
        bool,
        typer.Option(
            "--podman",
            help="for `podman kube play` on this machine instead of a cluster: NATS and the "
            "development ledger as Pods on 127.0.0.1, the measurer an ordinary container, "
            "no Namespace, Services or NetworkPolicies; run with `secmas run SCENARIO "
            "--processes --pods DIR`",
        ),
    ] = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the Kubernetes manifests of SCENARIO's MAS pipeline: a namespace, a
    three-server NATS cluster with TLS and an nkey per agent, a development JSON-RPC
    ledger (unless --ledger), one agent pod per PoP running `secmas agent` with the
    external measurer as a sidecar, the credentials as Secrets mounted as files, and
    NetworkPolicies (default deny; agents reach only NATS, the ledger and DNS).
    Apply with `kubectl apply -k DIR`; each agent waits for its one-time enrolment
    Secret `agent-<pop>-enrolment`, which the pipeline's MLFO issues. With --podman,
    the same pods, Secrets and ConfigMaps for `podman kube play` on this machine.

    Example: secmas deploy kubernetes scenarios/ddos-6pop.yaml -o k8s"""
    try:
        images = (
            check_image(PODMAN_IMAGE if podman else DEFAULT_IMAGE)
            if image is None  # "" is no image, said as such, not the default
            else check_image(image),
            None if nats_image is None else check_image(nats_image, "--nats-image"),
        )
    except DeployInputError as exc:
        raise fail(str(exc)) from None
    check_ca(ledger_ca, "--ledger-ca")
    check_out(out, force)
    check_readable(scenario)
    with json_mode(as_json):
        _write_manifests(scenario, out, images, namespace, ledger, ledger_ca, podman, as_json)


def _write_manifests(
    scenario: Path,
    out: Path,
    images: tuple[str, str | None],
    namespace: str | None,
    ledger: str | None,
    ledger_ca: Path | None,
    podman: bool,
    as_json: bool,
) -> None:
    from secmas.deploy.kubernetes import KUBERNETES, PODMAN, Options, build
    from secmas.deploy.writing import write_bundle
    from secmas.scenario.loader import ScenarioError
    from secmas.scenario.topology import dump_scenario
    from secmas.scenario.validation import load_runnable

    try:
        loaded = load_runnable(scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            error(str(problem))
        raise typer.Exit(BAD_INPUT) from None
    ca = None if ledger_ca is None else ledger_ca.read_bytes()
    target = PODMAN if podman else KUBERNETES
    options = Options(images[0], images[1], namespace, ledger, ca, target)
    try:
        bundle = build(loaded, dump_scenario(loaded), options, str(scenario))
        written = write_bundle(bundle, out)
    except DeployInputError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    objects = len(bundle.objects())
    development = bundle.ledger is not None and bundle.ledger.node
    apply = (
        f"secmas run {scenario} --processes --pods {out}" if podman else f"kubectl apply -k {out}"
    )
    if development:
        warn("development ledger node: its accounts' keys are public; use --ledger in production")
    if as_json:
        print_json(
            {
                "folder": out,
                "namespace": bundle.place.namespace,
                "objects": objects,
                "files": written,
                "development_ledger": bool(development),
                "apply": apply,
            }
        )
        return
    say(f"wrote {objects} objects for namespace {bundle.place.namespace} to {out}", "green")
    for path in written:
        say(f"  {path.name}")
    say(f"apply: {apply}")
