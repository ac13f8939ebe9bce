"""Wrapping artifacts into signed manifests and verifying artifacts and running agents."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.elf import PF_X, PT_LOAD, measure_elf, read_layout
from secmas.trust.manifest import verify_signature
from secmas.trust.wrap import ArtifactError, artifact_kind, verify, verify_running, wrap


def test_kinds_and_unusable_artifacts(tmp_path: Path, ls_copy: Path, agent_package) -> None:
    assert artifact_kind(ls_copy) == "elf"
    assert artifact_kind(agent_package.path) == "python"
    assert artifact_kind(agent_package.path / "core.py") == "python"
    empty, text, bare = tmp_path / "empty.py", tmp_path / "notes.txt", tmp_path / "bare"
    empty.write_bytes(b"")
    text.write_text("hello")
    bare.mkdir()
    (bare / "x.py").write_text("x = 1\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = [
        (tmp_path / "absent", "cannot read"),
        (empty, "empty file"),
        (text, "neither an ELF file nor Python"),
        (bare, "without __init__.py"),
        (fifo, "not a regular file"),
    ]
    for path, reason in cases:
        with pytest.raises(ArtifactError, match=reason) as error:
            artifact_kind(path)
        assert str(path) in str(error.value)


def test_elf_wrap_and_verify(ls_copy: Path, signer: Ed25519PrivateKey) -> None:
    manifest = wrap(ls_copy, signer)
    assert manifest.kind == "elf" and manifest.image == "ls"
    assert manifest.version == f"sha256-{manifest.root[:12]}"
    assert manifest.hardening is not None and ".text" in manifest.entries
    assert verify_signature(manifest, signer.public_key())
    result = verify(ls_copy, manifest, signer.public_key())
    assert result.ok and result.problems() == []


def test_tampered_text_is_listed(
    ls_copy: Path, signer: Ed25519PrivateKey, flip: Callable[[Path, int], None]
) -> None:
    manifest = wrap(ls_copy, signer, image="ls", version="9.1")
    flip(ls_copy, measure_elf(ls_copy).sections[".text"].offset + 64)
    result = verify(ls_copy, manifest, signer.public_key())
    code = next(s for s in read_layout(ls_copy).segments if s.type == PT_LOAD and s.flags & PF_X)
    assert not result.ok and result.changed == (".text", f"elf:load@{code.index}")
    assert result.problems() == ["changed .text", f"changed elf:load@{code.index}"]


def test_bad_signature_and_untrusted_signer(ls_copy: Path, signer: Ed25519PrivateKey) -> None:
    manifest = wrap(ls_copy, signer)
    forged = manifest.model_copy(update={"entries": {**manifest.entries, ".text": "0" * 64}})
    assert verify(ls_copy, forged, signer.public_key()).problems() == ["bad signature"]
    stranger = Ed25519PrivateKey.generate().public_key()
    assert verify(ls_copy, manifest, stranger).bad_signature


def test_kind_mismatch(ls_copy: Path, agent_package, signer: Ed25519PrivateKey) -> None:
    manifest = wrap(ls_copy, signer)
    assert verify(agent_package.path, manifest, signer.public_key()).problems() == [
        "kind mismatch: the artifact is python"
    ]


def test_malformed_elf_is_an_artifact_error(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    broken = tmp_path / "broken"
    broken.write_bytes(b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 20)
    with pytest.raises(ArtifactError, match="truncated ELF header"):
        wrap(broken, signer)


def test_python_wrap_lists_the_changed_function(agent_package, signer: Ed25519PrivateKey) -> None:
    manifest = wrap(agent_package.path, signer)
    assert manifest.kind == "python" and manifest.hardening is None
    assert verify(agent_package.path, manifest, signer.public_key()).ok
    core = agent_package.path / "core.py"
    core.write_text(core.read_text().replace("return x * 2", "return x * 20"))
    name = agent_package.name
    assert verify(agent_package.path, manifest, signer.public_key()).changed == (
        f"{name}.core",
        f"{name}.core:f",
    )


def test_single_module_and_syntax_errors(tmp_path: Path, signer: Ed25519PrivateKey) -> None:
    module = tmp_path / "tool.py"
    module.write_text("def helper():\n    return 1\n")
    manifest = wrap(module, signer)
    assert set(manifest.entries) == {"tool", "tool:helper"}
    assert verify(module, manifest, signer.public_key()).ok
    module.write_text("def helper(:\n")
    with pytest.raises(ArtifactError, match=r"tool\.py:1: not valid Python"):
        verify(module, manifest, signer.public_key())


def test_running_agent_verifies_itself(agent_package, signer: Ed25519PrivateKey) -> None:
    manifest = wrap(agent_package.path, signer, image="agent", version="1.0")
    core = agent_package.load()[f"{agent_package.name}.core"]
    assert verify_running(manifest, signer.public_key()).ok
    core.f.__code__ = core.g.__code__
    assert verify_running(manifest, signer.public_key()).problems() == [
        f"changed {agent_package.name}.core:f"
    ]
