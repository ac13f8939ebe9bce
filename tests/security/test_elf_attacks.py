"""Attacks on a native agent's ELF image after SECaaS wrapped it.

The adversary holds the binary (a copy of /bin/ls, a real PIE) and its signed manifest and
changes what the loader will run: the ELF header, e_entry, the program headers, NX on the
stack, writable data the loader maps (.data, .data.rel.ro, .init_array, .dynamic, .got),
bytes appended to the file, or a section-header redirect that keeps every section's
digest while the code that runs changes. Or he signs his own manifest. Each attempt must
fail `verify` (and `secmas verify`).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from secmas.cli.wrap import register
from secmas.trust.elf import Section, opened
from secmas.trust.keys import save_private_key
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.wrap import ArtifactError, verify, wrap

PT_LOAD = 1
PT_GNU_STACK = 0x6474E551
PF_X, PF_W = 1, 2
E_ENTRY = 24  # ELF64: offset of e_entry
E_PHOFF, E_SHOFF = 32, 40
E_PHENTSIZE, E_PHNUM, E_SHENTSIZE, E_SHNUM = 54, 56, 58, 60

SECAAS = Ed25519PrivateKey.generate()


def _u16(data: bytes | bytearray, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u64(data: bytes | bytearray, at: int) -> int:
    return int(struct.unpack_from("<Q", data, at)[0])


def program_header(data: bytearray, p_type: int) -> int:
    """File offset of the first program header of `p_type`."""
    at, size = _u64(data, E_PHOFF), _u16(data, E_PHENTSIZE)
    for i in range(_u16(data, E_PHNUM)):
        if struct.unpack_from("<I", data, at + i * size)[0] == p_type:
            return at + i * size
    raise LookupError(p_type)


def sections(path: Path) -> dict[str, Section]:
    with opened(path) as (_, found):
        return found


def section_header(path: Path, data: bytearray, name: str) -> int:
    """File offset of section `name`'s header."""
    at, size = _u64(data, E_SHOFF), _u16(data, E_SHENTSIZE)
    return at + list(sections(path)).index(name) * size


def flip_in_section(name: str) -> Callable[[Path, bytearray], None]:
    def flip(path: Path, data: bytearray) -> None:
        section = sections(path)[name]
        data[section.offset + section.size // 2] ^= 0x01

    return flip


def change_entry(_: Path, data: bytearray) -> None:
    struct.pack_into("<Q", data, E_ENTRY, _u64(data, E_ENTRY) + 16)


def change_header_flags(_: Path, data: bytearray) -> None:
    data[9] ^= 0x01  # e_ident padding, ignored by the loader but part of the header


def executable_data(_: Path, data: bytearray) -> None:
    """Make the writable PT_LOAD segment executable too."""
    at, size = _u64(data, E_PHOFF), _u16(data, E_PHENTSIZE)
    for header in (at + i * size for i in range(_u16(data, E_PHNUM))):
        p_type, flags = struct.unpack_from("<II", data, header)
        if p_type == PT_LOAD and flags & PF_W:
            struct.pack_into("<I", data, header + 4, flags | PF_X)
            return
    raise LookupError("no writable PT_LOAD")


def clear_nx(_: Path, data: bytearray) -> None:
    stack = program_header(data, PT_GNU_STACK)
    struct.pack_into("<I", data, stack + 4, struct.unpack_from("<I", data, stack + 4)[0] | PF_X)


def append_bytes(_: Path, data: bytearray) -> None:
    data.extend(b"\xcc" * 64)


def section_redirect(path: Path, data: bytearray) -> None:
    """Keep an untouched copy of .text at the end of the file, point .text's section
    header at it, then patch the real .text (the bytes the PT_LOAD segment maps)."""
    text = sections(path)[".text"]
    header = section_header(path, data, ".text")
    copy_at = len(data)
    data.extend(data[text.offset : text.offset + text.size])
    struct.pack_into("<Q", data, header + 24, copy_at)  # sh_offset
    data[text.offset + 16] ^= 0xFF


ATTACKS: dict[str, Callable[[Path, bytearray], None]] = {
    "header": change_header_flags,
    "e_entry": change_entry,
    "program headers": executable_data,
    "cleared NX": clear_nx,
    ".data": flip_in_section(".data"),
    ".data.rel.ro": flip_in_section(".data.rel.ro"),
    ".init_array": flip_in_section(".init_array"),
    ".dynamic": flip_in_section(".dynamic"),
    ".got": flip_in_section(".got"),
    "appended bytes": append_bytes,
    "section-header redirect": section_redirect,
}


@pytest.fixture
def wrapped(ls_copy: Path) -> tuple[Path, ReferenceManifest]:
    return ls_copy, wrap(ls_copy, SECAAS)


def test_the_genuine_binary_verifies(wrapped: tuple[Path, ReferenceManifest]) -> None:
    path, manifest = wrapped
    assert verify(path, manifest, SECAAS.public_key()).ok


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_changed_image_fails_verify(wrapped: tuple[Path, ReferenceManifest], attack: str) -> None:
    path, manifest = wrapped
    data = bytearray(path.read_bytes())
    ATTACKS[attack](path, data)
    path.write_bytes(bytes(data))
    result = verify(path, manifest, SECAAS.public_key())
    assert not result.ok, attack


def test_the_redirect_is_named_as_a_header_spoof(wrapped: tuple[Path, ReferenceManifest]) -> None:
    path, manifest = wrapped
    data = bytearray(path.read_bytes())
    section_redirect(path, data)
    path.write_bytes(bytes(data))
    problems = verify(path, manifest, SECAAS.public_key()).problems()
    assert any("spoof" in p and ".text" in p for p in problems), problems
    assert any(p.startswith("changed elf:load@") for p in problems), problems
    assert "changed .text" not in problems  # the section digest alone is fooled
    with pytest.raises(ArtifactError, match="spoof"):
        wrap(path, SECAAS)  # SECaaS refuses to sign such an image


def test_nx_cleared_shows_in_the_hardening_report(ls_copy: Path) -> None:
    data = bytearray(ls_copy.read_bytes())
    clear_nx(ls_copy, data)
    ls_copy.write_bytes(bytes(data))
    manifest = wrap(ls_copy, SECAAS)
    assert manifest.hardening is not None and not manifest.hardening.nx


def test_a_manifest_signed_by_anyone_else_is_refused(
    wrapped: tuple[Path, ReferenceManifest],
) -> None:
    path, _ = wrapped
    data = bytearray(path.read_bytes())
    change_entry(path, data)
    path.write_bytes(bytes(data))
    mallory = wrap(path, Ed25519PrivateKey.generate())  # a valid signature, wrong signer
    assert verify(path, mallory, SECAAS.public_key()).problems() == ["bad signature"]


def test_an_unsigned_manifest_is_refused(wrapped: tuple[Path, ReferenceManifest]) -> None:
    path, manifest = wrapped
    unsigned = manifest.model_copy(update={"signature": None, "public_key": None})
    assert verify(path, unsigned, SECAAS.public_key()).problems() == ["bad signature"]


def test_secmas_verify_needs_a_trusted_key(
    ls_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    runner = CliRunner()
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    mallory = tmp_path / "mallory.pem"
    save_private_key(Ed25519PrivateKey.generate(), mallory)
    evil = tmp_path / "evil"
    shutil.copyfile(ls_copy, evil)
    data = bytearray(evil.read_bytes())
    change_entry(evil, data)
    evil.write_bytes(bytes(data))
    assert (
        runner.invoke(app, ["wrap", str(evil), "--key", str(mallory), "-o", "m.json"]).exit_code
        == 0
    )
    # No SECaaS key on this host and none given: refused, not trusted by default.
    nobody = runner.invoke(app, ["verify", str(evil), "m.json"])
    assert nobody.exit_code == 2 and "trusted key" in nobody.output
    # With the host's SECaaS key (made by an honest wrap), Mallory's signature is refused.
    assert runner.invoke(app, ["wrap", str(ls_copy), "-o", "genuine.json"]).exit_code == 0
    refused = runner.invoke(app, ["verify", str(evil), "m.json"])
    assert refused.exit_code == 1 and "bad signature" in refused.output
    assert runner.invoke(app, ["verify", str(ls_copy), "genuine.json"]).exit_code == 0
