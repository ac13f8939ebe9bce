"""A release reference checked by another interpreter build.

The code digests of a Python reference hash the bytecode the wrapping interpreter compiled
(`co_code`): CPython 3.11.2 and 3.11.7 give different roots for the same source. A
reference made by one build and checked by another reported every function as changed (a
false "implant") and said nothing of why; a host could not tell it runs the wrong build.
Now the manifest records the build, signed with the rest, and a check by any other build
is refused with a message naming both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.manifest import InterpreterBuild, ReferenceManifest, sign, verify_signature
from secmas.trust.wrap import verify, verify_running, wrap

OLDER = InterpreterBuild(
    implementation="CPython",
    version="3.11.2",
    build="main, Mar 13 2023 12:18:29",
    compiler="GCC 12.2.0",
    magic="a70d0d0a",
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "agentpkg"
    root.mkdir()
    (root / "__init__.py").write_text("def act(x):\n    return x + 1\n")
    return root


def _made_by(
    manifest: ReferenceManifest, build: InterpreterBuild, key: Ed25519PrivateKey
) -> ReferenceManifest:
    return sign(manifest.model_copy(update={"interpreter": build}), key)


def test_a_reference_records_the_build_that_made_it(package: Path) -> None:
    manifest = wrap(package, Ed25519PrivateKey.generate())
    assert manifest.interpreter == InterpreterBuild.running()


def test_a_reference_made_by_another_build_is_refused_naming_both(package: Path) -> None:
    key = Ed25519PrivateKey.generate()
    older = _made_by(wrap(package, key), OLDER, key)
    problems = verify(package, older, key.public_key()).problems()
    running = InterpreterBuild.running()
    assert len(problems) == 1 and problems[0].startswith("interpreter build mismatch")
    assert str(OLDER) in problems[0] and str(running) in problems[0]


def test_a_running_agent_is_not_checked_by_another_build(package: Path) -> None:
    key = Ed25519PrivateKey.generate()
    older = _made_by(wrap(package, key), OLDER, key)
    assert verify_running(older, key.public_key()).problems()[0].startswith("interpreter build")


def test_the_build_cannot_be_changed_without_breaking_the_signature(package: Path) -> None:
    key = Ed25519PrivateKey.generate()
    manifest = wrap(package, key)
    forged = manifest.model_copy(update={"interpreter": OLDER})
    assert verify_signature(manifest, key.public_key())
    assert not verify_signature(forged, key.public_key())
