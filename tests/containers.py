"""The agent image for the tests that run containers (tests/deploy, tests/pipeline,
tests/security, tests/cli; tests/conftest.py registers this module as a plugin, so any
test may ask for `agent_image` or `image_reference`).

`agent_image` builds `localhost/secmas-agent:<version>` once per test session: the build
takes turns across processes through a lock file and does nothing when the tagged image
has the same inputs (`secmas.deploy.image`), so under pytest-xdist the first worker to
ask builds it (about 40 s once the Debian base is cached, 90 s or more before) and the
other waits for it, then finds it up to date. The image is kept on purpose: the next
session reuses it. Tests run it by its id (`agent_image.id`): the tag moves when a build
from a changed tree (someone editing the checkout meanwhile) replaces it.
`image_reference` is SECaaS's reference of its files, signed with a key of the session.
`Containers` starts containers under a label of its own and removes every one of them on
exit, whatever the test did. `containers_in_pops` runs the agents of an emulated run as
containers of the session's image and keeps the drivers the run makes, for the test to
look into; it removes their containers on exit.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from tests.realtime import one_run_at_a_time

from secmas.deploy.image import AgentImage, build_image, wrap_image
from secmas.deploy.podman import PodmanError, podman
from secmas.trust.manifest import ReferenceManifest

if TYPE_CHECKING:
    from secmas.deploy.containers import PodmanAgents
    from secmas.pipeline.emulated_processes import PopAgents

PODMAN_MISSING = "podman is not installed: ./scripts/setup --test installs it"
MMDEBSTRAP_MISSING = "mmdebstrap is not installed: ./scripts/setup --test installs it"
NOT_ROOT = "agent containers run under rootful podman: the tests need root"
TEST_LABEL = "io.secmas.test"

_made: dict[str, Any] = {}


def container_tools_missing() -> str | None:
    """Why containers cannot run here, or None."""
    if shutil.which("podman") is None:
        return PODMAN_MISSING
    if shutil.which("mmdebstrap") is None:
        return MMDEBSTRAP_MISSING
    if os.geteuid() != 0:
        return NOT_ROOT
    return None


def vnf_tools_missing() -> str | None:
    """Why VNF instances cannot run as containers here (no containers, or no VNF
    registry), or None."""
    reason = container_tools_missing()
    if reason is None and shutil.which("docker-registry") is None:
        return "docker-registry is not installed: ./scripts/setup --test installs it"
    return reason


def shared_image() -> AgentImage:
    """The agent image, built (or found up to date) once per process; skips the test
    where the tools are missing."""
    if "image" not in _made:
        reason = container_tools_missing()
        if reason is not None:
            pytest.skip(reason)
        with one_run_at_a_time():  # the build takes both cores: no real-time run beside it
            _made["image"] = build_image()
    return _made["image"]


@dataclass(frozen=True)
class Reference:
    """SECaaS's signed reference of the agent image, and the key to trust."""

    manifest: ReferenceManifest
    trusted: Ed25519PublicKey


def shared_reference() -> Reference:
    if "reference" not in _made:
        key = Ed25519PrivateKey.generate()
        _made["reference"] = Reference(wrap_image(shared_image().id, key), key.public_key())
    return _made["reference"]


@pytest.fixture(scope="session")
def agent_image() -> AgentImage:
    return shared_image()


@pytest.fixture(scope="session")
def image_reference() -> Reference:
    return shared_reference()


@contextmanager
def containers_in_pops(
    image: AgentImage, reference: Reference
) -> Iterator[tuple[PopAgents, list[PodmanAgents]]]:
    """Agents as containers of `image` checked against `reference` (as
    `secmas.api.popagents` chooses them where podman is), and the list the run's drivers
    go to once made; on exit every container of those drivers is removed (the run removes
    them: this only guards a failed run). Imported here: this plugin loads with every
    test."""
    from secmas.api.popagents import container_agents
    from secmas.deploy.containers import LABEL, PodmanAgents

    chosen = container_agents(image, reference.manifest, reference.trusted)
    assert chosen.driver is not None
    made: list[PodmanAgents] = []

    def driver(netns: Mapping[str, str], workdir: Path) -> PodmanAgents:
        assert chosen.driver is not None
        started = chosen.driver(netns, workdir)
        assert isinstance(started, PodmanAgents)
        made.append(started)
        return started

    try:
        yield replace(chosen, driver=driver), made
    finally:
        for started in made:
            remove_labelled(f"{LABEL}={started.run_id}")


@dataclass
class Containers:
    """Containers a test starts, all removed on exit (`with Containers() as c:`)."""

    label: str = field(default_factory=lambda: f"{TEST_LABEL}={secrets.token_hex(4)}")
    names: list[str] = field(default_factory=list)

    def run(self, name: str, image: str, *command: str, options: tuple[str, ...] = ()) -> int:
        """`podman run --detach` under this test's label; returns the host PID."""
        full = f"secmas-test-{self.label.rpartition('=')[2]}-{name}"
        self.names.append(full)
        podman(
            ["run", "--detach", "--name", full, "--label", self.label, *options, image, *command]
        )
        return int(podman(["inspect", "--format", "{{.State.Pid}}", full]).strip())

    def name(self, short: str) -> str:
        return next(n for n in self.names if n.endswith(f"-{short}"))

    def __enter__(self) -> Containers:
        return self

    def __exit__(self, *_: object) -> None:
        remove_labelled(self.label)


def remove_labelled(label: str) -> None:
    """Remove every container with `label`, and check none is left."""
    names = podman(["ps", "--all", "--quiet", "--filter", f"label={label}"]).split()
    if names:
        podman(["rm", "--force", "--time", "2", *names])
    assert not podman(["ps", "--all", "--quiet", "--filter", f"label={label}"]).split()


def remove_image(tag: str) -> None:
    """Remove an image the test made (tolerating one already gone)."""
    try:
        podman(["rmi", "--force", tag])
    except PodmanError as exc:
        if "image not known" not in exc.reason:
            raise
