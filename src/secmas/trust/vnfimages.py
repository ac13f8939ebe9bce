"""The reference check of a VNF image before an update runs it (003_… §7.2).

A rolling update starts a copy of a VNF with a new image; the copy takes the old one's
place only once re-attested. What is attested is that SECaaS signed a reference for that
image version (an OCI manifest of the image's files, `secmas.trust.container`) and that
the reference repository still holds it under a trusted signature: an image nobody
wrapped, or a row edited in the repository, is refused.
"""

from __future__ import annotations

from secmas.trust.repository import ReferenceRepository, RepositoryError


def image_refusal(repository: ReferenceRepository, vnf: str, image: str) -> str | None:
    """Why version `image` of `vnf`'s image may not run, or None when SECaaS signed it."""
    if not image:
        return "no image named"
    try:
        manifest = repository.get(vnf, image)
    except RepositoryError as exc:
        return f"the reference of {vnf} {image} is refused: {exc}"
    if manifest is None:
        return f"no signed reference for {vnf} {image} in the reference repository"
    return None
