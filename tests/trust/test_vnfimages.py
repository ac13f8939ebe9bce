"""The reference check of a VNF image before an update runs it."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.container import wrap_root
from secmas.trust.repository import ReferenceRepository
from secmas.trust.vnfimages import image_refusal


def test_only_an_image_version_SECaaS_signed_a_reference_for_may_run(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "limiter").write_bytes(b"rate limiter 2.0")
    key = Ed25519PrivateKey.generate()
    with ReferenceRepository(":memory:", trusted_keys=[key.public_key()]) as repository:
        repository.put(wrap_root(tmp_path, key, "rate_limiter", "rl-2.0"))
        assert image_refusal(repository, "rate_limiter", "rl-2.0") is None
        assert image_refusal(repository, "rate_limiter", "rl-evil") == (
            "no signed reference for rate_limiter rl-evil in the reference repository"
        )
        assert image_refusal(repository, "classifier", "rl-2.0") is not None
        assert image_refusal(repository, "rate_limiter", "") == "no image named"
