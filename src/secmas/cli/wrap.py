"""`secmas wrap` and `secmas verify`: SECaaS measurement for operators.

`wrap` measures an agent (ELF binary, Python package or module), signs the reference
manifest and optionally stores it in the reference repository; `verify` checks an artifact
against a manifest signed by a key it trusts: `--trusted-key`, or else this host's SECaaS
key (the one `wrap` signs the repository's manifests with); a manifest that merely carries
a valid signature by whatever key it names is refused. Exit codes as for every `secmas`
command: 0 success, 1 a check that failed (mismatch, bad signature), 2 bad input
(unreadable or unsupported artifact, manifest or key, no trusted key), with a one-line
message and never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.table import Table

from secmas.cli.output import console, errors, fail, line, say, styled
from secmas.trust.keys import (
    KeyFileError,
    default_key_path,
    load_private_key,
    load_public_key,
    signing_key,
)
from secmas.trust.manifest import ManifestError, ReferenceManifest
from secmas.trust.repository import ReferenceExists, ReferenceRepository, RepositoryError
from secmas.trust.wrap import ArtifactError, verify, wrap

FAILED_CHECK = 1


def register(app: typer.Typer) -> None:
    """Add `wrap` and `verify` to the `secmas` command."""
    app.command("wrap")(wrap_artifact)
    app.command("verify")(verify_artifact)


def wrap_artifact(
    artifact: Annotated[
        Path, typer.Argument(help="ELF binary, Python package directory or .py file")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="manifest file (default <artifact>.manifest.json)"),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 PEM key (default $SECMAS_HOME/secaas-ed25519.pem, made once)"),
    ] = None,
    image: Annotated[str | None, typer.Option(help="image name (default: artifact name)")] = None,
    version: Annotated[
        str | None, typer.Option(help="image version (default: sha256- and the root's start)")
    ] = None,
    repository: Annotated[
        Path | None, typer.Option(help="SQLite reference repository to store the manifest in")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="replace the repository's manifest of this image version"),
    ] = False,
) -> None:
    """Measure an agent, print what was measured and write its signed reference manifest."""
    try:
        secret = load_private_key(key) if key is not None else signing_key()
        manifest = wrap(artifact, secret, image, version)
    except (KeyFileError, ArtifactError) as exc:
        raise fail(str(exc)) from None
    _print_measurement(manifest)
    target = output or Path(f"{artifact.name}.manifest.json")
    try:
        manifest.save(target)
    except ManifestError as exc:
        raise fail(str(exc)) from None
    say(f"wrote {target}")
    if repository is not None:
        try:
            with ReferenceRepository(repository) as store:
                store.put(manifest, replace=replace)
        except ReferenceExists as exc:
            raise fail(f"{exc} (--replace overwrites it)") from None
        except RepositoryError as exc:
            raise fail(str(exc)) from None
        where = f"{manifest.image} {manifest.version} in {repository}"
        say(f"stored {where}")


def _print_measurement(manifest: ReferenceManifest) -> None:
    if manifest.hardening is not None:
        table = Table(title=f"hardening of {manifest.image}")
        table.add_column("mitigation")
        table.add_column("state")
        for name, state in manifest.hardening.rows():
            table.add_row(name, state)
        console.print(table)
        parts = f"{len(manifest.entries)} sections"
    else:
        modules = sum(":" not in key for key in manifest.entries)
        parts = f"{modules} modules, {len(manifest.entries) - modules} functions"
    say(f"{manifest.image} {manifest.version}: {parts}, root {manifest.root}")
    say(f"signed by {manifest.public_key}")


def _trusted(spec: str | None) -> Ed25519PublicKey:
    """The signer `verify` requires: the given key, or the host's SECaaS key."""
    if spec is not None:
        return load_public_key(spec)
    path = default_key_path()
    if not path.exists():
        raise KeyFileError(
            f"no trusted key: pass --trusted-key, or wrap with this host's SECaaS key ({path})"
        )
    return load_private_key(path).public_key()


def verify_artifact(
    artifact: Annotated[
        Path, typer.Argument(help="ELF binary, Python package directory or .py file")
    ],
    manifest: Annotated[Path, typer.Argument(help="signed reference manifest (JSON)")],
    trusted_key: Annotated[
        str | None,
        typer.Option(
            help="signer to require: PEM file (public or private key) or 64 hex digits"
            " (default: this host's SECaaS key)"
        ),
    ] = None,
) -> None:
    """Check an artifact against its reference manifest; list every part that differs."""
    try:
        reference = ReferenceManifest.load(manifest)
        trusted = _trusted(trusted_key)
        result = verify(artifact, reference, trusted)
    except (ManifestError, KeyFileError, ArtifactError) as exc:
        raise fail(str(exc)) from None
    if not result.ok:
        errors.print(styled(f"{artifact} does not match {manifest}", "red"), soft_wrap=True)
        for problem in result.problems():
            errors.print(f"  {problem}", soft_wrap=True)
        raise typer.Exit(FAILED_CHECK)
    console.print(
        line(
            (f"{artifact} matches {reference.image} {reference.version}", "green"),
            f" ({len(reference.entries)} parts, root {reference.root})",
        ),
        soft_wrap=True,
    )
