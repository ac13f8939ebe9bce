"""`secmas wrap` and `secmas verify`: output, files and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from secmas.cli.wrap import register
from secmas.trust.elf import measure_elf
from secmas.trust.repository import ReferenceRepository

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh SECaaS key in tmp_path, and tmp_path as the working directory."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def ls(ls_copy: Path) -> Path:
    return ls_copy


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "agentpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "act.py").write_text("def act(x):\n    return x + 1\n\n\ndef rest():\n    return 0\n")
    return root


def test_wrap_elf_prints_hardening_and_writes_the_manifest(ls: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["wrap", str(ls), "--repository", "refs.db", "--version", "9.1"])
    assert result.exit_code == 0, result.output
    for row in ("PIE", "NX stack", "RELRO", "stack canary", "FORTIFY", "stripped"):
        assert row in result.output
    manifest = json.loads((tmp_path / "ls.manifest.json").read_text())
    assert manifest["kind"] == "elf" and manifest["version"] == "9.1"
    assert f"root {manifest['root']}" in result.output
    assert "wrote ls.manifest.json" in result.output and "stored ls 9.1 in refs.db" in result.output
    assert (tmp_path / "home" / "secaas-ed25519.pem").exists()
    with ReferenceRepository(tmp_path / "refs.db") as repo:
        assert repo.get("ls", "9.1") is not None
    again = runner.invoke(app, ["wrap", str(ls), "--repository", "refs.db", "--version", "9.1"])
    assert again.exit_code == 2 and "--force" in again.output


def test_verify_elf_match_then_tampered_text(ls: Path) -> None:
    runner.invoke(app, ["wrap", str(ls), "-o", "ref.json"])
    assert runner.invoke(app, ["verify", str(ls), "ref.json"]).exit_code == 0
    data = bytearray(ls.read_bytes())
    data[measure_elf(ls).sections[".text"].offset + 10] ^= 0xFF
    ls.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(ls), "ref.json"])
    assert result.exit_code == 1
    assert "changed .text" in result.output and "Traceback" not in result.output


def test_tampered_signature_and_untrusted_key(ls: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["wrap", str(ls), "-o", "ref.json"])
    manifest = json.loads(Path("ref.json").read_text())
    manifest["signature"] = "0" * 128
    Path("forged.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["verify", str(ls), "forged.json"])
    assert result.exit_code == 1 and "bad signature" in result.output
    other = runner.invoke(app, ["verify", str(ls), "ref.json", "--trusted-key", "ab" * 32])
    assert other.exit_code == 1 and "bad signature" in other.output
    key = str(tmp_path / "home" / "secaas-ed25519.pem")
    own = runner.invoke(app, ["verify", str(ls), "ref.json", "--trusted-key", key])
    assert own.exit_code == 0, own.output


def test_wrap_python_package_and_find_the_changed_function(package: Path) -> None:
    result = runner.invoke(app, ["wrap", str(package), "--image", "agent"])
    assert result.exit_code == 0, result.output
    assert "agent sha256-" in result.output and "2 modules, 2 functions" in result.output
    (package / "act.py").write_text(
        "def act(x):\n    return x + 2\n\n\ndef rest():\n    return 0\n"
    )
    result = runner.invoke(app, ["verify", str(package), "agentpkg.manifest.json"])
    assert result.exit_code == 1
    assert "changed agentpkg.act:act" in result.output
    assert "agentpkg.act:rest" not in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent", "cannot read"),
        (lambda d: _write(d / "garbage.bin", b"\x00\x01garbage"), "neither an ELF file nor Python"),
        (lambda d: _write(d / "empty", b""), "empty file"),
        (lambda d: _mkdir(d / "docs"), "not a Python package"),
    ],
)
def test_unusable_artifacts_exit_2(tmp_path: Path, package: Path, make, message: str) -> None:
    assert runner.invoke(app, ["wrap", str(package), "-o", "ref.json"]).exit_code == 0
    artifact = make(tmp_path)
    for args in (["wrap", str(artifact)], ["verify", str(artifact), "ref.json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"not json", "not JSON"),
        (b'{"format": "secmas.manifest/7"}', "unsupported manifest version"),
        (b'{"format": "secmas.manifest/1", "kind": "elf"}', "field image"),
    ],
)
def test_unreadable_or_malformed_manifests_exit_2(
    ls: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    if content is not None:
        _write(tmp_path / "ref.json", content)
    result = runner.invoke(app, ["verify", str(ls), "ref.json"])
    assert result.exit_code == 2
    assert message in result.output and "ref.json" in result.output
    assert "Traceback" not in result.output


def test_bad_key_exits_2(ls: Path, tmp_path: Path) -> None:
    _write(tmp_path / "key.pem", b"not a key")
    result = runner.invoke(app, ["wrap", str(ls), "--key", "key.pem"])
    assert result.exit_code == 2 and "key.pem" in result.output
    runner.invoke(app, ["wrap", str(ls), "-o", "ref.json"])
    result = runner.invoke(app, ["verify", str(ls), "ref.json", "--trusted-key", "key.pem"])
    assert result.exit_code == 2 and "neither 64 hex digits nor a PEM key" in result.output


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_release_of_a_package_is_stored_for_runs(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from secmas.trust.keys import signing_key
    from secmas.trust.release import installed_release
    from secmas.trust.sitelist import stored_allowlist, this_install

    monkeypatch.delenv("SECMAS_RELEASES")
    result = runner.invoke(app, ["wrap", str(package), "--release", "--version", "2.0"])
    assert result.exit_code == 0, result.output
    store = tmp_path / "home" / "releases.db"
    stored = "stored the release secmas-agent:agentpkg 2.0 and this install's platform"
    assert f"{stored} allow-list in {store}" in " ".join(result.output.split())
    assert not installed_release(package, "secmas-agent:agentpkg", "2.0").first_use
    assert stored_allowlist(store, signing_key().public_key(), this_install()) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--release"], "no installed agentpkg to take the version from; pass --version"),
        (["--release", "--version", "1"], ""),
    ],
)
def test_release_without_a_version_or_of_a_bad_wheel_exits_2(
    package: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    artifact = package if message else _write(tmp_path / "agentpkg.whl", b"PK")
    result = runner.invoke(app, ["wrap", str(artifact), *args])
    assert result.exit_code == 2, result.output
    assert (message or "not a wheel file name") in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_release_of_something_neither_a_wheel_nor_a_package_exits_2(tmp_path: Path) -> None:
    for artifact in (tmp_path / "missing", _write(tmp_path / "agent.py", b"x = 1\n")):
        result = runner.invoke(app, ["wrap", str(artifact), "--release", "--version", "1"])
        assert result.exit_code == 2, result.output
        assert f"{artifact}: a release is a wheel file or a package directory" in result.output


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's plug-in distribution installed on the import path."""
    from tests.security.plugin_install import installed_for_a_test

    for installed in installed_for_a_test(tmp_path, monkeypatch):
        yield installed.site


def test_a_plugin_distribution_is_wrapped_into_the_release_store(
    plugin_site: Path, tmp_path: Path
) -> None:
    from secmas.trust.distribution import trusted_plugins

    result = runner.invoke(app, ["wrap", "examples-scrub", "--plugin"])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "secmas-plugin:examples-scrub 0.1: 6 files, root" in printed
    store = tmp_path / "home" / "releases.db"
    assert "stored the plug-in secmas-plugin:examples-scrub 0.1 and this install's" in printed
    assert f"allow-list in {store}" in printed
    (reference,) = trusted_plugins().references
    assert reference.manifest.image == "secmas-plugin:examples-scrub"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--plugin"], "no installed distribution 'nope' provides a secmas plug-in"),
        (["examples-scrub", "--plugin", "--release"], "--release wraps the secmas package"),
        (["examples-scrub", "--plugin", "--version", "2"], "no --image, --version"),
    ],
)
def test_a_plugin_that_cannot_be_wrapped_exits_2(
    plugin_site: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["wrap", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
