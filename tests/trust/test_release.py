"""The release reference (`secmas.trust.release`): made once, signed, found again, and the
installed package checked against it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.keys import signing_key
from secmas.trust.release import (
    ReleaseError,
    installed_release,
    releases_path,
    store_release,
    wheel_version,
    wrap_release,
)
from secmas.trust.repository import RepositoryError
from secmas.trust.wrap import wrap

IMAGE = "secmas-agent:agentpkg"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small installed package, with a SECaaS home and release store of the test's."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    root = tmp_path / "site" / "agentpkg"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "act.py").write_text("def act(x):\n    return x + 1\n")
    return root


def wheel_of(root: Path, wheel: Path, *extra: tuple[str, str]) -> Path:
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in sorted(root.rglob("*.py")):
            archive.write(path, f"{root.name}/{path.relative_to(root)}")
        for name, text in extra:
            archive.writestr(name, text)
    return wheel


def test_made_on_first_use_then_found_and_kept(package: Path) -> None:
    first = installed_release(package, IMAGE, "1.0")
    again = installed_release(package, IMAGE, "1.0")
    assert first.first_use and not again.first_use
    assert again.manifest == first.manifest
    assert first.manifest.public_key == signing_key().public_key().public_bytes_raw().hex()


def test_a_changed_module_is_named_with_the_store(package: Path) -> None:
    installed_release(package, IMAGE, "1.0")
    (package / "act.py").write_text("def act(x):\n    return x\n")
    with pytest.raises(ReleaseError, match=r"changed agentpkg\.act") as flagged:
        installed_release(package, IMAGE, "1.0")
    assert str(releases_path()) in str(flagged.value) and "--release" in str(flagged.value)


def test_a_reference_signed_by_another_key_is_refused(package: Path) -> None:
    other = Ed25519PrivateKey.generate()
    planted = wrap(package, other, image=IMAGE, version="1.0")
    store_release(planted, other)
    with pytest.raises(RepositoryError, match="untrusted key"):
        installed_release(package, IMAGE, "1.0")


def test_a_wheel_wraps_as_its_package(package: Path, tmp_path: Path) -> None:
    wheel = wheel_of(package, tmp_path / "agentpkg-1.0-py3-none-any.whl", ("../up.py", "x = 1\n"))
    key = signing_key()
    assert wheel_version(wheel) == ("agentpkg", "1.0")
    released = wrap_release(wheel, key, IMAGE, "1.0")
    assert released.root == wrap(package, key).root
    assert not (tmp_path / "up.py").exists()
    store_release(released, key)
    assert not installed_release(package, IMAGE, "1.0").first_use


@pytest.mark.parametrize(
    "name", ["agentpkg.zip", "agentpkg-1.0.whl", "agentpkg--py3-none-any.whl", "a-1-2-3-4-5-6.whl"]
)
def test_not_a_wheel_name(name: str) -> None:
    with pytest.raises(ReleaseError, match="not a wheel file name"):
        wheel_version(Path(name))


def test_a_wheel_without_the_package_or_not_a_zip(package: Path, tmp_path: Path) -> None:
    empty = wheel_of(package.parent / "none", tmp_path / "agentpkg-1.0-py3-none-any.whl")
    with pytest.raises(ReleaseError, match="holds no agentpkg/ package"):
        wrap_release(empty, signing_key(), IMAGE, "1.0")
    empty.write_bytes(b"not a zip")
    with pytest.raises(ReleaseError, match="cannot unpack the wheel"):
        wrap_release(empty, signing_key(), IMAGE, "1.0")
