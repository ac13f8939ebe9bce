"""SECaaS wraps the agents' image with the image's own interpreter (steps 3-4 for pods):
the manifest its sandboxed run prints is checked before SECaaS signs it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import secmas
from secmas.deploy import imagewrap
from secmas.deploy.image import AgentImage
from secmas.deploy.imagewrap import ImageWrapError, wrap_in_image
from secmas.pipeline.mlfo import AGENT_IMAGE
from secmas.trust.manifest import verify_signature
from secmas.trust.repository import ReferenceRepository


def test_the_images_package_is_wrapped_and_signed_by_secaas(agent_image: AgentImage) -> None:
    key = Ed25519PrivateKey.generate()
    repository = ReferenceRepository(":memory:")
    wrapped = wrap_in_image(agent_image.tag, key, repository)
    manifest = wrapped.manifest
    assert (manifest.kind, manifest.image) == ("python", f"{AGENT_IMAGE}:secmas")
    assert manifest.version == secmas.__version__
    assert verify_signature(manifest, key.public_key())  # re-signed: the run's key is gone
    assert "secmas.pipeline.agent_process" in manifest.entries
    assert wrapped.reference.parts  # what a genuine agent of the image reports


def test_a_manifest_that_does_not_add_up_is_not_signed(
    agent_image: AgentImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = imagewrap.podman(
        ["run", *imagewrap.SANDBOX, agent_image.tag, "sh", "-c", imagewrap.WRAP]
    )
    name = '"secmas.pipeline.agent_process:run_agent": "'
    start = printed.index(name) + len(name)
    forged = printed[:start] + "0" * 64 + printed[start + 64 :]  # one function's digest
    repository = ReferenceRepository(":memory:")
    for answer in (forged, "not a manifest"):
        monkeypatch.setattr(imagewrap, "podman", lambda _args, answer=answer: answer)
        with pytest.raises(ImageWrapError, match=agent_image.tag):
            wrap_in_image(agent_image.tag, Ed25519PrivateKey.generate(), repository)
    assert not repository.list()
