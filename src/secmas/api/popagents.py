"""How the agents run inside their PoPs on the emulated network (`--dataplane emulated
--processes`): as containers of the agent image where podman is, as processes otherwise
(Containernet-style, as `003_…` ran its VNFs as containers on Mininet hosts).

The choice is the application layer's, since `secmas.deploy` (the image, podman) lies
above the pipeline: `pop_agents` returns the `PopAgents` the emulated run starts its
agents with.

- podman missing, or not root (rootful podman): processes, saying why;
- else the agent image `localhost/secmas-agent:<version>` is built from this checkout, or
  found up to date (`secmas.deploy.image.build_image`: under a second when nothing
  changed, about 40 s after a change to the source tree, 90–110 s from nothing), its
  lines told as the build goes; where it cannot be built here (no checkout: an installed
  secmas) the tagged image is used if there is one. Then SECaaS wraps the image: a
  signed reference of its files (`wrap_image`, about a second), against which the IML
  driver checks the image before the first agent and each running container for the
  attestation chain, and the package as the image holds it for the agents' own
  measurements (`secmas.deploy.imagewrap`). The agents run that image by its id: a
  rebuild meanwhile (someone editing the tree) does not change what they run;
- an image that cannot be had (a build that failed, no mirror for its Debian base):
  processes, saying why, so the run still runs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.api.observer import RunObserver
from secmas.deploy.containers import PodmanAgents
from secmas.deploy.image import (
    AgentImage,
    ImageError,
    ImageInputError,
    agent_tag,
    build_image,
    find_image,
    wrap_image,
)
from secmas.deploy.imagewrap import wrap_in_image
from secmas.deploy.podman import PODMAN_MISSING, PodmanError, available
from secmas.pipeline.emulated_processes import AS_PROCESSES, PopAgents
from secmas.trust.manifest import ReferenceManifest

NOT_ROOT = "agent containers run under root's podman"
BUILD_TIMES = "under a second when up to date, about 40 s after a change to src/, 110 s at most"


def as_processes(why: str) -> PopAgents:
    """Processes in the PoPs' namespaces, saying why not containers."""
    return PopAgents(said=f"{AS_PROCESSES} ({why})")


def pop_agents(observer: RunObserver) -> PopAgents:
    """Containers where podman can run the agent image, else processes (module
    docstring); the observer is told what happens."""
    if not available():
        return as_processes(PODMAN_MISSING)
    if os.geteuid() != 0:
        return as_processes(NOT_ROOT)
    observer.note(f"agents as containers: the agent image {agent_tag()} first ({BUILD_TIMES})")
    try:
        image = agent_image(observer)
        key = Ed25519PrivateKey.generate()  # SECaaS's for this run
        reference = wrap_image(image.id, key)
    except (ImageError, PodmanError) as exc:
        return as_processes(f"no agent image: {exc}")
    observer.note(f"SECaaS signed the reference of the image's {len(reference.entries)} files")
    return container_agents(image, reference, key.public_key())


def agent_image(observer: RunObserver) -> AgentImage:
    """The agent image built from this checkout (or found up to date), else the tagged
    one where this secmas cannot build it; ImageError when there is none."""
    try:
        return build_image(progress=observer.note)
    except ImageInputError as exc:
        found = find_image(agent_tag())
        if found is None:
            raise
        observer.note(f"cannot build the agent image here ({exc}): running {found.id[:12]}")
        return found


def container_agents(
    image: AgentImage, reference: ReferenceManifest, trusted: Ed25519PublicKey
) -> PopAgents:
    """Agents as containers of `image`, checked against `reference` signed by `trusted`."""
    return PopAgents(
        driver=functools.partial(_podman_agents, image.id, reference, trusted),
        wrap_image=functools.partial(wrap_in_image, image.id),
        kind="containers",
        said=f"agents as containers (podman, image {image.tag} {image.id[:12]})",
    )


def _podman_agents(
    image: str,
    reference: ReferenceManifest,
    trusted: Ed25519PublicKey,
    netns: Mapping[str, str],
    workdir: Path,
) -> PodmanAgents:
    return PodmanAgents(workdir, image, netns, reference, trusted)
