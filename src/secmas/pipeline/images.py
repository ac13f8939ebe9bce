"""What the agents run, as SECaaS wraps it (`001_…` steps 3–4).

SECaaS measures the agent image, signs the reference manifest and stores it in the
reference repository; the MLFO expects every agent placed on the image to measure as the
manifest says. The image is the `secmas` package itself (as released), an agent package
of its own, a native executable, or an OCI image (`secmas.deploy.imagewrap`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import secmas
from secmas.pipeline.mlfo import AGENT_IMAGE
from secmas.trust.attestation import Measurement
from secmas.trust.distribution import PluginTrust, trusted_plugins
from secmas.trust.image import NativeImage, RuntimeImage
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.release import installed_release
from secmas.trust.repository import ReferenceRepository
from secmas.trust.wrap import wrap

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrappedImage:
    """An agent image after SECaaS wrapping: the signed manifest and how to measure it."""

    manifest: ReferenceManifest
    runtime: RuntimeImage | NativeImage
    plugins: PluginTrust = field(default_factory=PluginTrust)
    """The plug-in distributions its agents run beside it, each with its reference."""

    @cached_property
    def reference(self) -> Measurement:
        """What a genuine agent running this image measures (once per image: the manifest
        is immutable, and every agent placed on the image expects the same)."""
        own = self.runtime.reference(self.manifest)
        if not self.plugins.references:
            return own
        return Measurement.of({**dict(own.parts), **self.plugins.parts()})


def wrap_agent_image(
    root: Path, package: str, version: str, key: Ed25519PrivateKey, repository: ReferenceRepository
) -> WrappedImage:
    """Steps 3–4: measure the agent package, sign the reference, store it."""
    manifest = wrap(root, key, image=f"{AGENT_IMAGE}:{package}", version=version)
    repository.put(manifest, replace=True)
    return WrappedImage(manifest, RuntimeImage.of(manifest, root))


def wrap_native_image(
    path: Path,
    key: Ed25519PrivateKey,
    repository: ReferenceRepository,
    pid: int | None = None,
) -> WrappedImage:
    """Steps 3–4 for a native agent: its ELF file measured and signed; at runtime its
    mapped code is read from process `pid` (default this one)."""
    manifest = wrap(path, key, image=f"{AGENT_IMAGE}:{path.name}")
    repository.put(manifest, replace=True)
    return WrappedImage(manifest, NativeImage(path, pid))


def secmas_image(_run_key: Ed25519PrivateKey, repository: ReferenceRepository) -> WrappedImage:
    """The image every in-process agent runs: the `secmas` package itself, as SECaaS
    released it, with the installed plug-in distributions. Its reference is the signed
    release reference, made once (not by this run's key, `secmas.trust.release`), and each
    plug-in's signed reference (`secmas.trust.distribution`); an installed package or
    plug-in that differs, or a plug-in never signed, fails the step."""
    root = Path(secmas.__file__).parent
    release = installed_release(root, f"{AGENT_IMAGE}:secmas", secmas.__version__)
    if release.first_use:
        logger.warning("release reference of secmas %s made on first use", secmas.__version__)
    plugins = trusted_plugins()
    if (notice := plugins.notice()) is not None:
        logger.warning(notice)
    repository.put(release.manifest, replace=True)
    runtime = RuntimeImage.of(release.manifest, root, plugins.distributions)
    return WrappedImage(release.manifest, runtime, plugins)
