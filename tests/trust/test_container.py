"""An image's files as a reference (`secmas.trust.container`), on folders made here: what
a file's digest covers, what the walk never follows or opens, what it leaves out, and the
signature and kind checks. The same walk on real containers: tests/security/
test_container_attacks.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust import container
from secmas.trust.container import (
    ContainerCheck,
    FileHashes,
    check_container,
    entry_digest,
    measure_root,
    mount_points,
    verify_root,
    wrap_root,
)
from secmas.trust.digests import root_digest
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.wrap import Verification
from secmas.trust.wrap import wrap as wrap_artifact


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"\x7fELF genuine")
    (root / "usr" / "bin" / "tool").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc" / "config").write_text("a = 1\n")
    (root / "usr" / "bin" / "alias").symlink_to("tool")
    return root


def test_each_entry_is_named_by_its_path_inside(tree: Path) -> None:
    measured = measure_root(tree)
    assert set(measured) == {
        "/etc", "/etc/config", "/usr", "/usr/bin", "/usr/bin/alias", "/usr/bin/tool",
    }  # fmt: skip
    content = hashlib.sha256(b"\x7fELF genuine").hexdigest()
    tool, alias = os.lstat(tree / "usr/bin/tool"), os.lstat(tree / "usr/bin/alias")
    assert measured["/usr/bin/tool"] == entry_digest("file", tool, content)
    assert measured["/usr/bin/alias"] == entry_digest("link", alias, "tool")


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "usr/bin/tool").write_bytes(b"\x7fELF implant"),
        lambda root: (root / "usr/bin/tool").chmod(0o4755),
        lambda root: (root / "etc").chmod(0o777),
        lambda root: ((root / "usr/bin/alias").unlink(), (root / "usr/bin/alias").symlink_to("/x")),
    ],
    ids=["content", "setuid", "directory mode", "link target"],
)
def test_content_mode_and_targets_are_all_measured(tree: Path, change: object) -> None:
    before = measure_root(tree)
    change(tree)  # type: ignore[operator]
    after = measure_root(tree)
    assert before.keys() == after.keys() and before != after


def test_a_link_is_never_followed_nor_a_fifo_opened(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    (tree / "usr" / "escape").symlink_to(outside)
    os.mkfifo(tree / "etc" / "pipe")  # opened to read, it would block the walk for ever
    measured = measure_root(tree)
    assert "/usr/escape" in measured and "/usr/escape/secret" not in measured
    assert measured["/etc/pipe"] == entry_digest("fifo", os.lstat(tree / "etc/pipe"))


def test_what_lies_beneath_a_skipped_mount_is_left_out(tree: Path) -> None:
    measured = measure_root(tree, skip=["/usr/bin"])
    assert set(measured) == {"/etc", "/etc/config", "/usr"}


def test_a_file_is_hashed_once_per_version(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "RACY_NS", 0)  # the files here were written just now
    hashes = FileHashes()
    first = measure_root(tree, hashes=hashes)
    version, _ = hashes.seen["/etc/config"]
    hashes.seen["/etc/config"] = (version, "0" * 64)
    assert measure_root(tree, hashes=hashes)["/etc/config"] != first["/etc/config"]  # kept
    config = tree / "etc" / "config"
    times = os.stat(config)
    config.write_text("a = 9\n")  # same size, same mtime: the ctime still moves
    os.utime(config, ns=(times.st_atime_ns, times.st_mtime_ns))
    again = measure_root(tree, hashes=hashes)["/etc/config"]
    assert again == measure_root(tree)["/etc/config"] != first["/etc/config"]


def test_the_reference_verifies_its_tree_and_names_what_differs(tree: Path) -> None:
    key = Ed25519PrivateKey.generate()
    manifest = wrap_root(tree, key, "localhost/x", "1")
    assert manifest.kind == "oci" and manifest.root == root_digest(manifest.entries.items())
    assert ReferenceManifest.parse(manifest.model_dump_json()) == manifest
    assert verify_root(tree, manifest, key.public_key()).ok
    (tree / "etc" / "config").write_text("a = 2\n")
    (tree / "etc" / "new").write_text("")
    (tree / "usr" / "bin" / "alias").unlink()
    problems = verify_root(tree, manifest, key.public_key()).problems()
    assert problems == ["changed /etc/config", "missing /usr/bin/alias", "extra /etc/new"]
    skipped = verify_root(tree, manifest, key.public_key(), skip=["/etc", "/usr/bin/alias"])
    assert skipped.ok


def test_a_reference_by_another_key_or_of_another_kind_is_refused(
    tree: Path, tmp_path: Path
) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    manifest = wrap_root(tree, key, "localhost/x", "1")
    assert verify_root(tree, manifest, other.public_key()) == Verification(bad_signature=True)
    module = tmp_path / "agent.py"
    module.write_text("def f():\n    return 1\n")
    python = wrap_artifact(module, key)
    with pytest.raises(ValueError, match="not an OCI image manifest"):
        verify_root(tree, python, key.public_key())
    check = check_container(os.getpid(), manifest, other.public_key())
    assert check == ContainerCheck(Verification(bad_signature=True)) and not check.ok


def test_mount_points_are_read_as_the_process_sees_them() -> None:
    points = mount_points(os.getpid())
    assert "/" in points and "/proc" in points
