"""`secmas wrap` and `secmas verify`: SECaaS measurement for operators.

`wrap` measures an agent (ELF binary, Python package or module), signs the reference
manifest and optionally stores it in the reference repository; with `--release` it wraps
a release of an agent package (a wheel or the package directory) once, into the release
store every run checks the installed package against (`secmas.trust.release`); with
`--plugin` it wraps an installed plug-in distribution, named, into the same store
(`secmas.trust.distribution`). `verify`
checks an artifact against a manifest signed by a key it trusts: `--trusted-key`, or else
this host's SECaaS key (the one `wrap` signs the repository's manifests with); a manifest
that merely carries a valid signature by whatever key it names is refused. Exit codes as
for every `secmas` command: 0 success, 1 a check that failed (mismatch, bad signature), 2
bad input (unreadable or unsupported artifact, manifest or key, no trusted key), with a
one-line message and never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.cli.arguments import JsonOption, check_new_files
from secmas.cli.output import console, errors, fail, json_mode, line, print_json, say, styled

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from secmas.trust.manifest import ReferenceManifest

FAILED_CHECK = 1


def register(app: typer.Typer) -> None:
    """Add `wrap` and `verify` to the `secmas` command."""
    app.command("wrap")(wrap_artifact)
    app.command("verify")(verify_artifact)


ArtifactArgument = Annotated[
    Path,
    typer.Argument(metavar="ARTIFACT", help="ELF binary, Python package directory or .py file"),
]


def wrap_artifact(
    artifact: Annotated[
        Path,
        typer.Argument(
            metavar="ARTIFACT",
            help="ELF binary, Python package directory or .py file; with --plugin, the name"
            " of an installed plug-in distribution",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="manifest file (default <artifact>.manifest.json; with --release, none: "
            "the release store keeps it)",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Ed25519 PEM key (default $SECMAS_HOME/secaas-ed25519.pem, made once)",
        ),
    ] = None,
    image: Annotated[
        str | None, typer.Option(metavar="NAME", help="image name (default: artifact name)")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            metavar="VERSION", help="image version (default: sha256- and the root's start)"
        ),
    ] = None,
    repository: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="SQLite reference repository to store the manifest in"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="write over an existing manifest file and the repository's manifest of this "
            "image version",
        ),
    ] = False,
    release: Annotated[
        bool,
        typer.Option(
            "--release",
            help="wrap a release of an agent package (a wheel or the package directory) once"
            " and keep it in the release store ($SECMAS_RELEASES, default"
            " $SECMAS_HOME/releases.db) that every run checks the installed package against",
        ),
    ] = False,
    plugin: Annotated[
        bool,
        typer.Option(
            "--plugin",
            help="wrap the installed plug-in distribution ARTIFACT names (one providing a"
            " secmas.* entry point), file by file, and keep it in the release store that"
            " every run checks it against",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure an agent, print what was measured and write its signed reference manifest.

    Example: secmas wrap /usr/bin/ls -o ls.manifest.json --repository refs.db
    Example: secmas wrap dist/secmas-0.1.0-py3-none-any.whl --release
    Example: secmas wrap examples-scrub --plugin"""
    from secmas.plugins import PluginError
    from secmas.trust.distribution import (
        PluginTrustError,
        plugin_distribution,
        store_plugin,
        wrap_distribution,
    )
    from secmas.trust.keys import KeyFileError, load_private_key, signing_key
    from secmas.trust.manifest import ManifestError
    from secmas.trust.release import ReleaseError, store_release
    from secmas.trust.repository import ReferenceExists, ReferenceRepository, RepositoryError
    from secmas.trust.sitelist import AllowListError
    from secmas.trust.wrap import ArtifactError, wrap

    if release and plugin:
        raise fail("--release wraps the secmas package, --plugin a plug-in: give one")
    if plugin and (image is not None or version is not None):
        raise fail("--plugin names its reference by the distribution: no --image, --version")
    stored = release or plugin
    target = out if out is not None or stored else Path(f"{artifact.name}.manifest.json")
    check_new_files(force, ("--out", target))
    with json_mode(as_json):
        try:
            secret = load_private_key(key) if key is not None else signing_key()
            if release:
                manifest = _wrap_release(artifact, secret, image, version)
            elif plugin:
                manifest = wrap_distribution(plugin_distribution(str(artifact)), secret)
            else:
                manifest = wrap(artifact, secret, image, version)
            releases = None
            if stored:
                releases = (store_release if release else store_plugin)(manifest, secret)
        except (
            KeyFileError,
            ArtifactError,
            ReleaseError,
            RepositoryError,
            AllowListError,
            PluginError,
            PluginTrustError,
        ) as exc:
            raise fail(str(exc)) from None
        if not as_json:
            _print_measurement(manifest)
        if target is not None:
            try:
                manifest.save(target)
            except ManifestError as exc:
                raise fail(str(exc)) from None
            say(f"wrote {target}")
        if releases is not None:
            what = "release" if release else "plug-in"
            say(
                f"stored the {what} {manifest.image} {manifest.version} and this install's"
                f" platform allow-list in {releases}"
            )
        if repository is not None:
            try:
                with ReferenceRepository(repository) as store:
                    store.put(manifest, replace=force)
            except ReferenceExists as exc:
                raise fail(f"{exc} (--force overwrites it)") from None
            except RepositoryError as exc:
                raise fail(str(exc)) from None
            where = f"{manifest.image} {manifest.version} in {repository}"
            say(f"stored {where}")
        if as_json:
            print_json(
                {
                    **_measurement(manifest),
                    "manifest": target,
                    "repository": repository,
                    "releases": releases,
                }
            )


def _wrap_release(
    artifact: Path, key: Ed25519PrivateKey, image: str | None, version: str | None
) -> ReferenceManifest:
    """A release wrapped once: named as runs look it up (`secmas-agent:PACKAGE`), at the
    wheel's version, or else the installed distribution's of that package."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    from secmas.pipeline.mlfo import AGENT_IMAGE
    from secmas.trust.release import ReleaseError, wheel_version, wrap_release

    if not (artifact.is_dir() or (artifact.is_file() and artifact.suffix == ".whl")):
        raise ReleaseError(f"{artifact}: a release is a wheel file or a package directory")
    package, found = wheel_version(artifact) if artifact.suffix == ".whl" else (artifact.name, "")
    if version is None and not found:
        try:
            found = installed_version(package)
        except PackageNotFoundError:
            raise ReleaseError(
                f"{artifact}: no installed {package} to take the version from; pass --version"
            ) from None
    return wrap_release(artifact, key, image or f"{AGENT_IMAGE}:{package}", version or found)


def _measurement(manifest: ReferenceManifest) -> dict[str, Any]:
    """What `wrap --json` says of the manifest: image, version, kind, root, signer, and the
    hardening of an ELF binary."""
    hardening = manifest.hardening
    return {
        "image": manifest.image,
        "version": manifest.version,
        "kind": manifest.kind,
        "root": manifest.root,
        "parts": len(manifest.entries),
        "public_key": manifest.public_key,
        "hardening": None if hardening is None else dict(hardening.rows()),
    }


def _print_measurement(manifest: ReferenceManifest) -> None:
    from rich.table import Table

    if manifest.hardening is not None:
        table = Table(title=f"hardening of {manifest.image}")
        table.add_column("mitigation")
        table.add_column("state")
        for name, state in manifest.hardening.rows():
            table.add_row(name, state)
        console.print(table)
        parts = f"{len(manifest.entries)} sections"
    elif manifest.kind == "distribution":
        parts = f"{len(manifest.entries)} files"
    else:
        modules = sum(":" not in key for key in manifest.entries)
        parts = f"{modules} modules, {len(manifest.entries) - modules} functions"
    say(f"{manifest.image} {manifest.version}: {parts}, root {manifest.root}")
    say(f"signed by {manifest.public_key}")


def _trusted(spec: str | None) -> Ed25519PublicKey:
    """The signer `verify` requires: the given key, or the host's SECaaS key."""
    from secmas.trust.keys import KeyFileError, default_key_path, load_private_key, load_public_key

    if spec is not None:
        return load_public_key(spec)
    path = default_key_path()
    if not path.exists():
        raise KeyFileError(
            f"no trusted key: pass --trusted-key, or wrap with this host's SECaaS key ({path})"
        )
    return load_private_key(path).public_key()


def verify_artifact(
    artifact: ArtifactArgument,
    manifest: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="signed reference manifest (JSON)")
    ],
    trusted_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="signer to require: 64 hex digits or a PEM file (public or private key; "
            "default: this host's SECaaS key)",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {artifact, manifest, ok, image, version, "
            "parts, root, problems} (exit 1 still when it does not match)",
        ),
    ] = False,
) -> None:
    """Check an artifact against its reference manifest; list every part that differs.

    Example: secmas verify /usr/bin/ls ls.manifest.json"""
    from secmas.trust.keys import KeyFileError
    from secmas.trust.manifest import ManifestError, ReferenceManifest
    from secmas.trust.wrap import ArtifactError, verify

    try:
        reference = ReferenceManifest.load(manifest)
        trusted = _trusted(trusted_key)
        result = verify(artifact, reference, trusted)
    except (ManifestError, KeyFileError, ArtifactError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(
            {
                "artifact": artifact,
                "manifest": manifest,
                "ok": result.ok,
                "image": reference.image,
                "version": reference.version,
                "parts": len(reference.entries),
                "root": reference.root,
                "problems": result.problems(),
            }
        )
        if not result.ok:
            raise fail(f"{artifact} does not match {manifest}", FAILED_CHECK)
        return
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
