"""`secmas image build` and `secmas image verify`: the agents' OCI image.

`build` makes `localhost/secmas-agent:<version>` on this machine without a registry (a
Debian base from mmdebstrap, the project's wheels; `secmas.deploy.image`) and has SECaaS
wrap it: the signed reference manifest of the image's files goes to `--out`. `verify`
checks the image, or a running container of it, against such a manifest. Exit codes as
for every `secmas` command: 0 success, 1 a build that failed or a check that did not
pass, 2 bad input (no source tree, a missing tool, an unreadable manifest or key), with
one line naming it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.cli.arguments import QuietOption, check_folder, parse_out
from secmas.cli.grammar import Typer
from secmas.cli.output import (
    FAILED_RUN,
    console,
    errors,
    fail,
    json_mode,
    line,
    print_json,
    say,
    set_quiet,
    styled,
)

if TYPE_CHECKING:
    from secmas.trust.manifest import ReferenceManifest

SETUP = "./scripts/setup --containers installs it"
PODMAN_MISSING = f"podman is not installed: {SETUP}"
NOT_ROOT = "the agent image is built and run by root's podman (rootful): run this as root"
SHOWN = 20
"""Problems listed before `… more`."""

image_app = Typer(help="The agents' OCI image: build it here (no registry) and check it.")


def register(app: typer.Typer) -> None:
    """Add `image build` and `image verify` to the `secmas` command."""
    app.add_typer(image_app, name="image")


def _check_machine() -> None:
    if shutil.which("podman") is None:
        raise fail(PODMAN_MISSING)
    if os.geteuid() != 0:
        raise fail(NOT_ROOT)


@image_app.command("build")
def build(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            metavar="DIR",
            help="secmas checkout to build from (default: the one this secmas runs from)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            parser=parse_out,
            metavar="FILE",
            help="signed reference manifest of the image's files "
            "(default $SECMAS_HOME/images/secmas-agent-<version>.manifest.json)",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="SECaaS Ed25519 PEM key (default $SECMAS_HOME/secaas-ed25519.pem, made once)",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="build again even when the image's inputs are unchanged"),
    ] = False,
    quiet: QuietOption = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {tag, id, layers, inputs, built, seconds, "
            "manifest, files, root}",
        ),
    ] = False,
) -> None:
    """Build the agents' image localhost/secmas-agent:<version> with podman, without a
    registry: a Debian bookworm base made by mmdebstrap and a layer with secmas's core
    package and its dependencies, installed from wheels built here. Reproducible: the
    same inputs give the same layer digests; an image whose inputs are unchanged is kept.
    Then SECaaS wraps it: the signed reference of its files goes to --out. Needs root,
    podman and mmdebstrap (./scripts/setup --containers).

    Example: secmas image build -o agent.manifest.json"""
    check_folder(source, "--source")
    _check_machine()
    set_quiet(quiet or as_json)
    from secmas.deploy.image import ImageError, ImageInputError, build_image, wrap_image
    from secmas.trust.keys import KeyFileError, load_private_key, secmas_home, signing_key
    from secmas.trust.manifest import ManifestError

    with json_mode(as_json):
        try:
            secret = load_private_key(key) if key is not None else signing_key()
            image = build_image(source, rebuild=force, progress=say)
            manifest = wrap_image(image.tag, secret)
        except (ImageInputError, KeyFileError) as exc:
            raise fail(str(exc)) from None
        except ImageError as exc:
            raise fail(str(exc), FAILED_RUN) from None
        version = image.tag.rpartition(":")[2]
        target = out or secmas_home() / "images" / f"secmas-agent-{version}.manifest.json"
        try:
            manifest.save(target)
        except ManifestError as exc:
            raise fail(str(exc)) from None
        if as_json:
            document = image.to_json()
            print_json({**document, **_reference(manifest), "manifest": target})
            return
        console.print(line((f"{image.tag}", "green"), f" {image.id[:12]}"), soft_wrap=True)
        for digest in image.layers:
            say(f"  layer {digest}")
        say(f"  inputs {image.inputs}")
        say(f"reference of {len(manifest.entries)} files, root {manifest.root}: {target}")


def _reference(manifest: ReferenceManifest) -> dict[str, Any]:
    return {"files": len(manifest.entries), "root": manifest.root}


@image_app.command("verify")
def verify(
    manifest: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="signed reference manifest of the image")
    ],
    container: Annotated[
        str | None,
        typer.Option(
            "--container",
            metavar="NAME",
            help="check this running container (its root, mounts and mapped files) instead",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", metavar="IMAGE", help="image to check (default: the agents')"),
    ] = None,
    trusted_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="signer to require: 64 hex digits or a PEM file (default: this host's SECaaS key)",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {checked, manifest, ok, image, version, "
            "files, problems} (exit 1 still when it does not match)",
        ),
    ] = False,
) -> None:
    """Check the agents' image, or a running container of it, against a signed reference
    manifest from `secmas image build`; list what differs (files changed, missing or
    extra, mounts over image files, mapped files not the image's).

    Example: secmas image verify agent.manifest.json --container secmas-1a2b3c4d-pop1"""
    _check_machine()
    from secmas.cli.wrap import _trusted
    from secmas.deploy.image import ImageError, agent_tag, verify_image
    from secmas.deploy.podman import PodmanError, podman
    from secmas.trust.container import ContainerError, check_container
    from secmas.trust.keys import KeyFileError
    from secmas.trust.manifest import ManifestError, ReferenceManifest

    checked = container or image or agent_tag()
    with json_mode(as_json):
        try:
            reference = ReferenceManifest.load(manifest)
            trusted = _trusted(trusted_key)
            if reference.kind != "oci":
                raise fail(f"{manifest}: not an image manifest (kind {reference.kind})")
            if container is None:
                problems = verify_image(checked, reference, trusted).problems()
            else:
                pid = int(podman(["inspect", "--format", "{{.State.Pid}}", container]).strip())
                if pid == 0:
                    raise fail(f"container {container} is not running")
                problems = check_container(pid, reference, trusted).problems()
        except (ManifestError, KeyFileError, ImageError, PodmanError, ContainerError) as exc:
            raise fail(str(exc)) from None
        if as_json:
            print_json(
                {
                    "checked": checked,
                    "manifest": manifest,
                    "ok": not problems,
                    "image": reference.image,
                    "version": reference.version,
                    "files": len(reference.entries),
                    "problems": problems,
                }
            )
        elif problems:
            errors.print(styled(f"{checked} does not match {manifest}", "red"), soft_wrap=True)
            for problem in problems[:SHOWN]:
                errors.print(f"  {problem}", soft_wrap=True)
            if len(problems) > SHOWN:
                errors.print(f"  … {len(problems) - SHOWN} more", soft_wrap=True)
        else:
            console.print(
                line((f"{checked} matches {reference.image} {reference.version}", "green")),
                soft_wrap=True,
            )
        if problems:
            raise typer.Exit(FAILED_RUN)
