"""The shared objects an install vouches for: RECORD digests, the standard library's
extension modules, and what the loader maps for them (DT_NEEDED through RUNPATH)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.bindings import _rust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.allowlist import AGENT_VARIABLES
from secmas.trust.elf import linking_of
from secmas.trust.libraries import (
    LibraryIndex,
    is_path_hook,
    is_python_module,
    is_shared_object,
    stdlib_extensions,
)
from secmas.trust.measurer_probe import platform_reference


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("name", "shared"),
    [("libz.so", True), ("libz.so.1.2.13", True), ("_ssl.cpython-311-x86_64-linux-gnu.so", True),
     ("_rust.abi3.so", True), ("Storage.sol", False), ("notes.something", False), (".so", False),
     ("libz.sources", False),
     ("libz.so.bak", False), ("libz.so.", False)],
)  # fmt: skip
def test_shared_objects_are_told_by_name(name: str, shared: bool) -> None:
    assert is_shared_object(name) is shared


def test_a_record_declares_its_shared_objects_and_nothing_beside_them(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    extension = b"\x7fELF extension"
    (package / "_ext.so").write_bytes(extension)
    (package / "__init__.py").write_text("")
    (package / "dropped.so").write_bytes(b"\x7fELF implant")
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    rows = [
        f"pkg/_ext.so,{record_hash(extension)},15",
        f"pkg/__init__.py,{record_hash(b'')},0",
        "pkg/unhashed.so,,",
        "pkg/md5.so,md5=abc,3",
        "pkg-1.0.dist-info/RECORD,,",
    ]
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    index = LibraryIndex()
    declared = index.declared([str(tmp_path)])
    digest = hashlib.sha256(extension).hexdigest()
    assert declared == {os.path.realpath(package / "_ext.so"): digest}
    # A RECORD read once is kept while unchanged, read again once it changes.
    (info / "RECORD").write_text(rows[0].replace("_ext.so", "_other.so") + "\n")
    assert index.declared([str(tmp_path)]) == {os.path.realpath(package / "_other.so"): digest}


def test_the_installed_records_match_the_files() -> None:
    declared = LibraryIndex().declared([str(Path(_rust.__file__).parents[3])])
    rust = os.path.realpath(_rust.__file__)
    assert declared[rust] == hashlib.sha256(Path(rust).read_bytes()).hexdigest()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="builds two libraries with gcc")
def test_the_loader_s_libraries_are_found_through_runpath(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "bin").mkdir()
    foo, bar = tmp_path / "lib" / "libfoo.so", tmp_path / "bin" / "libbar.so"
    (tmp_path / "foo.c").write_text("int foo(void) { return 1; }\n")
    bar_c = '#include <stdio.h>\nint foo(void); int bar(void) { return puts("") + foo(); }\n'
    (tmp_path / "bar.c").write_text(bar_c)
    gcc = ["gcc", "-shared", "-fPIC"]
    subprocess.run([*gcc, "-o", str(foo), str(tmp_path / "foo.c")], check=True)
    subprocess.run(
        [*gcc, "-o", str(bar), str(tmp_path / "bar.c"), f"-L{foo.parent}", "-lfoo",
         "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
        check=True,
    )  # fmt: skip
    linking = linking_of(bar)
    assert "libfoo.so" in linking.needed and "libc.so.6" in linking.needed
    assert linking.runpath == ("$ORIGIN/../lib",)
    needed = LibraryIndex().needed([bar.resolve()])
    assert foo.resolve() in needed
    assert any(p.name.startswith("libc.so") for p in needed)
    assert bar.resolve() not in needed


def test_only_the_standard_library_s_extension_modules_are_its_own() -> None:
    extensions = stdlib_extensions()
    assert extensions and all(p.name.split(".")[0] in sys.stdlib_module_names for p in extensions)
    assert any(p.name.startswith("_ssl.") for p in extensions)


def test_the_platform_reference_lists_files_never_directories() -> None:
    reference = platform_reference(Ed25519PrivateKey.generate())
    rust = os.path.realpath(_rust.__file__)
    assert reference.files[rust] == hashlib.sha256(Path(rust).read_bytes()).hexdigest()
    interpreter = Path(sys.executable).resolve()
    assert reference.interpreter == hashlib.sha256(interpreter.read_bytes()).hexdigest()
    libc = next(p for p in reference.files if Path(p).name == "libc.so.6")
    assert reference.files[libc] == hashlib.sha256(Path(libc).read_bytes()).hexdigest()
    assert reference.variables == AGENT_VARIABLES
    assert all(Path(p).is_file() for p in reference.files)


def test_a_record_declares_modules_and_start_up_hooks_when_asked(tmp_path: Path) -> None:
    module, hook = b"def f(): pass\n", b"import os\n"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_bytes(module)
    (tmp_path / "pkg.pth").write_bytes(hook)
    (tmp_path / "dropped.pth").write_bytes(b"import implant\n")
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    rows = [f"pkg/core.py,{record_hash(module)},14", f"pkg.pth,{record_hash(hook)},10"]
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    index = LibraryIndex()
    assert index.declared([str(tmp_path)], is_python_module) == {
        os.path.realpath(tmp_path / "pkg" / "core.py"): hashlib.sha256(module).hexdigest()
    }
    assert index.declared([str(tmp_path)], is_path_hook) == {
        os.path.realpath(tmp_path / "pkg.pth"): hashlib.sha256(hook).hexdigest()
    }
    assert index.declared([str(tmp_path)]) == {}


def test_the_platform_reference_lists_the_declared_start_up_hooks() -> None:
    hooks = platform_reference(Ed25519PrivateKey.generate()).hooks
    assert hooks  # this install's editable `secmas` is a `.pth` its RECORD declares
    assert all(Path(p).suffix == ".pth" for p in hooks)
    assert all(hashlib.sha256(Path(p).read_bytes()).hexdigest() == d for p, d in hooks.items())
