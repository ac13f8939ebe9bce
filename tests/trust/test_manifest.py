"""Reference manifests: signing, saving, loading, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.elf import measure_elf
from secmas.trust.hardening import hardening_report
from secmas.trust.manifest import (
    FORMAT,
    InterpreterBuild,
    ManifestError,
    ReferenceManifest,
    interpreter_mismatch,
    sign,
    verify_signature,
)


@pytest.fixture
def manifest(ls_copy: Path, signer: Ed25519PrivateKey) -> ReferenceManifest:
    measured = measure_elf(ls_copy)
    unsigned = ReferenceManifest(
        kind="elf",
        image="ls",
        version="9.1",
        entries=measured.digests,
        root=measured.root,
        hardening=hardening_report(ls_copy),
    )
    return sign(unsigned, signer)


def test_signed_manifest_verifies_under_its_key_only(
    manifest: ReferenceManifest, signer: Ed25519PrivateKey
) -> None:
    assert manifest.format == FORMAT and manifest.created.endswith("+00:00")
    assert verify_signature(manifest)
    assert verify_signature(manifest, signer.public_key())
    assert not verify_signature(manifest, Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"version": "9.2"},
        {"root": "0" * 64},
        {"entries": {".text": "1" * 64}},
        {"signature": "2" * 128},
        {"public_key": Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()},
        {"signature": None},
    ],
)
def test_any_change_breaks_the_signature(manifest: ReferenceManifest, change: dict) -> None:
    assert not verify_signature(manifest.model_copy(update=change))


def test_save_and_load_round_trip(manifest: ReferenceManifest, tmp_path: Path) -> None:
    path = tmp_path / "ls.manifest.json"
    manifest.save(path)
    loaded = ReferenceManifest.load(path)
    assert loaded == manifest and verify_signature(loaded)
    assert loaded.hardening == manifest.hardening


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b"[" * 100_000, "nested more than 32 levels"),
        (b'{"a": "[[[[' + b"[" * 40 + b'", "b": {"c": [1]}}', "field format: missing"),
        (b"[]", "expected a JSON object"),
        (b"{}", "field format: missing"),
        (b'{"format": "other/1"}', "not a secmas manifest"),
        (b'{"format": "secmas.manifest/2"}', "unsupported manifest version '2'"),
        (b'{"format": "secmas.manifest/1", "kind": "pdf"}', "field kind"),
    ],
)
def test_load_errors_name_the_file_and_the_field(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=message) as error:
        ReferenceManifest.load(path)
    assert str(path) in str(error.value)


def test_bad_digest_and_time_are_named(manifest: ReferenceManifest, tmp_path: Path) -> None:
    data = json.loads(manifest.model_dump_json())
    data["entries"][".text"] = "xyz"
    data["created"] = "2026-01-01T00:00:00+02:00"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError) as error:
        ReferenceManifest.load(path)
    assert "field entries['.text']" in str(error.value)
    assert "field created" in str(error.value) and "not in UTC" in str(error.value)


def test_missing_file_and_hardening_rule(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        ReferenceManifest.load(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="hardening report"):
        ReferenceManifest(kind="elf", image="x", version="1", entries={}, root="0" * 64)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
manifest_like = st.fixed_dictionaries(
    {"format": st.just(FORMAT)},
    optional={
        "kind": st.sampled_from(["elf", "python", "x"]) | json_values,
        "image": json_values,
        "version": json_values,
        "created": st.just("2026-01-01T00:00:00+00:00") | json_values,
        "entries": st.dictionaries(st.text(max_size=8), st.just("a" * 64) | json_values),
        "root": st.just("b" * 64) | json_values,
        "hardening": json_values,
        "public_key": json_values,
        "signature": json_values,
    },
)


@given(content=st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values))
def test_loading_garbage_only_raises_manifest_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError):
        ReferenceManifest.load(path)


@given(data=manifest_like)
def test_near_manifests_load_or_raise_manifest_error(data: dict) -> None:
    try:
        loaded = ReferenceManifest.parse(json.dumps(data))
    except ManifestError:
        return
    assert not verify_signature(loaded)  # nothing random is validly signed


def test_a_manifest_without_a_build_signs_as_before_the_field(
    manifest: ReferenceManifest,
) -> None:
    """Manifests signed before builds were recorded keep verifying, and bind no build."""
    assert "interpreter" not in json.loads(manifest.signed_bytes())
    assert interpreter_mismatch(manifest) is None


def test_only_a_python_manifest_names_a_build(manifest: ReferenceManifest) -> None:
    data = manifest.model_dump(mode="json") | {
        "interpreter": InterpreterBuild.running().model_dump()
    }
    with pytest.raises(ManifestError, match="only a Python manifest names an interpreter build"):
        ReferenceManifest.parse(json.dumps(data))


def test_the_build_round_trips_and_names_itself() -> None:
    build = InterpreterBuild.running()
    assert InterpreterBuild.model_validate_json(build.model_dump_json()) == build
    assert build.version in str(build) and build.magic in str(build)
